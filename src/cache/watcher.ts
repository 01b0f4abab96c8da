import type { Backend, Watch, WatchEvent } from "../backend/backend.js";
import { type Clock, systemClock, type Timer } from "../model/clock.js";
import type { AnyKind } from "../model/kind.js";
import type { LabelSelectorInput } from "../model/selector.js";
import { JitteredBackoff } from "./backoff.js";
import {
  type CacheEvent,
  step,
  type WatcherEffect,
  type WatcherInput,
  type WatcherState,
} from "./watcher-state.js";

/** What a {@link Watcher} reports about itself, for logs and health checks. */
export interface WatcherObserver {
  /** A list or watch failed; the watcher retries after `retryInMs` (0: at once, relisting). */
  failed?(error: unknown, retryInMs: number): void;
  /** Any sign of life from the backend: a page, an event, a bookmark. */
  alive?(): void;
}

/** Options of {@link Watcher}. */
export interface WatcherOptions {
  readonly namespace?: string;
  readonly labelSelector?: LabelSelectorInput;
  /** Only objects matching it, e.g. `status.phase=Running` (what the store supports). */
  readonly fieldSelector?: string;
  /** Page size of lists. @default 500 */
  readonly pageSize?: number;
  /**
   * A watch silent for this long (no event, no bookmark) is restarted from its last revision.
   * Bookmarks are asked for at a third of it. @default 180_000
   */
  readonly idleTimeoutMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default a JitteredBackoff from 0.8 s to 30 s, reset after 2 quiet minutes */
  readonly backoff?: { next(): number };
  readonly observer?: WatcherObserver;
}

/**
 * Runs the list+watch state machine of {@link step} against a Backend, feeding `emit` with
 * what the cache must do: one full list (`replace`), then every change. Relists on Gone, backs
 * off (jittered, 0.8 s → 30 s) on other errors, re-watches a stream that ends or goes silent.
 *
 * Guarantees: after a `replace`, every change is emitted once, in revision order, until the
 * next `replace`; a `replace` is emitted only for a complete, consistent list.
 */
