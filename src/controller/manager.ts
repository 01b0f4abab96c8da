/**
 * The Manager runs controllers: one shared informer (watcher + cache) per kind, one runner per
 * controller, metrics and logs — and shuts them down in order.
 *
 * ## Lifecycle
 * `run({signal})` starts the informers and the controllers' triggers, starts each controller's
 * workers once the caches it reads are synced, and resolves after a graceful shutdown when
 * `signal` aborts: sources and triggers stop, the queues stop handing out keys, reconciles in
 * flight get `shutdownTimeoutMs` to finish, then their signals abort, and a reconcile that
 * ignores its signal is abandoned a second later (logged; its promise is left to settle); then
 * the informers stop. So `run` resolves at most `shutdownTimeoutMs` + 1 s after `signal`
 * aborts, whatever the reconciles do. Losing the Lease aborts at once, with the same second.
 * Each run of the controllers — the whole run, or each time this replica leads — is a
 * {@link Term} (term.ts), which does the wiring and the shutdown.
 */
import { Registry } from "prom-client";
import { type ControlPlane, createControlPlane } from "../backend/control-plane.js";
import { scopeNamespaces } from "../cache/scope.js";
import { FencedBackend } from "../coordination/fenced-backend.js";
import {
  defaultIdentity,
  type LeaderElectionOptions,
  LeaderElector,
} from "../coordination/leader-election.js";
import type { ShardSet } from "../coordination/shards.js";
import { type Clock, systemClock } from "../model/clock.js";
import { type HealthCheck, type HealthServer, serveHealth } from "../observability/health.js";
import { defaultLogger, type Logger } from "../observability/logging.js";
import { RuntimeMetrics } from "../observability/metrics.js";
import type { Controller, ShardOptions } from "./controller.js";
import { ReconcileJournal } from "./journal.js";
import type { ControllerRunner } from "./runner.js";
import { Abandoned, Term } from "./term.js";

/** Options of {@link Manager}. */
export interface ManagerOptions {
  /** The control plane the controllers read and write. */
  readonly plane: ControlPlane;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default pino at info on standard output (`SETPOINT_LOG_LEVEL` overrides the level) */
  readonly logger?: Logger;
  /** Where metrics are registered. @default a new prom-client Registry */
  readonly registry?: Registry;
  /**
   * How long reconciles in flight get to finish on shutdown before their signals abort; one that
   * ignores its signal is abandoned a second later, so shutdown is bounded by this plus 1 s.
   * @default 30_000
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * Run the controllers only while this process holds the Lease (client-go's algorithm; see
   * {@link LeaderElector}). Standbys campaign; the leader's reconciles write with its term's
   * fence. Losing the Lease aborts every reconcile in flight and stops the workers, and the
   * manager stands by again; shutting down drains, then releases the Lease so that a standby
   * takes over within one retry period. @default no election: the controllers always run
   */
  readonly leaderElection?: LeaderElectionOptions;
  /** This replica, for leader election and shards. @default `<hostname>-<random>` */
  readonly identity?: string;
  /**
   * Serve `/metrics`, `/healthz` and `/readyz` on this port while running (0: any free port;
   * `manager.healthUrl` says which). @default no server
   */
  readonly healthPort?: number;
  /** The health server's address; "0.0.0.0" for probes from outside the host (a kubelet). @default "127.0.0.1" */
  readonly healthHost?: string;
  /**
   * Shard every controller of a kind that does not say otherwise (`setpoint run --shards`);
   * see `ControllerOptions.shards`. @default none sharded
   */
  readonly shards?: { readonly count: number };
}

/**
 * Runs controllers against a control plane.
 *
 * @example
 * ```ts
 * const manager = new Manager({ plane });
 * manager.add(widgets);
 * const stop = new AbortController();
 * process.once("SIGINT", () => stop.abort());
 * await manager.run({ signal: stop.signal });
 * ```
 */
export class Manager {
  readonly plane: ControlPlane;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
  private readonly clock: Clock;
  private readonly shutdownTimeoutMs: number;
  private readonly controllers: Controller[] = [];
  /** The current term, or the last one once stopped. */
  private term: Term | undefined;
  /** Reconciles abandoned by terms, kept so that later terms wait for their keys. */
  private readonly abandoned = new Abandoned();
  private running = false;
  private readyResolve: (() => void) | undefined;
  private readyReject: ((error: unknown) => void) | undefined;
  private readonly readyPromise: Promise<void>;
  /** The elector, with `leaderElection`. */
  readonly elector: LeaderElector | undefined;
  /** This replica's name among replicas. */
  readonly identity: string;
  private isLeading = false;
  private readonly health: { readonly port: number; readonly host: string } | undefined;
  private readonly defaultShards: ShardOptions | undefined;
  private healthServer: HealthServer | undefined;
  /** What each controller did lately, across terms, for dashboards. */
  private readonly journals = new Map<string, ReconcileJournal>();

