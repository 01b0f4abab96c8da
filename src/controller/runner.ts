/**
 * One running controller: its queue, the triggers, sources and resyncs that feed it, and its
 * workers. The Manager's term (term.ts) creates one per controller and owns the caches.
 *
 * A key goes: trigger → `WorkQueue.add` (its {@link KeyState} keeps why) → a worker takes it →
 * the latest cached object (or a source's item) → the finalizer protocol (finalizer.ts) and
 * `reconcile`, under a timeout (in-flight.ts) → the outcome table (outcome.ts) decides what the
 * queue does next.
 *
 * Guarantees: level-triggered (a key is reconciled with the latest object, never with the
 * change that triggered it); a key is never reconciled twice at once, also across terms (a
 * reconcile an earlier term abandoned holds its key until it ends); a key whose object is gone,
 * or whose shard another replica holds, is dropped when dequeued.
 */
import { randomUUID } from "node:crypto";
import type { StoredObject } from "../backend/backend.js";
import { Client } from "../backend/client.js";
import type { ControlPlane } from "../backend/control-plane.js";
import type { CacheChange, CacheReader } from "../cache/cache.js";
import type { WatchScope } from "../cache/scope.js";
import type { ScopedInformer } from "../cache/scoped-informer.js";
import type { BackoffEntry, InFlightEntry, KeyView } from "../dashboard/types.js";
import type { Clock, Timer } from "../model/clock.js";
import { deepEqual } from "../model/json.js";
import { type AnyKind, groupOf, kindId, type ResourceOf } from "../model/kind.js";
import { keyString } from "../model/resource.js";
import type { Logger } from "../observability/logging.js";
import type {
  ControllerMetrics,
  ReconcileResult as ResultLabel,
} from "../observability/metrics.js";
import { endReconcileSpan, reconcileSpan, TracedBackend } from "../observability/tracing.js";
import { WorkQueue } from "../queue/work-queue.js";
import { type Action, TerminalError, toAction } from "./action.js";
import type { Controller, ReconcileReason, RunnerContext } from "./controller.js";
import { type EventRecorder, EventWriter } from "./events.js";
import { withFinalizer } from "./finalizer.js";
import { InFlight, type Reconcile } from "./in-flight.js";
import type { ReconcileJournal } from "./journal.js";
import { type Again, logLine, outcome, type Settled } from "./outcome.js";
import type { Feed } from "./source.js";

/** What a runner needs from its manager. */
export interface RunnerDependencies {
  readonly plane: ControlPlane;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /** The shared informer of a kind in a scope (`undefined`: every object of it). */
  informer(kind: AnyKind, scope: WatchScope | undefined): ScopedInformer;
  /**
   * With sharding: whether this replica reconciles `key` now. Keys it does not are dropped when
   * dequeued (their shard's holder reconciles them). @default every key
   */
  readonly owns?: (key: string) => boolean;
  /**
   * A reconcile of `key` that an earlier runner of this controller abandoned (a term that ended
   * with it still running), while it runs: this runner waits for it before reconciling the key,
   * so that one process never reconciles a key twice at once, across terms too.
   */
  readonly lingering?: (key: string) => Promise<void> | undefined;
  /** Where its reconciles are recorded, for dashboards. @default nowhere */
  readonly journal?: ReconcileJournal;
}

const noEvents: EventRecorder = { record: async () => {} };

/** The triggers `debounceMs` delays: changes seen on the watches, not requeues or resyncs. */
const debounced: ReadonlySet<ReconcileReason> = new Set(["added", "changed", "owned", "watched"]);

/** Whether a change of the primary object is worth a reconcile: anything but status alone. */
export function isMeaningfulChange(previous: StoredObject, next: StoredObject): boolean {
  const a = previous.metadata;
  const b = next.metadata;
  const same = (x: unknown, y: unknown) => x === y || deepEqual(x, y);
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    !same(a.labels, b.labels) ||
    !same(a.annotations, b.annotations) ||
    !same(a.finalizers, b.finalizers) ||
    !same(a.ownerReferences, b.ownerReferences)
  );
}

/**
 * What the runner keeps of one key, from a trigger to the end of its reconcile; dropped once it
 * holds nothing.
 */
