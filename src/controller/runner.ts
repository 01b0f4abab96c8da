/**
 * One running controller: its queue, the triggers that feed it, its workers, and the handling
 * of every reconcile's outcome. The Manager creates one per controller and owns the caches.
 *
 * ## Outcomes of a reconcile
 * | outcome                         | result label    | next                                      |
 * |---------------------------------|-----------------|-------------------------------------------|
 * | `done()` or nothing             | `success`       | forget backoff; wait for the next trigger |
 * | `requeueAfter(ms)`              | `requeue_after` | forget backoff; reconcile again in `ms`   |
 * | throws `TerminalError`          | `error`         | forget backoff; wait for the next trigger |
 * | throws a `Conflict` (no policy) | `error`         | logged at info; at once, then backoff     |
 * | throws anything else            | `error`         | `errorPolicy`'s action, else backoff retry |
 * | returns something else          | `error`         | as a thrown error (a `TypeError`)          |
 * | outlives its timeout            | `error`         | signal aborted; key retried once it settles |
 *
 * An error overrides a requested requeue: the retry comes from the error path. A `Conflict`
 * (the object changed since it was read) is routine: it is retried at once, outside the backoff,
 * and only a second conflict in a row backs off. Every retry's log line says when it comes.
 */
import { randomUUID } from "node:crypto";
import type { Span } from "@opentelemetry/api";
import type { StoredObject } from "../backend/backend.js";
import { Client } from "../backend/client.js";
import type { ControlPlane } from "../backend/control-plane.js";
import type { CacheChange, CacheReader } from "../cache/cache.js";
import type { Informer } from "../cache/informer.js";
import { ApiError } from "../model/api-error.js";
import { deepEqual } from "../model/json.js";
import { type AnyKind, groupOf, kindId } from "../model/kind.js";
import { keyString } from "../model/resource.js";
import type { Logger } from "../observability/logging.js";
import type {
  ControllerMetrics,
  ReconcileResult as ResultLabel,
} from "../observability/metrics.js";
import { endReconcileSpan, reconcileSpan, TracedBackend } from "../observability/tracing.js";
import type { Clock, Timer } from "../queue/clock.js";
import { WorkQueue } from "../queue/work-queue.js";
import { type Action, TerminalError, toAction } from "./action.js";
import type { Controller, ReconcileReason } from "./controller.js";
import { type EventRecorder, EventWriter } from "./events.js";
import type { Feed } from "./source.js";

/** What a runner needs from its manager. */
export interface RunnerDependencies {
  readonly plane: ControlPlane;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /** The shared informer of a kind. */
  informer(kind: AnyKind): Informer;
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
}

const noEvents: EventRecorder = { record: async () => {} };

/** How long after its signal aborts a reconcile that ignores it is abandoned. */
export const abandonAfterMs = 1_000;

/**
 * One reconcile in flight. Its AbortController is made only if the reconcile reads its signal:
 * most never do, and a controller is not free.
 */
class InFlight {
  private controller: AbortController | undefined;
  private reason: unknown;
  aborted = false;
  /** The worker stopped waiting for it: it ignored its aborted signal. */
  abandoned = false;
  /** Set while the worker waits for the reconcile; called to stop waiting. */
  abandon: (() => void) | undefined;
  /** Resolves once the reconcile's call has settled, abandoned or not. */
  settled: Promise<void> = Promise.resolve();