export class Watcher {
  private state: WatcherState = { phase: "idle" };
  private readonly inbox: { input: WatcherInput; generation: number }[] = [];
  private wake: (() => void) | undefined;
  private watch: Watch | undefined;
  /** Inputs from I/O started before the last stop are stale: their generation is older. */
  private generation = 0;
  private quietTimer: Timer | undefined;
  /** When the watch last said anything, on the clock (restarting a watch resets it). */
  private lastHeard = 0;
  /** When the store last said anything — a page, an event, a bookmark — for health checks. */
  private lastSign: number | undefined;
  private backoffTimer: Timer | undefined;
  /** The signal of the running `run`; a step is under way while `stepping`. */
  private signal: AbortSignal | undefined;
  private stepping = false;
  private readonly clock: Clock;
  private readonly backoff: { next(): number };
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly backend: Backend,
    private readonly kind: AnyKind,
    private readonly emit: (event: CacheEvent) => void,
    private readonly options: WatcherOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoff ?? new JitteredBackoff({ clock: this.clock });
    this.idleTimeoutMs = options.idleTimeoutMs ?? 180_000;
    if (!(this.idleTimeoutMs > 0))
      throw new RangeError(`idleTimeoutMs (${this.idleTimeoutMs}) must be positive`);
  }

  /** The current phase, for health checks and tests. */
  get phase(): WatcherState["phase"] {
    return this.state.phase;
  }

  /**
   * How long the backend has said nothing to this watcher (no page, event or bookmark), in ms;
   * 0 before it started. A healthy watcher hears something at least every `idleTimeoutMs`: it
   * asks for bookmarks at a third of it and restarts a stream silent that long.
   */
  silentFor(): number {
    return this.lastSign === undefined ? 0 : this.clock.now() - this.lastSign;
  }

  /** The silence this watcher is meant never to reach: its idle timeout. */
  get watchdogMs(): number {
    return this.idleTimeoutMs;
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    this.signal = signal;
    this.lastSign = this.clock.now();
    try {
      this.push({ type: "start" }, this.generation);
      while (!signal.aborted) {
        const next = this.inbox.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          this.wake = undefined;
          continue;
        }
        this.handle(next.input, next.generation, signal);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.signal = undefined;
      this.stopWatch();
      this.backoffTimer?.cancel();
    }
  }

  private handle(input: WatcherInput, generation: number, signal: AbortSignal): void {
    if (generation !== this.generation) return;
    this.stepping = true;
    try {
      const result = step(this.state, input);
      this.state = result.state;
      for (const effect of result.effects) this.carryOut(effect, signal);
    } finally {
      this.stepping = false;
    }
  }

  /**
   * Hands an input to the state machine. When the run loop is idle (waiting, nothing queued) and
   * no step is under way, the input is handled at once — a busy watch then costs no wake-up per
   * event; otherwise it is queued for the run loop, so inputs are always handled one at a time,
   * in order.
   */
  private push(input: WatcherInput, generation: number): void {
    const signal = this.signal;
    if (this.wake !== undefined && !this.stepping && signal !== undefined && !signal.aborted) {
      this.handle(input, generation, signal);
      return;
    }
    this.inbox.push({ input, generation });
    this.wake?.();
  }

  private carryOut(effect: WatcherEffect, signal: AbortSignal): void {
    const generation = this.generation;
    switch (effect.type) {
      case "emit":
        this.emit(effect.event);
        return;
      case "list":
        this.backend
          .list(this.kind, {
            namespace: this.options.namespace,
            labelSelector: this.options.labelSelector,
            fieldSelector: this.options.fieldSelector,
            limit: this.options.pageSize ?? 500,
            continue: effect.continue,
            readAhead: true,
          })
          .then(
            (page) => {
              this.lastSign = this.clock.now();
              this.options.observer?.alive?.();
              this.push({ type: "page", page }, generation);
            },
            (error) => this.push({ type: "listFailed", error }, generation),
          );
        return;
      case "watch":
        this.startWatch(effect.resourceVersion, signal);
        return;
      case "stopWatch":
        this.stopWatch();
        return;
      case "backoff": {
        const ms = this.backoff.next();
        this.options.observer?.failed?.(effect.error, ms);
        this.backoffTimer = this.clock.setTimer(ms, () =>
          this.push({ type: "backoffElapsed" }, this.generation),
        );
        return;
      }
    }
  }

  private startWatch(resourceVersion: string, signal: AbortSignal): void {
    this.stopWatch();
    const generation = ++this.generation;
    const watch = this.backend.watch(this.kind, {
      resourceVersion,
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
      allowBookmarks: true,
      bookmarkIntervalMs: this.idleTimeoutMs / 3,
      signal,
    });
    this.watch = watch;
    this.armQuietTimer(generation);
    void (async () => {
      try {
        for await (const first of watch) {
          // Then whatever else is at hand, without a promise per event.
          for (
            let event: WatchEvent | undefined = first;
            event !== undefined;
            event = watch.poll?.()
          ) {
            if (generation !== this.generation) return;
            this.push({ type: "event", event }, generation);
          }
          this.options.observer?.alive?.();
          this.lastHeard = this.clock.now();
          this.lastSign = this.lastHeard;
        }
        this.push({ type: "watchEnded" }, generation);
      } catch (error) {
        this.push({ type: "watchFailed", error }, generation);
      }
    })();
  }

  /**
   * One timer per watch, not one per event: each event only notes the time, and the timer, when
   * it fires, waits out the rest of the quiet period if something was heard meanwhile.
   */
  private armQuietTimer(generation: number, delay = this.idleTimeoutMs): void {
    this.quietTimer?.cancel();
    if (delay === this.idleTimeoutMs) this.lastHeard = this.clock.now();
    const armedFor = this.lastHeard;
    this.quietTimer = this.clock.setTimer(delay, () => {
      // Quiet unless something was heard since it was armed. (Not by comparing times alone:
      // with fractional milliseconds `now - lastHeard` can fall short of the timeout by a
      // rounding error, and a fake clock would re-arm it at the same instant forever.)
      if (this.lastHeard === armedFor) {
        this.push({ type: "quiet" }, generation);
        return;
      }
      const quietFor = this.clock.now() - this.lastHeard;
      if (quietFor >= this.idleTimeoutMs) this.push({ type: "quiet" }, generation);
      else this.armQuietTimer(generation, Math.max(1, this.idleTimeoutMs - quietFor));
    });
  }

  private stopWatch(): void {
    this.quietTimer?.cancel();
    this.quietTimer = undefined;
    if (this.watch !== undefined) {
      const watch = this.watch;
      this.watch = undefined;
      // Inputs of the watch being stopped are stale from now on.
      this.generation++;
      watch.close();
    }
  }
}