  constructor(options: ManagerOptions) {
    const { shutdownTimeoutMs = 30_000 } = options;
    if (!(shutdownTimeoutMs >= 0))
      throw new RangeError(`shutdownTimeoutMs (${shutdownTimeoutMs}) must not be negative`);
    this.plane = options.plane;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? defaultLogger();
    this.metrics = new RuntimeMetrics(options.registry ?? new Registry());
    this.shutdownTimeoutMs = shutdownTimeoutMs;
    this.readyPromise = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Rejected only when run() fails, which its caller hears of: not an unhandled rejection.
    this.readyPromise.catch(() => {});
    this.defaultShards = options.shards;
    this.health =
      options.healthPort === undefined
        ? undefined
        : { port: options.healthPort, host: options.healthHost ?? "127.0.0.1" };
    this.identity = options.identity ?? options.leaderElection?.identity ?? defaultIdentity();
    this.elector =
      options.leaderElection === undefined
        ? undefined
        : new LeaderElector(this.plane.backend, {
            identity: this.identity,
            ...options.leaderElection,
            clock: options.leaderElection.clock ?? this.clock,
          });
  }

  /** The shard sets of sharded controllers, by controller name, while running. */
  get shardSets(): Map<string, ShardSet> {
    return this.term?.shardSets ?? new Map();
  }

  private get runners(): readonly ControllerRunner[] {
    return this.term?.runners ?? [];
  }

  /** The health server's address while running with `healthPort`. */
  get healthUrl(): string | undefined {
    return this.healthServer?.url;
  }

  /**
   * What `/healthz` checks: every informer's watcher has heard from its store within twice its
   * watchdog (it restarts a silent stream after one), and no controller's queued keys have waited
   * without any worker progress for longer than its reconcile timeout plus a minute.
   */
  healthChecks(): HealthCheck[] {
    const checks: HealthCheck[] = [{ name: "running", ok: this.running }];
    // A standby runs no watchers or workers: campaigning is all its loops do.
    if (this.elector !== undefined && !this.isLeading) return checks;
    for (const [id, informer] of this.term?.informers ?? []) {
      for (const [i, { watcher }] of informer.parts.entries()) {
        const silent = watcher.silentFor();
        const limit = 2 * watcher.watchdogMs;
        const namespace = scopeNamespaces(informer.scope)?.[i];
        checks.push({
          name: `watcher ${id}${namespace === undefined ? "" : ` in ${namespace}`}`,
          ok: silent <= limit,
          detail: `silent for ${Math.round(silent / 1000)} s (watchdog ${Math.round(watcher.watchdogMs / 1000)} s)`,
        });
      }
    }
    for (const runner of this.runners) {
      const stalled = runner.stalledFor();
      const limit = (runner.controller.options.reconcileTimeoutMs ?? 300_000) + 60_000;
      checks.push({
        name: `workers ${runner.controller.name}`,
        ok: stalled <= limit,
        detail: `keys waiting with no worker progress for ${Math.round(stalled / 1000)} s`,
      });
    }
    return checks;
  }

  /** What `/readyz` checks: caches synced and workers running — or standing by for the lease. */
  readinessChecks(): HealthCheck[] {
    if (!this.running)
      return [{ name: "running", ok: false, detail: "the manager is not running" }];
    if (this.elector !== undefined && !this.isLeading) return [{ name: "standby", ok: true }];
    return [
      { name: "caches synced", ok: this.term?.synced ?? false, detail: "caches still syncing" },
    ];
  }

  /** Whether `run` is running (leading or standing by), from its start until it returns. */
  get isRunning(): boolean {
    return this.running;
  }

  /** Whether the controllers run now: always without leader election, else while leading. */
  get leading(): boolean {
    return this.isLeading;
  }

  /** The controllers added, in order. */
  get controllerList(): readonly Controller[] {
    return this.controllers;
  }

  /** What the controller named `name` did lately (its reconciles, rates, times), for dashboards. */
  journal(name: string): ReconcileJournal | undefined {
    if (!this.controllers.some((c) => c.name === name)) return undefined;
    let journal = this.journals.get(name);
    if (journal === undefined) {
      journal = new ReconcileJournal();
      this.journals.set(name, journal);
    }
    return journal;
  }