  constructor(
    readonly deadline: number,
    /** When the worker stops waiting for it, if it ignores its aborted signal. */
    public abandonAt: number,
    readonly key: string,
    readonly timeoutMs: number,
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
}

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

/** Runs one controller. */
export class ControllerRunner {
  readonly queue: WorkQueue<string>;
  private readonly reasons = new Map<string, ReconcileReason>();
  /** Why a key scheduled for later was scheduled: reported only if nothing else triggers it first. */
  private readonly scheduledReasons = new Map<string, "requeue" | "retry">();
  /** Keys whose last reconcile ended in a Conflict retried at once: the next one backs off. */
  private readonly conflicted = new Set<string>();
  /** Keys a source said are gone, due their last reconcile (reason "gone"). */
  private readonly gone = new Set<string>();
  /** For controllers on sources alone: the latest item of each key. */
  private readonly items = new Map<string, unknown>();
  /** Reconciles in flight, oldest first. */
  private readonly inFlight = new Set<InFlight>();
  /** When a worker last took a key or a reconcile last settled (clock time). */
  private lastProgress = 0;
  /** Called whenever a reconcile in flight settles. */
  private readonly settledListeners = new Set<() => void>();
  private sweepTimer: Timer | undefined;
  private readonly client: Client<AnyKind> | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly log: Logger;
  private readonly cache: CacheReader | undefined;
  private readonly events: EventWriter | undefined;
  private resyncTimer: Timer | undefined;
  private markStopped: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => {
    this.markStopped = resolve;
  });
  private reconcileCount = 0;

  constructor(
    readonly controller: Controller,
    private readonly deps: RunnerDependencies,
  ) {
    this.log = deps.log.child({
      controller: controller.name,
      ...(controller.kind ? { kind: controller.kind.kind } : {}),
    });
    this.queue = new WorkQueue<string>({
      clock: deps.clock,
      metrics: deps.metrics.queue,
      ...(controller.options.rateLimiter ? { rateLimiter: controller.options.rateLimiter } : {}),
    });
    this.cache = controller.kind === undefined ? undefined : deps.informer(controller.kind).cache;
    if (controller.kind !== undefined) {
      this.events = new EventWriter(
        deps.plane,
        controller.name,
        `${controller.name}-${randomUUID().slice(0, 8)}`,
        deps.clock,
        this.log,
      );
    }
    this.client =
      controller.kind === undefined
        ? undefined
        : new Client(new TracedBackend(deps.plane.backend), controller.kind);
  }

  /** Enqueues every key the controller knows of, now. */
  reconcileAll(): void {
    const keys = this.cache !== undefined ? [...this.cache.keys()] : [...this.items.keys()];
    for (const key of keys) this.enqueue(key, "manual");
  }

