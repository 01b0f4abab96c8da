/**
 * One term of a Manager's controllers: from the start (or from taking the Lease, with leader
 * election) to the stop. A term wires the shared informers (one per kind), the shard sets of
 * sharded controllers, one runner per controller, and readiness; `stop` takes them down in order.
 *
 * ## Stopping
 * - `stop("graceful")` — the manager shuts down: sources and triggers stop, the queues stop
 *   handing out keys, reconciles in flight get `shutdownTimeoutMs` to finish, then their signals
 *   abort.
 * - `stop("lost")` — the Lease is lost: nothing may go on writing, so the signals of reconciles
 *   in flight abort at once.
 *
 * Then, either way: a reconcile that ignores its aborted signal is abandoned a second later
 * (so `stop` waits `shutdownTimeoutMs` + 1 s at most for reconciles, or 1 s when the Lease is
 * lost); abandoned reconciles are kept in {@link Abandoned} so that the next term does not
 * reconcile their keys until they end; once every reconcile has settled or been abandoned, the
 * shards are handed back (so that other replicas take them at once) and the informers stop.
 */
import { randomUUID } from "node:crypto";
import type { ControlPlane } from "../backend/control-plane.js";
import { scopeKey, type WatchScope } from "../cache/scope.js";
import { ScopedInformer } from "../cache/scoped-informer.js";
import { ShardSet } from "../coordination/shards.js";
import { ApiError } from "../model/api-error.js";
import { type Clock, sleep } from "../model/clock.js";
import { type AnyKind, kindId } from "../model/kind.js";
import type { Logger } from "../observability/logging.js";
import type { RuntimeMetrics } from "../observability/metrics.js";
import type { Controller, ShardOptions } from "./controller.js";
import type { ReconcileJournal } from "./journal.js";
import { ControllerRunner } from "./runner.js";

/**
 * Reconciles that terms abandoned (they ignored their aborted signal), by controller and key,
 * until they end: a later term's runner waits for them before it reconciles their keys.
 */
export class Abandoned {
  private readonly byController = new Map<string, Map<string, Promise<void>>>();

  /** The end of the abandoned reconcile of `key` by `controller`, while it runs. */
  of(controller: string, key: string): Promise<void> | undefined {
    return this.byController.get(controller)?.get(key);
  }

  /** Keeps `running` (key → end) of `controller` until each ends. */
  keep(controller: string, running: ReadonlyMap<string, Promise<void>>): void {
    let byKey = this.byController.get(controller);
    if (byKey === undefined) {
      byKey = new Map();
      this.byController.set(controller, byKey);
    }
    for (const [key, settled] of running) {
      const entry: Promise<void> = settled.then(() => {
        if (byKey.get(key) === entry) byKey.delete(key);
      });
      byKey.set(key, entry);
    }
  }
}

/** What a term needs from its manager. */
export interface TermOptions {
  /** The manager's control plane: informers read it, kinds are registered in it, shards lease on it. */
  readonly store: ControlPlane;
  /** The plane reconciles write through: `store`, or its view fenced by the term's Lease. */
  readonly plane: ControlPlane;
  readonly controllers: readonly Controller[];
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  /** This replica, in shard sets. */
  readonly identity: string;
  readonly shutdownTimeoutMs: number;
  /** The shards of a controller of a kind that does not say. @default none */
  readonly defaultShards?: ShardOptions | undefined;
  /** Reconciles abandoned by this manager's terms. */
  readonly abandoned: Abandoned;
  /** Where each controller records its reconciles, across terms. @default nowhere */
  readonly journalOf?: (controller: string) => ReconcileJournal;
}

/** One term of a manager's controllers; see the module comment. */
export class Term {
  /** The shared informers, by kind id and scope. */
  readonly informers = new Map<string, ScopedInformer>();
  private informersStarted = false;
  /** The shard sets of sharded controllers, by controller name. */
  readonly shardSets = new Map<string, ShardSet>();
  readonly runners: readonly ControllerRunner[];
  private isSynced = false;
  private readonly sourceStop = new AbortController();
  private readonly shardStop = new AbortController();
  private readonly informerStop = new AbortController();
  private workerRuns: Promise<void>[] = [];
  private shardRuns: Promise<void>[] = [];
  private informerRuns: Promise<void>[] = [];

  constructor(private readonly options: TermOptions) {
    const { store, controllers, clock, identity, defaultShards } = options;
    for (const controller of controllers) {
      const shards =
        controller.options.shards ?? (controller.kind === undefined ? undefined : defaultShards);
      if (shards === undefined) continue;
      this.shardSets.set(
        controller.name,
        new ShardSet(store.backend, { ...shards, name: controller.name, identity, clock }),
      );
    }
    this.runners = controllers.map((controller) => {
      const shardSet = this.shardSets.get(controller.name);
      return new ControllerRunner(controller, {
        // Writes go through the term's plane (fenced while leading); informers read the store.
        plane: options.plane,
        ...(shardSet === undefined ? {} : { owns: (key: string) => shardSet.holds(key) }),
        clock,
        log: options.log,
        metrics: options.metrics.forController(controller.name),
        informer: (kind, scope) => this.informer(kind, scope),
        lingering: (key) => options.abandoned.of(controller.name, key),
        ...(options.journalOf === undefined ? {} : { journal: options.journalOf(controller.name) }),
      });
    });
  }

  /** Whether every controller's caches are synced and its workers run. */
  get synced(): boolean {
    return this.isSynced;
  }

