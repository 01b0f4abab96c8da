/** The `finalize` subresource of a Namespace. */
import type { Backend, StoredObject } from "../../backend/backend.js";
import { badRequest } from "../../model/api-error.js";
import { namespaceFinalizer } from "../../model/namespace.js";
import { isPlainObject } from "../../model/validation.js";
import { Namespace } from "../builtin-kinds.js";

/**
 * `PUT /api/v1/namespaces/<name>/finalize`: sets the namespace's `spec.finalizers`, as
 * Kubernetes' finalize subresource does. Taking `kubernetes` out of a terminating namespace's
 * finalizers lets it go at once, whatever content is left (what people do to a namespace stuck
 * terminating).
 */
export async function finalizeNamespace(
  backend: Backend,
  name: string,
  sent: Record<string, unknown>,
  dryRun: boolean,
): Promise<StoredObject> {
  const current = await backend.get(Namespace, { name });
  const spec = isPlainObject(sent.spec) ? sent.spec : {};
  const finalizers = Array.isArray(spec.finalizers) ? (spec.finalizers as unknown[]) : [];
  if (!finalizers.every((f) => typeof f === "string"))
    throw badRequest("spec.finalizers must be a list of strings");
  const sentVersion = (sent.metadata as { resourceVersion?: unknown }).resourceVersion;
  const release =
    current.metadata.deletionTimestamp !== undefined && !finalizers.includes(namespaceFinalizer);
  return backend.update(
    Namespace,
    {
      ...current,
      metadata: {
        ...current.metadata,
        resourceVersion:
          typeof sentVersion === "string" && sentVersion !== ""
            ? sentVersion
            : current.metadata.resourceVersion,
        ...(release
          ? {
              finalizers: (current.metadata.finalizers ?? []).filter(
                (f) => f !== namespaceFinalizer,
              ),
            }
          : {}),
      },
      spec: { ...(current.spec ?? {}), finalizers },
    } as never,
    { dryRun },
  );
}
