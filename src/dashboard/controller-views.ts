/**
 * The controllers of a {@link Manager} as the dashboard's read API shows them: state, queue,
 * rates and times ({@link ControllerSummary}), keys backing off and reconciles in flight
 * ({@link ControllerDetail}), and one key's view ({@link KeyView}). Read from the manager's
 * running term and its journals; a standby replica shows its history and no queue.
 */
import type { Controller } from "../controller/controller.js";
import type { Manager } from "../controller/manager.js";
import type { ControllerRunner } from "../controller/runner.js";
import type { AnyKind } from "../model/kind.js";
import type {
  ControllerDetail,
  ControllerState,
  ControllerSummary,
  KeyView,
  KindRef,
  LeaseSummary,
} from "./types.js";

/** A kind as the read API names it. */
export function kindRef(kind: AnyKind): KindRef {
  return {
    group: kind.group,
    version: kind.version,
    kind: kind.kind,
    plural: kind.plural,
    namespaced: kind.scope === "Namespaced",
  };
}

/**
 * The runner of `name` while its controllers run here; a stopped or standing-by manager keeps its
 * last term's runners, whose queues are no one's now.
 */
export function liveRunner(manager: Manager, name: string): ControllerRunner | undefined {
  return manager.isRunning && manager.leading ? manager.runner(name) : undefined;
}

function stateOf(manager: Manager, name: string): ControllerState {
  if (!manager.isRunning) return "stopped";
  if (manager.elector !== undefined && !manager.leading) return "standby";
  if (manager.runner(name) === undefined) return "stopped";
  return manager.shardSets.has(name) ? "sharded" : "running";
}

/** One controller at a glance, at `now`. */
export function controllerSummary(
  manager: Manager,
  controller: Controller,
  now: number,
): ControllerSummary {
  const { name } = controller;
  const runner = liveRunner(manager, name);
  const journal = manager.journal(name)!;
  const shardSet = manager.shardSets.get(name);
  const queue = runner?.queueSummary() ?? { queued: 0, inFlight: 0, backingOff: 0, scheduled: 0 };
  const percentiles = journal.percentiles();
  return {
    name,
    ...(controller.kind === undefined ? {} : { kind: kindRef(controller.kind) }),
    state: stateOf(manager, name),
    ...(shardSet === undefined ? {} : { shards: { held: shardSet.shards, count: shardSet.count } }),
    ...queue,
    workers: controller.options.concurrency ?? 1,
    ...journal.series(now),
    ...(percentiles ?? {}),
    totalReconciles: journal.total,
    totalErrors: journal.errors,
  };
}

/** Every controller of `manager` at a glance. */
export function controllerSummaries(manager: Manager, now: number): ControllerSummary[] {
  return manager.controllerList.map((controller) => controllerSummary(manager, controller, now));
}

/** Whether a Lease belongs to `controller`: its leader election's, or one of its shards'. */
function leaseOf(manager: Manager, controller: string, lease: LeaseSummary): boolean {
  const elected = manager.elector?.key;
  if (
    elected !== undefined &&
    lease.name === elected.name &&
    lease.namespace === (elected.namespace ?? "default")
  )
    return true;
  return manager.shardSets.has(controller) && lease.name.startsWith(`${controller}-shard-`);
}

/** One controller in detail; undefined when the manager has no controller of that name. */
export function controllerDetail(
  manager: Manager,
  name: string,
  leases: readonly LeaseSummary[],
  now: number,
): ControllerDetail | undefined {
  const controller = manager.controllerList.find((c) => c.name === name);
  if (controller === undefined) return undefined;
  const runner = liveRunner(manager, name);
  return {
    ...controllerSummary(manager, controller, now),
    backoff: runner?.backoff() ?? [],
    running: runner?.running() ?? [],
    waiting: runner?.waiting() ?? [],
    recent: manager.journal(name)!.recent(),
    leases: leases.filter((lease) => leaseOf(manager, name, lease)),
  };
}

/** The controller's view of `key`; undefined when there is no controller of that name. */
export function keyView(manager: Manager, name: string, key: string): KeyView | undefined {
  const journal = manager.journal(name);
  if (journal === undefined) return undefined;
  return (
    liveRunner(manager, name)?.keyView(key) ?? {
      controller: name,
      key,
      queued: false,
      history: journal.history(key),
    }
  );
}
