/** A controller's state as text and colour: running, standby, sharded (with its shards), stopped. */
import type { ControllerSummary } from "../types.js";

export function stateText(controller: Pick<ControllerSummary, "state" | "shards">): string {
  if (controller.state === "sharded" && controller.shards !== undefined) {
    return `sharded, shards ${controller.shards.held.join(",")} of ${controller.shards.count}`;
  }
  return controller.state;
}

export function StateBadge({
  controller,
}: {
  controller: Pick<ControllerSummary, "state" | "shards">;
}) {
  return <span class={`state state-${controller.state}`}>{stateText(controller)}</span>;
}
