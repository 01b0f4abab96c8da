/**
 * Prometheus metrics with controller-runtime's names, so that existing dashboards and alerts
 * work: `controller_runtime_reconcile_total{controller,result}`,
 * `controller_runtime_reconcile_errors_total{controller}`,
 * `controller_runtime_reconcile_time_seconds{controller}`,
 * `controller_runtime_active_workers{controller}`, and `workqueue_depth`, `workqueue_adds_total`,
 * `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds`, `workqueue_retries_total`
 * labelled by queue `name`.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { WorkQueueMetrics } from "../queue/work-queue.js";

/** How a reconcile ended, as controller-runtime labels it. */
export type ReconcileResult = "success" | "error" | "requeue" | "requeue_after";

const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
  1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];

/** The metrics of one controller, with its label values bound once. */
export interface ControllerMetrics {
  reconciled(result: ReconcileResult, seconds: number): void;
  errored(): void;
  activeWorkers(delta: number): void;
  readonly queue: WorkQueueMetrics;
}

/**
 * The metric families of a manager, registered in `registry`.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const metrics = new RuntimeMetrics(registry);
 * const text = await registry.metrics();
 * ```
 */
export class RuntimeMetrics {
  private readonly reconcileTotal: Counter<"controller" | "result">;
  private readonly reconcileErrors: Counter<"controller">;
  private readonly reconcileTime: Histogram<"controller">;
  private readonly activeWorkers: Gauge<"controller">;
  private readonly depth: Gauge<"name">;
  private readonly adds: Counter<"name">;
  private readonly queueDuration: Histogram<"name">;
  private readonly workDuration: Histogram<"name">;
  private readonly retries: Counter<"name">;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: reconcileBuckets,
      registers,
    });
    this.activeWorkers = new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    });
    this.depth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames: ["name"],
      registers,
    });
    this.adds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name"],
      registers,
    });
    this.queueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name"],
      buckets: queueBuckets,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name"],
      buckets: queueBuckets,
      registers,
    });
    this.retries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name"],
      registers,
    });
  }

  /** The metrics of the controller named `controller`. */
  forController(controller: string): ControllerMetrics {
    const results = {
      success: this.reconcileTotal.labels(controller, "success"),
      error: this.reconcileTotal.labels(controller, "error"),
      requeue: this.reconcileTotal.labels(controller, "requeue"),
      requeue_after: this.reconcileTotal.labels(controller, "requeue_after"),
    };
    const time = this.reconcileTime.labels(controller);
    const errors = this.reconcileErrors.labels(controller);
    const workers = this.activeWorkers.labels(controller);
    const depth = this.depth.labels(controller);
    const adds = this.adds.labels(controller);
    const queued = this.queueDuration.labels(controller);
    const worked = this.workDuration.labels(controller);
    const retries = this.retries.labels(controller);
    // Zero-valued series exist from the start, as controller-runtime's do.
    for (const counter of Object.values(results)) counter.inc(0);
    errors.inc(0);
    workers.set(0);
    adds.inc(0);
    retries.inc(0);
    depth.set(0);
    return {
      reconciled(result, seconds) {
        results[result].inc();
        time.observe(seconds);
      },
      errored: () => errors.inc(),
      activeWorkers: (delta) => workers.inc(delta),
      queue: {
        depth: (n) => depth.set(n),
        added: () => adds.inc(),
        retried: () => retries.inc(),
        queued: (s) => queued.observe(s),
        worked: (s) => worked.observe(s),
      },
    };
  }
}
