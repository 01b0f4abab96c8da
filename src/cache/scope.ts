/**
 * Scopes: which objects of a kind a controller reads (kube-runtime's `watcher::Config`). A
 * scoped controller lists and watches only its namespaces and selectors, on every store, so an
 * operator on a large cluster never watches every Pod of every namespace.
 */
import { type LabelSelectorInput, toLabelSelector } from "../model/selector.js";
import { checkDns1123Label, FieldErrors } from "../model/validation.js";

/**
 * Which objects of a kind are read: passed to every list and watch of that kind.
 *
 * @example
 * ```ts
 * controller(Widget, { name: "widgets", scope: { namespace: ["shop", "blog"] }, reconcile })
 *   .owns(ConfigMap, { scope: { namespace: ["shop", "blog"], labelSelector: "app=widgets" } });
 * ```
 */
export interface WatchScope {
  /**
   * Only this namespace, or these namespaces (one list and watch each: Kubernetes lists one
   * namespace or all). @default every namespace
   */
  readonly namespace?: string | readonly string[];
  /** Only objects whose labels match, e.g. `app=shop,tier!=cache`. @default every object */
  readonly labelSelector?: LabelSelectorInput;
  /**
   * Only objects whose fields match, e.g. `metadata.name=main` (setpoint's stores select on
   * `metadata.name` and `metadata.namespace`; a Kubernetes API server on what it supports).
   * @default every object
   */
  readonly fieldSelector?: string;
}

/** The namespaces `scope` reads, or `undefined` for every namespace. */
export function scopeNamespaces(scope: WatchScope | undefined): readonly string[] | undefined {
  const namespace = scope?.namespace;
  if (namespace === undefined) return undefined;
  return typeof namespace === "string" ? [namespace] : namespace;
}

/**
 * Checks `scope` and returns a canonical string of it (equal scopes, equal strings): informers
 * are shared per kind and scope. Throws a TypeError naming `where` and what is wrong.
 */
export function scopeKey(scope: WatchScope | undefined, where: string): string {
  if (scope === undefined) return "";
  const parts: string[] = [];
  const namespaces = scopeNamespaces(scope);
  if (namespaces !== undefined) {
    if (namespaces.length === 0)
      throw new TypeError(
        `${where}: scope.namespace is an empty list (leave it out for every namespace)`,
      );
    for (const namespace of namespaces) {
      const errors = new FieldErrors();
      if (typeof namespace === "string") checkDns1123Label(errors, "scope.namespace", namespace);
      if (typeof namespace !== "string" || !errors.empty)
        throw new TypeError(
          `${where}: scope.namespace ${JSON.stringify(namespace)} is not a namespace name${errors.empty ? "" : ` (${errors.causes[0]!.message})`}`,
        );
    }
    const sorted = [...new Set(namespaces)].sort();
    if (sorted.length !== namespaces.length)
      throw new TypeError(`${where}: scope.namespace names a namespace twice`);
    parts.push(`ns=${sorted.join(",")}`);
  }
  if (scope.labelSelector !== undefined) {
    try {
      parts.push(`labels=${toLabelSelector(scope.labelSelector).toString()}`);
    } catch (error) {
      throw new TypeError(`${where}: scope.labelSelector: ${(error as Error).message}`);
    }
  }
  // Which fields a store selects on is the store's to say: it answers a list it cannot serve.
  if (scope.fieldSelector !== undefined) parts.push(`fields=${scope.fieldSelector}`);
  return parts.join(" ");
}
