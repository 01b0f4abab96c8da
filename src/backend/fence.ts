/**
 * Fencing: a leader-elected controller's writes carry its Lease term ({@link Fence}), and a store
 * refuses them, atomically with the write, once that term is over.
 */
import { ApiError } from "../model/api-error.js";
import type { Fence, StoredObject } from "./backend.js";

/** The id of the Lease kind, whose objects fences name. */
export const leaseKindId = "coordination.k8s.io/Lease";

/** The fencing check every store runs, atomically with the write, for a write with a fence. */
export function checkFence(lease: StoredObject | undefined, fence: Fence): void {
  const spec = lease?.spec as { holderIdentity?: string; leaseTransitions?: number } | undefined;
  if (spec?.holderIdentity === fence.holder && (spec.leaseTransitions ?? 0) === fence.transitions)
    return;
  throw new ApiError(
    "Conflict",
    `fenced: the write belongs to ${fence.holder}'s term ${fence.transitions} of Lease ${fence.lease.namespace ?? ""}/${fence.lease.name}, which is over (now held by ${spec?.holderIdentity || "nobody"}, term ${spec?.leaseTransitions ?? 0})`,
  );
}