class KeyState {
  /** Why it waits: the first trigger since its reconcile last began; later ones fold into it. */
  reason: ReconcileReason | undefined = undefined;
  /** Why it was scheduled for later: reported only if nothing else triggers it first. */
  scheduled: "requeue" | "retry" | undefined = undefined;
  /** Its last reconcile ended in a Conflict retried at once: the next one backs off. */
  conflicted = false;
  /** A source said it is gone: its next reconcile is its last (reason "gone"). */
  gone = false;
  /** For a controller on sources alone: whether a source gave it, and its latest item. */
  known = false;
  item: unknown = undefined;

  /** The reason of the reconcile that begins now; it clears the reasons that waited. */
  take(): ReconcileReason {
    const reason = this.gone ? "gone" : (this.reason ?? this.scheduled ?? "requeue");
    this.reason = undefined;
    this.scheduled = undefined;
    return reason;
  }

  get idle(): boolean {
    return (
      this.reason === undefined &&
      this.scheduled === undefined &&
      !this.conflicted &&
      !this.gone &&
      !this.known
    );
  }
}

/** Runs one controller. */
export class ControllerRunner {
  readonly queue: WorkQueue<string>;
  /** The kinds whose caches the controller reads: its own, the owned and the watched. */
  readonly kinds: readonly AnyKind[];
  /** Its reconciles in flight, with their timeouts. */
  readonly inFlight: InFlight;
  private readonly keys = new Map<string, KeyState>();
  /** When a worker last took a key or a reconcile last settled (clock time). */
  private lastProgress = 0;
  private readonly client: Client<AnyKind> | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly log: Logger;
  /** Whether the logger takes debug lines (pino's `isLevelEnabled`): one check per reconcile. */
  private readonly debug: boolean;
  private readonly cache: CacheReader | undefined;
  private readonly events: EventWriter | undefined;
  private resyncTimer: Timer | undefined;
  private synced: Promise<void> | undefined;
  private markStopped: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => {
    this.markStopped = resolve;
  });
  private reconcileCount = 0;

  constructor(
    readonly controller: Controller,
    private readonly deps: RunnerDependencies,
  ) {
    const { kind } = controller;
    this.log = deps.log.child({
      controller: controller.name,
      ...(kind ? { kind: kind.kind } : {}),
    });
    const levels = this.log as Partial<{ isLevelEnabled(level: string): boolean }>;
    this.debug = levels.isLevelEnabled?.("debug") ?? true;
    this.queue = new WorkQueue<string>({
      clock: deps.clock,
      metrics: deps.metrics.queue,
      ...(controller.options.rateLimiter ? { rateLimiter: controller.options.rateLimiter } : {}),
    });
    this.inFlight = new InFlight(deps.clock);
    this.kinds = [
      ...(kind === undefined ? [] : [kind]),
      ...controller.owned,
      ...controller.related.map((r) => r.kind),
    ];
    if (kind !== undefined) {
      this.cache = deps.informer(kind, controller.scopeOf(kind)).cache;
      this.events = new EventWriter(
        deps.plane,
        controller.name,
        `${controller.name}-${randomUUID().slice(0, 8)}`,
        deps.clock,
        this.log,
      );
      // Its calls are spans, children of the reconcile's.
      this.client = new Client(new TracedBackend(deps.plane.backend), kind);
    }
  }

  /** Enqueues every key the controller knows of, now. */
  reconcileAll(): void {
    for (const key of this.knownKeys()) this.enqueue(key, "manual");
  }

  /** Enqueues every known key that `matches` (a shard this replica just took). */
  reconcileMatching(matches: (key: string) => boolean): void {
    for (const key of this.knownKeys()) if (matches(key)) this.enqueue(key, "manual", true);
  }

  /** Subscribes to the caches and starts the sources. Call before the informers run. */
  start(sourceSignal: AbortSignal): void {
    const { controller, deps } = this;
    const subscribe = (
      kind: AnyKind,
      listener: (change: CacheChange<StoredObject>, fromList: boolean) => void,
    ) => this.unsubscribe.push(deps.informer(kind, controller.scopeOf(kind)).subscribe(listener));
    if (controller.kind !== undefined)
      subscribe(controller.kind, (change, fromList) => this.onPrimary(change, fromList));
    for (const child of controller.owned) subscribe(child, (change) => this.onOwned(change));
    for (const { kind, mapper } of controller.related)
      subscribe(kind, (change) => {
        let mapped: ReturnType<typeof mapper>;
        try {
          mapped = mapper(change.object);
        } catch (err) {
          this.log.error(
            { err, related: kind.kind, object: keyString(change.object.metadata) },
            "watches() mapper threw; ignoring this change",
          );
          return;
        }
        if (mapped === undefined) return;
        const keys =
          typeof mapped === "string" || !(Symbol.iterator in Object(mapped))
            ? [mapped as string]
            : (mapped as Iterable<string>);
        for (const key of keys)
          this.enqueue(typeof key === "string" ? key : keyString(key), "watched");
      });
    for (const source of controller.sources) {
      void source
        .run(this.feed(), sourceSignal)
        .catch((err) =>
          this.log.error({ err, source: source.name }, "source stopped with an error"),
        );
    }
    this.scheduleResync();
  }

  /** Resolves once the caches of every kind it reads have their first full list. */
  cachesSynced(): Promise<void> {
    this.synced ??= Promise.all(
      this.kinds.map((kind) =>
        this.deps.informer(kind, this.controller.scopeOf(kind)).cache.ready(),
      ),
    ).then(() => {});
    return this.synced;
  }

  /** Waits for the caches it reads, then runs the workers until the queue shuts down. */
  async runWorkers(): Promise<void> {
    const synced = await Promise.race([
      this.cachesSynced().then(() => true),
      this.stopped.then(() => false),
    ]);
    if (!synced) return;
    const workers = this.controller.options.concurrency ?? 1;
    this.lastProgress = this.deps.clock.now();
    this.log.info({ workers }, "caches synced; starting workers");
    await Promise.all(Array.from({ length: workers }, () => this.worker()));
  }

  /** Stops feeding: no resyncs, no cache-driven adds; sources stop through their signal. */
  stopTriggers(): void {
    this.markStopped();
    this.resyncTimer?.cancel();
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
  }

  /**
   * How long keys have waited with no worker making progress (none taking a key, none
   * finishing), in ms: 0 while the queue is empty or workers move. A pool whose every worker is
   * stuck in a reconcile that ignores its signal shows here.
   */
  stalledFor(): number {
    if (this.queue.length === 0 || this.lastProgress === 0) return 0;
    return this.deps.clock.now() - this.lastProgress;
  }

  /**
   * Enqueues `key` now, as asked by a person (reason `manual`; a retry's back-off is cut short);
   * a key already waiting for a worker stays as it is. False if no key like it is known.
   */
  requestReconcile(key: string): boolean {
    if (this.cache !== undefined ? this.cache.get(key) === undefined : !this.keys.get(key)?.known)
      return false;
    if (!this.queue.inspect(key).queued) this.enqueue(key, "manual");
    return true;
  }

  /** The queue and workers at a glance, for dashboards. */
  queueSummary(): { queued: number; inFlight: number; backingOff: number; scheduled: number } {
    let backingOff = 0;
    for (const [key] of this.queue.scheduledKeys())
      if (this.keys.get(key)?.scheduled === "retry") backingOff++;
    return {
      queued: this.queue.length,
      inFlight: this.inFlight.size,
      backingOff,
      scheduled: this.queue.delayed,
    };
  }

  /** Converts a time of the clock's monotonic scale to epoch milliseconds, for people. */
  private wallTime(): (monotonic: number) => number {
    const offset = this.deps.clock.wallNow() - this.deps.clock.now();
    return (monotonic) => monotonic + offset;
  }

  /** The keys backing off after errors, soonest retry first (at most `limit`). */
  backoff(limit = 200): BackoffEntry[] {
    const wall = this.wallTime();
    const entries: BackoffEntry[] = [];
    for (const [key, retryAt] of this.queue.scheduledKeys()) {
      if (this.keys.get(key)?.scheduled !== "retry") continue;
      const lastError = this.deps.journal?.lastError(key);
      entries.push({
        key,
        attempts: this.queue.retries(key),
        retryAt: wall(retryAt),
        ...(lastError === undefined ? {} : { lastError }),
      });
    }
    return entries.sort((a, b) => a.retryAt - b.retryAt).slice(0, limit);
  }

  /** The reconciles running now, oldest first. */
  running(): InFlightEntry[] {
    const wall = this.wallTime();
    return this.inFlight.list().map((entry) => ({
      key: entry.key,
      started: wall(entry.deadline - entry.timeoutMs),
      deadline: wall(entry.deadline),
      aborted: entry.aborted,
      abandoned: entry.abandoned,
    }));
  }

  /** Up to `limit` keys waiting for a worker, with the reason each waits. */
  waiting(limit = 100): { key: string; reason?: string }[] {
    return this.queue.waitingKeys(limit).map((key) => {
      const reason = this.keys.get(key)?.reason ?? this.keys.get(key)?.scheduled;
      return reason === undefined ? { key } : { key, reason };
    });
  }

  /** This controller's view of `key`: queued, running, scheduled, its next reason and history. */
  keyView(key: string): KeyView {
    const where = this.queue.inspect(key);
    const state = this.keys.get(key);
    const running = this.running().find((entry) => entry.key === key);
    const nextReason = state?.gone ? "gone" : (state?.reason ?? state?.scheduled);
    return {
      controller: this.controller.name,
      key,
      queued: where.queued,
      ...(running === undefined ? {} : { running }),
      ...(where.scheduledAt === undefined
        ? {}
        : {
            scheduled: {
              at: this.wallTime()(where.scheduledAt),
              retry: state?.scheduled === "retry",
              attempts: this.queue.retries(key),
            },
          }),
      ...(nextReason === undefined ? {} : { nextReason }),
      history: this.deps.journal?.history(key) ?? [],
    };
  }

  private knownKeys(): string[] {
    if (this.cache !== undefined) return [...this.cache.keys()];
    return [...this.keys].filter(([, state]) => state.known).map(([key]) => key);
  }

  private state(key: string): KeyState {
    let state = this.keys.get(key);
    if (state === undefined) {
      state = new KeyState();
      this.keys.set(key, state);
    }
    return state;
  }

  /** Drops `key`'s state if it holds nothing. */
  private release(key: string, state: KeyState): void {
    if (state.idle) this.keys.delete(key);
  }

  private feed(): Feed<unknown> {
    const standalone = this.controller.kind === undefined;
    const seen = (key: string, item: unknown) => {
      if (!standalone) {
        const state = this.keys.get(key);
        if (state !== undefined) state.gone = false;
        return;
      }
      const state = this.state(key);
      state.gone = false;
      state.known = true;
      state.item = item;
    };
    return {
      changed: (key, item) => {
        seen(key, item);
        this.enqueue(key, "source");
      },
      present: (key, item) => {
        seen(key, item);
        if (this.queue.ensure(key, { low: true })) this.state(key).reason ??= "source";
      },
      gone: (key) => {
        // One more reconcile, to clean up; a standalone controller keeps the last item for it.
        if (standalone && !this.keys.get(key)?.known) return;
        const state = this.state(key);
        state.gone = true;
        state.reason = "gone";
        this.queue.add(key);
      },
      clock: this.deps.clock,
      log: this.log,
    };
  }

  private enqueue(key: string, reason: ReconcileReason, low = false): void {
    this.state(key).reason ??= reason;
    const { debounceMs = 0 } = this.controller.options;
    if (debounceMs > 0 && !low && debounced.has(reason))
      this.queue.addDebounced(
        key,
        debounceMs,
        this.controller.options.debounceMaxWaitMs ?? 10 * debounceMs,
      );
    else this.queue.add(key, { low });
  }

  private onPrimary(change: CacheChange<StoredObject>, fromList: boolean): void {
    const key = keyString(change.object.metadata);
    switch (change.type) {
      case "added":
        this.enqueue(key, "added", fromList);
        return;
      case "updated":
        if (isMeaningfulChange(change.previous, change.object))
          this.enqueue(key, "changed", fromList);
        return;
      case "deleted":
        // Gone: nothing to reconcile. A key already queued finds no object and is skipped.
        return;
    }
  }

  private onOwned(change: CacheChange<StoredObject>): void {
    const primary = this.controller.kind!;
    const owners = new Set<string>();
    const collect = (object: StoredObject) => {
      for (const ref of object.metadata.ownerReferences ?? []) {
        if (
          ref.controller !== true ||
          ref.kind !== primary.kind ||
          groupOf(ref.apiVersion) !== primary.group
        )
          continue;
        owners.add(
          primary.scope === "Namespaced" ? `${object.metadata.namespace}/${ref.name}` : ref.name,
        );
      }
    };
    collect(change.object);
    if (change.type === "updated") collect(change.previous);
    for (const key of owners) this.enqueue(key, "owned");
  }

  private scheduleResync(): void {
    const every = this.controller.options.resyncMs ?? 300_000;
    if (every === 0 || this.cache === undefined) return;
    const random = this.deps.clock.random?.() ?? Math.random();
    const jittered = every * (0.9 + random * 0.2);
    this.resyncTimer = this.deps.clock.setTimer(jittered, () => {
      for (const key of this.cache!.keys()) this.enqueue(key, "resync", true);
      this.scheduleResync();
    });
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.lastProgress = this.deps.clock.now();
      this.deps.metrics.activeWorkers(1);
      try {
        await this.process(key);
      } finally {
        this.deps.metrics.activeWorkers(-1);
      }
    }
  }

  /** Reconciles one key and handles its outcome. Never throws. */
  private async process(key: string): Promise<void> {
    const { controller, deps, queue } = this;
    const state = this.state(key);
    const reason = state.take();
    const target = this.cache !== undefined ? this.cache.get(key) : state.item;
    if (target === undefined || (deps.owns !== undefined && !deps.owns(key))) {
      // Gone since it was queued, or of a shard another replica holds: nothing to reconcile here.
      state.conflicted = false;
      this.release(key, state);
      queue.forget(key);
      queue.done(key);
      return;
    }
    const lingering = deps.lingering?.(key);
    if (lingering !== undefined) {
      // An earlier term's reconcile of this key still runs: this one comes after it.
      state.reason = reason;
      void lingering.then(() => queue.add(key));
      queue.done(key);
      return;
    }

    const timeoutMs = controller.options.reconcileTimeoutMs ?? 300_000;
    const started = deps.clock.now();
    const entry = this.inFlight.begin(key, timeoutMs);
    const context = this.contextFor(key, reason, target, entry);
    // One span per reconcile; calls through ctx.client run inside it, as its children.
    const span = reconcileSpan({
      controller: controller.name,
      kind: controller.kind === undefined ? undefined : kindId(controller.kind),
      key,
      reason,
    });
    const run = span.run(() => this.invoke(target, context));
    const end = (settled: Settled) => {
      this.inFlight.end(entry);
      this.lastProgress = deps.clock.now();
      const seconds = (deps.clock.now() - started) / 1000;
      const result = this.finish(key, state, settled, target, context);
      deps.metrics.reconciled(result, seconds);
      if (deps.journal !== undefined) {
        const uid = (target as Partial<StoredObject> | undefined)?.metadata?.uid;
        deps.journal.record({
          key,
          started: Math.round(deps.clock.wallNow() - seconds * 1000),
          ms: seconds * 1000,
          ...(uid === undefined || this.cache === undefined ? {} : { uid }),
          result,
          reason,
          ...("error" in settled ? { error: errorMessage(settled.error) } : {}),
        });
      }
      if (this.debug)
        this.log.debug({ key, reason, result, ms: Math.round(seconds * 1000) }, "reconciled");
      endReconcileSpan(span.span, result, "error" in settled ? settled.error : undefined);
      queue.done(key);
    };
    const settled = await entry.wait(run);
    if (settled !== "abandoned") {
      end(settled);
      return;
    }
    // It outlived its timeout and ignored its aborted signal: the worker moves on, and the key
    // stays busy (never reconciled twice at once) until the call settles; then its outcome
    // decides what comes next.
    this.log.error(
      { key, timeoutMs },
      "reconcile ignored its aborted signal and was abandoned; its key waits until it settles",
    );
    void run.then((late) => end("error" in late ? late : { error: new Error("timed out") }));
  }

  /** The typed context of one reconcile; its logger and event recorder are made on first use. */
  private contextFor(
    key: string,
    reason: ReconcileReason,
    target: unknown,
    entry: Reconcile,
  ): RunnerContext {
    const { controller, deps, events } = this;
    const reconcileId = (++this.reconcileCount).toString(36);
    let log: Logger | undefined;
    let recorder: EventRecorder | undefined;
    return {
      get signal() {
        return entry.signal;
      },
      key,
      reason,
      plane: deps.plane,
      get log() {
        log ??= deps.log.child({
          controller: controller.name,
          key,
          reconcileId,
          ...(controller.kind ? { kind: controller.kind.kind } : {}),
        });
        return log;
      },
      client: this.client,
      cache: this.cache,
      // Informers are not typed by kind; the kind's cache holds its objects.
      cacheOf: <C extends AnyKind>(kind: C) =>
        deps.informer(kind, controller.scopeOf(kind)).cache as CacheReader<ResourceOf<C>>,
      get events() {
        // Only a controller of a kind has an EventWriter, and its targets are stored objects.
        recorder ??= events?.about(target as StoredObject) ?? noEvents;
        return recorder;
      },
    };
  }

  private async invoke(target: unknown, context: RunnerContext): Promise<Settled> {
    const { options } = this.controller;
    const apply = async (): Promise<Action> => toAction(await options.reconcile(target, context));
    try {
      const finalizer = options.finalizer;
      const action =
        finalizer === undefined || this.client === undefined
          ? await apply()
          : await withFinalizer(finalizer, target as StoredObject, this.client, context, apply);
      return { action };
    } catch (error) {
      return { error: error === undefined ? new Error("reconcile threw undefined") : error };
    }
  }

  /** Applies the outcome table to `key`; returns the result label. */
  private finish(
    key: string,
    state: KeyState,
    settled: Settled,
    target: unknown,
    context: RunnerContext,
  ): ResultLabel {
    const { queue, deps } = this;
    const error = "error" in settled ? settled.error : undefined;
    let policy: Action | undefined;
    if (error !== undefined) {
      deps.metrics.errored();
      if (!(error instanceof TerminalError))
        try {
          policy = this.controller.options.errorPolicy?.(error, target, context);
        } catch (policyError) {
          context.log.error({ err: policyError }, "errorPolicy threw; retrying with backoff");
        }
    }
    const next = outcome({ settled, policy, conflicted: state.conflicted });
    if (next.forget) queue.forget(key);
    const backoffMs = this.schedule(key, state, next.again);
    state.conflicted = next.conflicted;
    if (next.finished && state.gone) {
      // Its cleanup is done: forget a gone key (unless a source brought it back meanwhile).
      state.gone = false;
      state.known = false;
      state.item = undefined;
    }
    this.release(key, state);
    if (next.log !== undefined) {
      const line = logLine(next, error, backoffMs, queue.retries(key))!;
      context.log[line.level](line.fields, line.message);
    }
    return next.result;
  }

  /** Schedules `key`'s next reconcile; returns the backoff's delay, if it backs off. */
  private schedule(key: string, state: KeyState, again: Again): number {
    switch (again.at) {
      case "trigger":
        return 0;
      case "now":
        state.scheduled = again.reason;
        this.queue.add(key);
        return 0;
      case "after":
        state.scheduled = again.reason;
        this.queue.addAfter(key, again.ms);
        return 0;
      case "backoff":
        state.scheduled = again.reason;
        return this.queue.addRateLimited(key);
    }
  }
}

/** How much of an error's message a journal keeps: enough to read, bounded whatever is thrown. */
const MAX_ERROR_CHARS = 2_048;

/** An error's message for people: its `message`, or what it is when it has none; cut at 2 KiB. */
function errorMessage(error: unknown): string {
  let message: string;
  try {
    message =
      error instanceof Error
        ? error.message || error.name
        : typeof error === "string"
          ? error
          : String(error);
  } catch {
    message = "an error that cannot be shown as text";
  }
  return message.length <= MAX_ERROR_CHARS ? message : `${message.slice(0, MAX_ERROR_CHARS)}…`;
}
