/**
 * The reconciles a runner has in flight, and their timeouts: one timer for all of them.
 *
 * Guarantees:
 * - A reconcile past its timeout gets its signal aborted.
 * - One whose signal was aborted (its timeout, a shutdown past its deadline, a lost Lease or
 *   shard) and that ignores it is *abandoned* {@link abandonAfterMs} later: its worker stops
 *   waiting for it. It stays in flight (and its key busy in the runner) until the call settles.
 *
 * Caveat: an abandoned reconcile may still write; nothing can stop a promise.
 */
import type { Clock, Timer } from "../model/clock.js";

/** How long after its signal aborts a reconcile that ignores it is abandoned. */
export const abandonAfterMs = 1_000;

/**
 * One reconcile in flight. Its AbortController is made only if the reconcile reads its signal:
 * most never do, and a controller is not free.
 */
export class Reconcile {
  private controller: AbortController | undefined;
  private reason: unknown;
  aborted = false;
  /** Its worker stopped waiting for it: it ignored its aborted signal. */
  abandoned = false;
  /** Set while its worker waits for it; called to stop waiting. */
  abandon: (() => void) | undefined;
  /** Resolves once the reconcile's call has settled, abandoned or not. */
  settled: Promise<void> = Promise.resolve();

  constructor(
    readonly key: string,
    readonly timeoutMs: number,
    readonly deadline: number,
    /** When its worker stops waiting for it, if it ignores its aborted signal. */
    public abandonAt: number,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  /** Waits for `call` to settle, or until the reconcile is abandoned. */
  wait<T>(call: Promise<T>): Promise<T | "abandoned"> {
    this.settled = call.then(() => {});
    return new Promise((resolve) => {
      this.abandon = () => resolve("abandoned");
      void call.then(resolve);
    });
  }
}

/** The reconciles of one runner in flight, oldest first. */
export class InFlight {
  private readonly entries = new Set<Reconcile>();
  /** Called whenever a reconcile stops holding up its worker: settled or abandoned. */
  private readonly listeners = new Set<() => void>();
  private timer: Timer | undefined;

  constructor(private readonly clock: Clock) {}

  /** Reconciles still running, abandoned ones included. */
  get size(): number {
    return this.entries.size;
  }

  /** A reconcile of `key` begins now, with `timeoutMs` to run. */
  begin(key: string, timeoutMs: number): Reconcile {
    const now = this.clock.now();
    const entry = new Reconcile(key, timeoutMs, now + timeoutMs, now + timeoutMs + abandonAfterMs);
    this.entries.add(entry);
    if (this.timer === undefined) this.arm(entry.deadline);
    return entry;
  }

  /** `entry`'s call settled. */
  end(entry: Reconcile): void {
    this.entries.delete(entry);
    this.notify();
  }

  /**
   * Aborts the signals of the reconciles whose key `matches` (shutdown past its deadline, a lost
   * Lease or shard), and abandons those that ignore it {@link abandonAfterMs} later, as a
   * timed-out reconcile is: workers stop waiting for them, so a shutdown never waits for a
   * reconcile's own timeout.
   */
  abort(reason: unknown, matches: (key: string) => boolean = () => true): void {
    const abandonAt = this.clock.now() + abandonAfterMs;
    for (const entry of this.entries) {
      if (!matches(entry.key)) continue;
      entry.abort(reason);
      entry.abandonAt = Math.min(entry.abandonAt, abandonAt);
    }
    this.timer?.cancel();
    this.sweep();
  }

  /**
   * Aborts the reconciles whose key `matches` (a shard this replica gives up), and resolves once
   * each has settled or, ignoring its signal, was abandoned a second later — so that a shard is
   * never held forever by a reconcile that does not stop.
   */
  async settle(matches: (key: string) => boolean, reason: unknown): Promise<void> {
    const busy = () => [...this.entries].some((entry) => !entry.abandoned && matches(entry.key));
    this.abort(reason, matches);
    while (busy())
      await new Promise<void>((resolve) => {
        const listener = () => {
          this.listeners.delete(listener);
          resolve();
        };
        this.listeners.add(listener);
      });
  }

  /** The reconciles running now, oldest first. */
  list(): Reconcile[] {
    return [...this.entries];
  }

  /** The reconciles still running, by key, each as the promise of its end. */
  stillRunning(): Map<string, Promise<void>> {
    return new Map([...this.entries].map((entry) => [entry.key, entry.settled]));
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private arm(at: number): void {
    this.timer = this.clock.setTimer(at - this.clock.now(), () => this.sweep());
  }

  /** Aborts the late, abandons the stuck, and arms the timer for the next deadline. */
  private sweep(): void {
    this.timer = undefined;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.entries) {
      if (!entry.aborted) {
        if (entry.deadline <= now)
          entry.abort(new Error(`reconcile of ${entry.key} timed out after ${entry.timeoutMs} ms`));
        else next = Math.min(next, entry.deadline);
      }
      if (entry.aborted && entry.abandon !== undefined) {
        if (entry.abandonAt <= now) {
          const abandon = entry.abandon;
          entry.abandon = undefined;
          entry.abandoned = true;
          abandon();
          this.notify();
        } else next = Math.min(next, entry.abandonAt);
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}
