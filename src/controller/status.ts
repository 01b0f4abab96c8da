/**
 * Status conventions (kstatus): conditions with `type`, `status`, `reason`, `message` and a
 * `lastTransitionTime` that moves only when `status` flips; `observedGeneration` stamped by the
 * controller that wrote the status; status written only when it changed.
 */
import type { Client } from "../backend/client.js";
import type { Condition } from "../model/condition.js";
import { deepEqual } from "../model/json.js";
import type { AnyKind, ResourceOf, StatusInputOf } from "../model/kind.js";
import type { Frozen } from "../model/resource.js";

export type { Condition };

/** The condition types kstatus reads: `Ready`, `Reconciling`, `Stalled`. */
export const ConditionType = {
  Ready: "Ready",
  Reconciling: "Reconciling",
  Stalled: "Stalled",
} as const;

/** What {@link setCondition} takes: a condition without its transition time. */
export type ConditionInput = Omit<Condition, "lastTransitionTime">;

/**
 * A copy of `status` with `condition` set: replaced if one of its type exists, appended
 * otherwise. `lastTransitionTime` is kept unless `status` flips.
 *
 * @param now the time of a transition. @default new Date()
 * @example
 * ```ts
 * const status = setCondition(widget.status, { type: "Ready", status: "True", reason: "Running", message: "3/3 ready" });
 * ```
 */
export function setCondition<S extends { readonly conditions?: readonly Condition[] }>(
  status: Frozen<S> | S | undefined,
  condition: ConditionInput,
  now: Date = new Date(),
): S & { conditions: Condition[] } {
  const conditions = [...((status?.conditions ?? []) as readonly Condition[])];
  const index = conditions.findIndex((c) => c.type === condition.type);
  const previous = index < 0 ? undefined : conditions[index];
  const lastTransitionTime =
    previous !== undefined && previous.status === condition.status
      ? previous.lastTransitionTime
      : `${now.toISOString().slice(0, 19)}Z`;
  const next: Condition = { ...condition, lastTransitionTime };
  if (index < 0) conditions.push(next);
  else conditions[index] = next;
  return { ...(status as S), conditions };
}

/** The condition of `type` in `status`, if any. */
export function getCondition(
  status: { readonly conditions?: readonly Condition[] } | undefined,
  type: string,
): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/**
 * Writes `status` for `object` with `observedGeneration` stamped, only if it differs from what
 * is stored; returns the object as it is then. A stale `object` fails with `Conflict`.
 *
 * @example
 * ```ts
 * await writeStatus(ctx.client, widget, { readyReplicas: 3 });
 * ```
 */
export async function writeStatus<K extends AnyKind>(
  client: Client<K>,
  object: ResourceOf<K>,
  status: StatusInputOf<K>,
): Promise<ResourceOf<K>> {
  const stamped = { ...(status as object), observedGeneration: object.metadata.generation };
  if (deepEqual(stamped, object.status)) return object;
  return client.updateStatus({ ...object, status: stamped } as never);
}
