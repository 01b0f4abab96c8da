/**
 * The Manager runs controllers: one shared informer (watcher + cache) per kind, one runner per
 * controller, metrics and logs — and shuts them down in order.
 *
 * ## Lifecycle
 * `run({signal})` starts the informers and the controllers' triggers, starts each controller's
 * workers once the caches it reads are synced, and resolves after a graceful shutdown when
 * `signal` aborts: sources and triggers stop, the queues stop handing out keys, reconciles in
 * flight get `shutdownTimeoutMs` to finish, then their signals abort; then the informers stop.
 */
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import type { ControlPlane } from "../backend/control-plane.js";
import { Informer } from "../cache/informer.js";
import { type AnyKind, kindId } from "../model/kind.js";
import { defaultLogger, type Logger } from "../observability/logging.js";
import { RuntimeMetrics } from "../observability/metrics.js";
import { type Clock, systemClock } from "../queue/clock.js";
import type { Controller } from "./controller.js";
import { ControllerRunner } from "./runner.js";
import { sleep } from "./source.js";

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
  /** How long reconciles in flight get to finish on shutdown before their signals abort. @default 30_000 */
  readonly shutdownTimeoutMs?: number;
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
  private readonly informers = new Map<string, Informer>();
  private runners: ControllerRunner[] = [];
  private running = false;
  private readyResolve: (() => void) | undefined;
  private readonly readyPromise: Promise<void>;

  constructor(options: ManagerOptions) {
    const { shutdownTimeoutMs = 30_000 } = options;
    if (!(shutdownTimeoutMs >= 0))
      throw new RangeError(`shutdownTimeoutMs (${shutdownTimeoutMs}) must not be negative`);
    this.plane = options.plane;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? defaultLogger();
    this.metrics = new RuntimeMetrics(options.registry ?? new Registry());
    this.shutdownTimeoutMs = shutdownTimeoutMs;
    this.readyPromise = new Promise((resolve) => {
      this.readyResolve = resolve;
    });
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

  /** Resolves once every controller's caches are synced and its workers run. */
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
    const informerStop = new AbortController();
    const sourceStop = new AbortController();
    const instance = randomUUID().slice(0, 8);
    this.log.info(
      { controllers: this.controllers.map((c) => c.name), instance },
      "manager starting",
    );

    const informer = (kind: AnyKind): Informer => {
      const id = kindId(kind);
      let existing = this.informers.get(id);
      if (existing === undefined) {
        this.plane.register(kind);
        existing = new Informer(this.plane.backend, kind, {
          clock: this.clock,
          observer: {
            failed: (err, retryInMs) =>
              this.log.warn({ err, kind: kind.kind, retryInMs }, "list/watch failed; retrying"),
          },
        });
        this.informers.set(id, existing);
      }
      return existing;
    };
    this.runners = this.controllers.map(
      (controller) =>
        new ControllerRunner(controller, {
          plane: this.plane,
          clock: this.clock,
          log: this.log,
          metrics: this.metrics.forController(controller.name),
          informer,
        }),
    );
    for (const runner of this.runners) runner.start(sourceStop.signal);
    const informerRuns = [...this.informers.values()].map((i) => i.run(informerStop.signal));
    const workerRuns = this.runners.map((runner) => runner.runWorkers());
    void Promise.all(this.runners.map((r) => this.readyOf(r))).then(() => {
      this.log.info({}, "all controllers running");
      this.readyResolve?.();
    });

    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });

    // Graceful shutdown: stop feeding, stop dequeuing, wait, then abort what still runs.
    this.log.info(
      { shutdownTimeoutMs: this.shutdownTimeoutMs },
      "shutting down: waiting for reconciles in flight",
    );
    sourceStop.abort();
    for (const runner of this.runners) {
      runner.stopTriggers();
      runner.queue.shutDown();
    }
    const drained = Promise.all(this.runners.map((r) => r.queue.drain()));
    const deadline = new AbortController();
    const inTime = await Promise.race([
      drained.then(() => true),
      sleep(this.clock, this.shutdownTimeoutMs, deadline.signal).then(() => false),
    ]);
    deadline.abort();
    if (!inTime) {
      this.log.warn({}, "shutdown deadline passed; aborting reconciles in flight");
      for (const runner of this.runners)
        runner.abortInFlight(new Error("the manager is shutting down"));
      const grace = new AbortController();
      await Promise.race([drained, sleep(this.clock, 5_000, grace.signal)]);
      grace.abort();
    }
    informerStop.abort();
    await Promise.all([...informerRuns, ...workerRuns]);
    this.running = false;
    this.log.info({}, "manager stopped");
  }

  private async readyOf(runner: ControllerRunner): Promise<void> {
    const { controller } = runner;
    const kinds = [
      controller.kind,
      ...controller.owned,
      ...controller.related.map((r) => r.kind),
    ].filter((k) => k !== undefined);
    await Promise.all(kinds.map((kind) => this.informers.get(kindId(kind))!.cache.ready()));
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
