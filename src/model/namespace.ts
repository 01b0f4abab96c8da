/**
 * The `Namespace` kind (core `v1`) and the rules of its lifecycle that Kubernetes' API server
 * keeps (its `NamespaceLifecycle` admission and namespace controller): which namespaces exist
 * from the start and may not be deleted, what a terminating namespace looks like, and the errors
 * a write into a missing or terminating namespace gets.
 */
import { z } from "zod";
import { ApiError } from "./api-error.js";
import { defineKind } from "./kind.js";
import type { Frozen, Resource } from "./resource.js";

const namespaceCondition = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  lastTransitionTime: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

/**
 * Kubernetes' `Namespace` (core `v1`, cluster-scoped, short name `ns`): `spec.finalizers`
 * (`["kubernetes"]` while the namespace may hold content), `status.phase` (`Active` or
 * `Terminating`) and, while terminating, `status.conditions` saying what is left.
 */
export const Namespace = defineKind({
  group: "",
  version: "v1",
  kind: "Namespace",
  scope: "Cluster",
  shortNames: ["ns"],
  spec: z.object({ finalizers: z.array(z.string()).optional() }).default({}),
  status: z.object({
    phase: z.enum(["Active", "Terminating"]).optional(),
    conditions: z.array(namespaceCondition).optional(),
  }),
  printerColumns: [{ name: "Status", type: "string", jsonPath: ".status.phase" }],
});

/**
 * The finalizer that holds a deleted namespace until its content is gone: in `spec.finalizers`
 * from creation, as Kubernetes has it, and in `metadata.finalizers` from deletion on, so that
 * every store keeps the namespace (with `deletionTimestamp`) until the content is deleted.
 */
export const namespaceFinalizer = "kubernetes";

/** The namespaces every Kubernetes API server has from the start and never deletes. */
export const systemNamespaces: readonly string[] = Object.freeze([
  "default",
  "kube-system",
  "kube-public",
]);

/** The label Kubernetes puts on every namespace: its own name, for namespace selectors. */
export const namespaceNameLabel = "kubernetes.io/metadata.name";

type NamespaceObject = Frozen<Resource<unknown, unknown>>;

/** Whether a namespace is being deleted: `deletionTimestamp` set, or phase `Terminating`. */
export function isTerminating(namespace: NamespaceObject): boolean {
  return (
    namespace.metadata.deletionTimestamp !== undefined ||
    (namespace.status as { phase?: string } | undefined)?.phase === "Terminating"
  );
}

/** Whether `name` can be a namespace's name at all (a DNS-1123 label). */
export function isNamespaceName(name: string): boolean {
  return name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/** What a write into a namespace that does not exist gets, as Kubernetes answers it (404). */
export function namespaceNotFound(namespace: string): ApiError {
  return new ApiError("NotFound", `namespaces "${namespace}" not found`, {
    details: { name: namespace, kind: "namespaces" },
  });
}

/**
 * What a create in a terminating namespace gets, as Kubernetes' `NamespaceLifecycle` admission
 * answers it: 403 Forbidden about the object, with a `NamespaceTerminating` cause.
 *
 * @param resource the plural of the object's kind, e.g. `widgets`
 */
export function namespaceTerminating(
  resource: { readonly group: string; readonly plural: string },
  name: string | undefined,
  namespace: string,
): ApiError {
  const qualified =
    resource.group === "" ? resource.plural : `${resource.plural}.${resource.group}`;
  return new ApiError(
    "Forbidden",
    `${qualified}${name ? ` "${name}"` : ""} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
    {
      details: {
        ...(name ? { name } : {}),
        ...(resource.group === "" ? {} : { group: resource.group }),
        kind: resource.plural,
        causes: [
          {
            reason: "NamespaceTerminating",
            message: `namespace ${namespace} is being terminated`,
            field: "metadata.namespace",
          },
        ],
      },
    },
  );
}

/** What deleting `default`, `kube-system` or `kube-public` gets (403), as on a cluster. */
export function namespaceUndeletable(namespace: string): ApiError {
  return new ApiError(
    "Forbidden",
    `namespaces "${namespace}" is forbidden: this namespace may not be deleted`,
    { details: { name: namespace, kind: "namespaces" } },
  );
}