  /** Subscribes to the caches and starts the sources. Call before the informers run. */
  start(sourceSignal: AbortSignal): void {
    const { controller, deps } = this;
    if (controller.kind !== undefined) {
      const writer = deps.informer(controller.kind).writer;
      this.unsubscribe.push(
        writer.subscribe((change, fromList) => this.onPrimary(change, fromList)),
      );
    }
    for (const child of controller.owned) {
      const writer = deps.informer(child).writer;
      this.unsubscribe.push(writer.subscribe((change) => this.onOwned(change)));
    }
    for (const { kind, mapper } of controller.related) {
      const writer = deps.informer(kind).writer;
      this.unsubscribe.push(
        writer.subscribe((change) => {
          let mapped: ReturnType<typeof mapper>;
          try {
            mapped = mapper(change.object as never);
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
        }),
      );
    }
    for (const source of controller.sources) {
      void source
        .run(this.feed(), sourceSignal)
        .catch((err) =>
          this.log.error({ err, source: source.name }, "source stopped with an error"),
        );
    }
    this.scheduleResync();
  }

  /** Waits for the caches it reads, then runs the workers until the queue shuts down. */
  async runWorkers(): Promise<void> {
    const { controller, deps } = this;
    const kinds = [
      controller.kind,
      ...controller.owned,
      ...controller.related.map((r) => r.kind),
    ].filter((k) => k !== undefined);
    const synced = await Promise.race([
      Promise.all(kinds.map((kind) => deps.informer(kind).cache.ready())).then(() => true),
      this.stopped.then(() => false),
    ]);
    if (!synced) return;
    this.lastProgress = deps.clock.now();
    this.log.info(
      { workers: controller.options.concurrency ?? 1 },
      "caches synced; starting workers",
    );
    const workers = Array.from({ length: controller.options.concurrency ?? 1 }, () =>
      this.worker(),
    );
    await Promise.all(workers);
  }

  /** Stops feeding: no resyncs, no cache-driven adds; sources stop through their signal. */
  stopTriggers(): void {
    this.markStopped();
    this.resyncTimer?.cancel();
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
  }

  /**
   * Aborts the signals of every reconcile in flight (shutdown past its deadline, a lost Lease),
   * and abandons those that ignore it {@link abandonAfterMs} later, as a timed-out reconcile is:
   * workers stop waiting for them, so a shutdown never waits for a reconcile's own timeout. An
   * abandoned reconcile's key stays busy in this runner until the call settles.
   */
  abortInFlight(reason: unknown, matches: (key: string) => boolean = () => true): void {
    const abandonAt = this.deps.clock.now() + abandonAfterMs;
    for (const entry of this.inFlight) {
      if (!matches(entry.key)) continue;
      entry.abort(reason);
      entry.abandonAt = Math.min(entry.abandonAt, abandonAt);
    }
    this.sweepTimer?.cancel();
    this.sweep();
  }

  /** Reconciles still running, abandoned ones included. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** The reconciles still running, by key, each as the promise of its end. */
  stillRunning(): Map<string, Promise<void>> {
    return new Map([...this.inFlight].map((entry) => [entry.key, entry.settled]));
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

  /** Enqueues every known key that `matches` (a shard this replica just took). */
  reconcileMatching(matches: (key: string) => boolean): void {
    const keys = this.cache !== undefined ? [...this.cache.keys()] : [...this.items.keys()];
    for (const key of keys) if (matches(key)) this.enqueue(key, "manual", true);
  }

  /**
   * Aborts the reconciles in flight whose key `matches` (a shard this replica gives up), and
   * resolves once each has settled or, ignoring its signal, was abandoned a second later — so a
   * shard is never held forever by a reconcile that does not stop.
   */
  async settleMatching(matches: (key: string) => boolean, reason: unknown): Promise<void> {
    const busy = () => [...this.inFlight].some((entry) => !entry.abandoned && matches(entry.key));
    this.abortInFlight(reason, matches);
    while (busy())
      await new Promise<void>((resolve) => {
        const listener = () => {
          this.settledListeners.delete(listener);
          resolve();
        };
        this.settledListeners.add(listener);
      });
  }

  private feed(): Feed<unknown> {
    const standalone = this.controller.kind === undefined;
    return {
      changed: (key, item) => {
        this.gone.delete(key);
        if (standalone) this.items.set(key, item);
        this.enqueue(key, "source");
      },
      present: (key, item) => {
        this.gone.delete(key);
        if (standalone) this.items.set(key, item);
        if (this.queue.ensure(key, { low: true }) && !this.reasons.has(key))
          this.reasons.set(key, "source");
      },
      gone: (key) => {
        // One more reconcile, to clean up; a standalone controller keeps the last item for it.
        if (standalone && !this.items.has(key)) return;
        this.gone.add(key);
        this.reasons.set(key, "gone");
        this.queue.add(key);
      },
      clock: this.deps.clock,
      log: this.log,
    };
  }

  private enqueue(key: string, reason: ReconcileReason, low = false): void {
    // The reason reported is the one that made the key wait; later ones only fold into it.
    if (!this.reasons.has(key)) this.reasons.set(key, reason);
    this.queue.add(key, { low });
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
    const reason = this.gone.has(key)
      ? "gone"
      : (this.reasons.get(key) ?? this.scheduledReasons.get(key) ?? "requeue");
    this.reasons.delete(key);
    this.scheduledReasons.delete(key);
    const target = this.cache !== undefined ? this.cache.get(key) : this.items.get(key);
    if (target === undefined || (deps.owns !== undefined && !deps.owns(key))) {
      // Gone since it was queued, or of a shard another replica holds: nothing to reconcile here.
      this.conflicted.delete(key);
      queue.forget(key);
      queue.done(key);
      return;
    }
    const lingering = deps.lingering?.(key);
    if (lingering !== undefined) {
      // An earlier term's reconcile of this key still runs: this one comes after it.
      this.reasons.set(key, reason);
      void lingering.then(() => queue.add(key));
      queue.done(key);
      return;
    }

    const timeoutMs = controller.options.reconcileTimeoutMs ?? 300_000;
    const started = deps.clock.now();
    const entry = new InFlight(
      started + timeoutMs,
      started + timeoutMs + abandonAfterMs,
      key,
      timeoutMs,
    );
    this.inFlight.add(entry);
    if (this.sweepTimer === undefined) this.armSweep(entry.deadline);
    const reconcileId = (++this.reconcileCount).toString(36);
    const events = this.events;
    let log: Logger | undefined;
    let recorder: EventRecorder | undefined;
    const context = {
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
      cacheOf: (kind: AnyKind) => deps.informer(kind).cache,
      get events() {
        recorder ??= events?.about(target as StoredObject) ?? noEvents;
        return recorder;
      },
    };
    // One span per reconcile; calls through ctx.client run inside it, as its children.
    const span = reconcileSpan({
      controller: controller.name,
      kind: controller.kind === undefined ? undefined : kindId(controller.kind),
      key,
      reason,
    });
    const run = span.run(() => this.invoke(target, context));
    entry.settled = run.then(() => {});

    // A reconcile that outlives its timeout and ignores its aborted signal is abandoned after a
    // grace period: the worker moves on, and the key stays busy (never run twice at once) until
    // the call settles.
    const outcome = await new Promise<{ action?: Action; error?: unknown } | "abandoned">(
      (resolve) => {
        entry.abandon = () => resolve("abandoned");
        void run.then(resolve);
      },
    );
    if (outcome === "abandoned") {
      this.log.error(
        { key, timeoutMs },
        "reconcile ignored its aborted signal; leaving it to finish, retrying the key after",
      );
      void run.then((settled) =>
        this.finish(
          key,
          settled.error ?? new Error("timed out"),
          undefined,
          started,
          context,
          target,
          entry,
          span.span,
        ),
      );
      return;
    }
    this.finish(key, outcome.error, outcome.action, started, context, target, entry, span.span);
  }

  private armSweep(at: number): void {
    this.sweepTimer = this.deps.clock.setTimer(at - this.deps.clock.now(), () => this.sweep());
  }

  /** One timer for the timeouts of every reconcile in flight: abort the late, abandon the stuck. */
  private sweep(): void {
    this.sweepTimer = undefined;
    const now = this.deps.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.inFlight) {
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
          for (const listener of this.settledListeners) listener();
        } else next = Math.min(next, entry.abandonAt);
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.armSweep(next);
  }

  private async invoke(
    target: unknown,
    context: Record<string, unknown>,
  ): Promise<{ action?: Action; error?: unknown }> {
    try {
      const finalized = await this.finalizerStep(target, context);
      if (finalized !== undefined) return { action: finalized };
      const returned = await this.controller.options.reconcile(target as never, context as never);
      return { action: toAction(returned) };
    } catch (error) {
      return { error: error === undefined ? new Error("reconcile threw undefined") : error };
    }
  }

  /**
   * The finalizer protocol: add it before the first reconcile; when the object is being
   * deleted, run cleanup instead of reconcile, then remove the finalizer. Returns the action
   * that replaces reconcile, or nothing to go on and reconcile.
   */
  private async finalizerStep(
    target: unknown,
    context: Record<string, unknown>,
  ): Promise<Action | undefined> {
    const finalizer = this.controller.options.finalizer;
    if (finalizer === undefined || this.controller.kind === undefined) return undefined;
    const object = target as StoredObject;
    const finalizers = object.metadata.finalizers ?? [];
    const has = finalizers.includes(finalizer.name);
    const client = this.deps.plane.resources(this.controller.kind);
    const key = { namespace: object.metadata.namespace, name: object.metadata.name };
    const { resourceVersion } = object.metadata;
    if (object.metadata.deletionTimestamp !== undefined) {
      if (!has) return { type: "done" };
      await finalizer.cleanup(object as never, context as never);
      await client.patch(key, {
        type: "merge",
        patch: {
          metadata: { resourceVersion, finalizers: finalizers.filter((f) => f !== finalizer.name) },
        },
      });
      (context.log as Logger).info({ finalizer: finalizer.name }, "cleaned up; finalizer removed");
      return { type: "done" };
    }
    if (has) return undefined;
    // Added first; the change it makes triggers the first real reconcile.
    await client.patch(key, {
      type: "merge",
      patch: { metadata: { resourceVersion, finalizers: [...finalizers, finalizer.name] } },
    });
    return { type: "done" };
  }

  private finish(
    key: string,
    error: unknown,
    action: Action | undefined,
    started: number,
    context: Record<string, unknown>,
    target: unknown,
    entry: InFlight,
    span: Span,
  ): void {
    const { queue, deps } = this;
    this.inFlight.delete(entry);
    this.lastProgress = this.deps.clock.now();
    for (const listener of this.settledListeners) listener();
    const seconds = (deps.clock.now() - started) / 1000;
    let result: ResultLabel;
    if (error === undefined) {
      queue.forget(key);
      if (action?.type === "requeueAfter") {
        result = "requeue_after";
        this.scheduledReasons.set(key, "requeue");
        queue.addAfter(key, action.ms);
      } else result = "success";
    } else {
      result = "error";
      deps.metrics.errored();
      const log = context.log as Logger;
      if (error instanceof TerminalError) {
        log.error(
          { err: error },
          "reconcile failed for good (TerminalError); waiting for the object to change",
        );
        queue.forget(key);
      } else {
        let policy: Action | undefined;
        try {
          policy = this.controller.options.errorPolicy?.(error, target as never, context as never);
        } catch (policyError) {
          log.error({ err: policyError }, "errorPolicy threw; retrying with backoff");
        }
        const conflict = ApiError.is(error, "Conflict") && policy === undefined;
        if (conflict && !this.conflicted.has(key)) {
          // Routine: someone wrote the object since it was read (often this controller's own
          // cache being a moment behind). Retry at once, outside the error backoff; a second
          // conflict in a row backs off, so a stale cache cannot make it spin.
          this.conflicted.add(key);
          this.scheduledReasons.set(key, "retry");
          queue.add(key);
          log.info(
            { conflict: (error as ApiError).message },
            "conflict: the object changed since it was read; retrying at once",
          );
        } else {
          if (!conflict) this.conflicted.delete(key);
          let next: string;
          if (policy?.type === "requeueAfter") {
            this.scheduledReasons.set(key, "retry");
            queue.addAfter(key, policy.ms);
            next = `retrying in ${policy.ms} ms (errorPolicy)`;
          } else if (policy?.type === "done") {
            next = "not retrying (errorPolicy); waiting for the next change";
          } else {
            this.scheduledReasons.set(key, "retry");
            next = `retrying in ${queue.addRateLimited(key)} ms`;
          }
          const retries = queue.retries(key);
          if (conflict)
            log.info({ conflict: (error as ApiError).message, retries }, `conflict again: ${next}`);
          else
            log.error(
              { err: error instanceof Error ? error : String(error), retries },
              `reconcile failed; ${next}`,
            );
        }
      }
    }
    if (error === undefined || error instanceof TerminalError) {
      this.conflicted.delete(key);
      // Its cleanup is done: forget a gone key (unless a source brought it back meanwhile).
      if (this.gone.delete(key) && this.controller.kind === undefined) this.items.delete(key);
    }
    deps.metrics.reconciled(result, seconds);
    endReconcileSpan(span, result, error);
    queue.done(key);
  }
}