  /**
   * Starts the triggers, sources, shard sets, informers and workers; resolves once every
   * controller's caches are synced and its workers run (never, if the term stops first).
   */
  start(): Promise<void> {
    const { log, controllers } = this.options;
    log.info(
      { controllers: controllers.map((c) => c.name), instance: randomUUID().slice(0, 8) },
      "manager starting",
    );
    for (const runner of this.runners) runner.start(this.sourceStop.signal);
    this.shardRuns = this.runners.map((runner) => this.runShards(runner));
    this.informerRuns = [...this.informers.values()].map((i) => i.run(this.informerStop.signal));
    this.informersStarted = true;
    this.workerRuns = this.runners.map((runner) => runner.runWorkers());
    return Promise.all(this.runners.map((runner) => runner.cachesSynced())).then(() => {
      this.isSynced = true;
      log.info({}, "all controllers running");
    });
  }

  /** Stops the term; see the module comment. `reason` is the lost Lease's. */
  async stop(how: "graceful" | "lost", reason?: unknown): Promise<void> {
    const { log, shutdownTimeoutMs } = this.options;
    if (how === "lost") log.warn({}, "lost the lease: aborting reconciles in flight");
    else log.info({ shutdownTimeoutMs }, "shutting down: waiting for reconciles in flight");
    // Stop feeding, stop dequeuing.
    this.sourceStop.abort();
    for (const runner of this.runners) {
      runner.stopTriggers();
      runner.queue.shutDown();
    }
    if (how === "lost") this.abortInFlight(reason ?? new Error("lost the lease"));
    else if (!(await this.drained(shutdownTimeoutMs))) {
      log.warn({}, "shutdown deadline passed; aborting reconciles in flight");
      this.abortInFlight(new Error("the manager is shutting down"));
    }
    // Workers return once every reconcile settled or, its signal aborted, was abandoned a second
    // later.
    await Promise.all(this.workerRuns);
    this.keepAbandoned();
    // Their work has settled: hand the shards back so that other replicas take them at once.
    this.shardStop.abort();
    this.informerStop.abort();
    await Promise.all([...this.shardRuns, ...this.informerRuns]);
    if (how === "graceful") log.info({}, "manager stopped");
  }

  /**
   * The shared informer of `kind` in `scope`, made (and its kind registered) on first use; one
   * made after the term started (a reconcile's `cacheOf` another kind) starts at once.
   */
  private informer(kind: AnyKind, scope: WatchScope | undefined): ScopedInformer {
    const key = scopeKey(scope, kind.kind);
    const id = key === "" ? kindId(kind) : `${kindId(kind)} ${key}`;
    let informer = this.informers.get(id);
    if (informer === undefined) {
      const { store, clock, log } = this.options;
      store.register(kind);
      informer = new ScopedInformer(store.backend, kind, scope, {
        clock,
        observer: {
          failed: (err, retryInMs) => {
            const ms = Math.round(retryInMs);
            const then = ms === 0 ? "relisting at once" : `retrying in ${ms} ms`;
            // A store's own answer (unreachable, 503, 410) says enough without a stack trace.
            const what = ApiError.is(err) ? { reason: err.reason, error: err.message } : { err };
            log.warn({ ...what, kind: kind.kind }, `list/watch failed; ${then}`);
          },
        },
      });
      this.informers.set(id, informer);
      if (this.informersStarted && !this.informerStop.signal.aborted)
        this.informerRuns.push(informer.run(this.informerStop.signal));
    }
    return informer;
  }

  /**
   * Takes part in the controller's shard set, if it has one: a shard's keys are reconciled when
   * it is taken, and settled before it goes.
   */
  private runShards(runner: ControllerRunner): Promise<void> {
    const { log } = this.options;
    const controller = runner.controller.name;
    const set = this.shardSets.get(controller);
    if (set === undefined) return Promise.resolve();
    const inShard = (shard: number) => (key: string) => set.shardOf(key) === shard;
    return set.run(this.shardStop.signal, {
      acquired: (shard) => {
        log.info({ controller, shard }, "took a shard");
        runner.reconcileMatching(inShard(shard));
      },
      released: (shard) => {
        log.info({ controller, shard }, "gave up a shard");
        return runner.inFlight.settle(inShard(shard), new Error(`shard ${shard} moved`));
      },
      failed: (err) =>
        log.warn(
          { controller, err },
          `shard round failed (${(err as Error)?.message ?? err}); retrying`,
        ),
    });
  }

  /** Whether every key handed out was done within `ms`. */
  private async drained(ms: number): Promise<boolean> {
    const deadline = new AbortController();
    const inTime = await Promise.race([
      Promise.all(this.runners.map((runner) => runner.queue.drain())).then(() => true),
      sleep(this.options.clock, ms, deadline.signal).then(() => false),
    ]);
    deadline.abort();
    return inTime;
  }

  private abortInFlight(reason: unknown): void {
    for (const runner of this.runners) runner.inFlight.abort(reason);
  }

  /**
   * Logs reconciles that ignored their aborted signal and still run after their workers left,
   * and keeps them, so that the next term's runner does not reconcile their keys until they end.
   */
  private keepAbandoned(): void {
    for (const runner of this.runners) {
      const reconciles = runner.inFlight.size;
      if (reconciles === 0) continue;
      this.options.log.error(
        { controller: runner.controller.name, reconciles },
        "reconciles ignored their aborted signal and were abandoned; they may still be running",
      );
      this.options.abandoned.keep(runner.controller.name, runner.inFlight.stillRunning());
    }
  }
}
