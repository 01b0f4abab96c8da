/**
 * The finalizer protocol, as kube-runtime's `finalizer()`: guaranteed cleanup before an object
 * goes (see `ControllerOptions.finalizer`).
 *
 * | the object                          | step      | what happens                                     |
 * |-------------------------------------|-----------|--------------------------------------------------|
 * | lacks the finalizer, not deleting   | `add`     | the finalizer is added; that is the whole reconcile |
 * | has it, not deleting                | `apply`   | the controller's reconcile                       |
 * | has it, being deleted               | `cleanup` | `cleanup`, then the finalizer is removed         |
 * | lacks it, being deleted             | `none`    | nothing: someone else's finalizer holds it       |
 *
 * Guarantees: the finalizer is on the object before its first real reconcile (the change that
 * adds it triggers that reconcile), so whatever reconcile does in the world is cleaned up; the
 * finalizer goes only after `cleanup` resolved. Both patches carry the `resourceVersion` read, so
 * neither acts on a stale object (a Conflict is retried as any reconcile's is). A `cleanup` that
 * throws is a failed reconcile: retried with backoff until it succeeds. A patch that finds the
 * object gone (NotFound) ends the reconcile as done: a cache that had not yet seen the object go
 * can run `cleanup` once more for it (so `cleanup` must be idempotent, as kube-runtime asks), but
 * never reports a failure for an object that no longer exists.
 */
import type { StoredObject } from "../backend/backend.js";
import type { Client } from "../backend/client.js";
import { ApiError } from "../model/api-error.js";
import type { AnyKind } from "../model/kind.js";
import type { Logger } from "../observability/logging.js";
import type { Action } from "./action.js";
import type { FinalizerOptions } from "./controller.js";

/** A step of the protocol; see the module table. */
export type FinalizerStep = "add" | "apply" | "cleanup" | "none";

/** The step `object` is at for the finalizer `name`. */
export function finalizerStep(object: StoredObject, name: string): FinalizerStep {
  const has = object.metadata.finalizers?.includes(name) ?? false;
  if (object.metadata.deletionTimestamp !== undefined) return has ? "cleanup" : "none";
  return has ? "apply" : "add";
}

const doneAction: Action = { type: "done" };

/**
 * Runs one reconcile of `object` under `finalizer`: `apply` (the controller's reconcile) only at
 * the `apply` step; writes go through `client`, a client of the object's kind.
 */
export async function withFinalizer<C extends { readonly log: Logger }>(
  finalizer: FinalizerOptions<StoredObject, C>,
  object: StoredObject,
  client: Client<AnyKind>,
  context: C,
  apply: () => Promise<Action>,
): Promise<Action> {
  const step = finalizerStep(object, finalizer.name);
  if (step === "apply") return apply();
  if (step === "none") return doneAction;
  const { namespace, name, resourceVersion } = object.metadata;
  const finalizers = object.metadata.finalizers ?? [];
  if (step === "cleanup") await finalizer.cleanup(object, context);
  const patched = await client
    .patch(
      { namespace, name },
      {
        type: "merge",
        patch: {
          metadata: {
            resourceVersion,
            finalizers:
              step === "cleanup"
                ? finalizers.filter((f) => f !== finalizer.name)
                : [...finalizers, finalizer.name],
          },
        },
      },
    )
    .catch((error: unknown) => {
      if (ApiError.is(error, "NotFound")) return undefined;
      throw error;
    });
  if (patched === undefined) return doneAction;
  if (step === "cleanup")
    context.log.info({ finalizer: finalizer.name }, "cleaned up; finalizer removed");
  return doneAction;
}