  /** Adds controllers; names must be unique. */
  add(...controllers: Controller<never>[]): this {
    if (this.running) throw new Error("add(): the manager is already running");
    for (const controller of controllers as Controller[]) {
      if (this.controllers.some((c) => c.name === controller.name)) {
        throw new Error(`add(): a controller named "${controller.name}" was already added`);
      }
      this.controllers.push(controller);
    }
    return this;
  }

  /** Resolves once every controller's caches are synced and its workers run; rejects if `run` fails first. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Reconciles every key of every controller (or of the one named), now. */
  reconcileAll(name?: string): void {
    for (const runner of this.runners)
      if (name === undefined || runner.controller.name === name) runner.reconcileAll();
  }

  /** The running controller named `name`, for tests and health checks. */
  runner(name: string): ControllerRunner | undefined {
    return this.runners.find((r) => r.controller.name === name);
  }

  /** Runs until `signal` aborts, then shuts down gracefully; see the module documentation. */
  async run({ signal }: { readonly signal: AbortSignal }): Promise<void> {
    if (this.running) throw new Error("run(): the manager is already running");
    this.running = true;
    // A running manager keeps its process alive: its own timers are unref'd, and while a store
    // reconnects (a PostgreSQL restart) no socket may hold the event loop open. Not on an
    // injected clock: whoever steps it drives the process (a simulation's crashed process never
    // finishes its run, and must not hold the process open).
    const keepAlive = this.clock === systemClock ? setInterval(() => {}, 1 << 30) : undefined;
    try {
      // Inside the try: a port already in use fails the run and leaves nothing behind (a
      // keep-alive timer left running held such a process forever).
      if (this.health !== undefined) {
        this.healthServer = await serveHealth(
          {
            registry: this.metrics.registry,
            healthChecks: () => this.healthChecks(),
            readinessChecks: () => this.readinessChecks(),
          },
          this.health,
        );
        this.log.info({ url: this.healthServer.url }, "serving /metrics, /healthz and /readyz");
      }
      const elector = this.elector;
      if (elector === undefined) {
        await this.runTerm(this.plane, signal, undefined);
        return;
      }
      while (!signal.aborted) {
        this.log.info(
          { lease: elector.key, identity: elector.identity },
          "standing by for the lease",
        );
        const leadership = await elector.acquire(signal);
        if (leadership === undefined) break;
        this.log.info(
          { lease: elector.key, identity: elector.identity, term: leadership.fencingToken },
          "leading",
        );
        // Reconciles write through the term's fence; reads and informers need none.
        const fenced = createControlPlane({
          backend: new FencedBackend(this.plane.backend, leadership.fence),
          kinds: [...this.plane.kinds.values()],
        });
        await this.runTerm(fenced, signal, leadership.signal);
        if (signal.aborted) {
          await leadership.release();
          this.log.info({ lease: elector.key }, "released the lease");
          break;
        }
        this.log.warn({ lease: elector.key, term: leadership.fencingToken }, "lost the lease");
      }
    } catch (error) {
      // Whoever waits for ready() learns why it never will be.
      this.readyReject?.(error);
      throw error;
    } finally {
      clearInterval(keepAlive);
      this.running = false;
      await this.healthServer?.close();
      this.healthServer = undefined;
    }
  }

  /**
   * One term of the controllers: until `stop` aborts (then a graceful shutdown) or `lost` aborts
   * (leadership lost: every reconcile in flight is aborted at once); see {@link Term}.
   */
  private async runTerm(
    plane: ControlPlane,
    stop: AbortSignal,
    lost: AbortSignal | undefined,
  ): Promise<void> {
    const term = new Term({
      store: this.plane,
      plane,
      controllers: this.controllers,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      identity: this.identity,
      shutdownTimeoutMs: this.shutdownTimeoutMs,
      defaultShards: this.defaultShards,
      abandoned: this.abandoned,
      journalOf: (name) => this.journal(name)!,
    });
    this.term = term;
    void term.start().then(() => this.readyResolve?.());
    const signal = lost === undefined ? stop : AbortSignal.any([stop, lost]);
    this.isLeading = true;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    this.isLeading = false;
    if (lost?.aborted && !stop.aborted) await term.stop("lost", lost.reason);
    else await term.stop("graceful");
  }
}

/** Options of {@link run}. */
export interface RunOptions extends ManagerOptions {
  readonly signal: AbortSignal;
}

/**
 * Runs controllers until `signal` aborts, then shuts down gracefully: a Manager in one call.
 *
 * @example
 * ```ts
 * await run([widgets], { plane, signal: stop.signal });
 * ```
 */
export function run(controllers: readonly Controller<never>[], options: RunOptions): Promise<void> {
  const { signal, ...managerOptions } = options;
  return new Manager(managerOptions).add(...controllers).run({ signal });
}
