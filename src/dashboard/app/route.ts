/**
 * The app's hash routes: `#/`, `#/controllers`, `#/kind/{group|core}/{version}/{plural}`,
 * `#/object/{group|core}/{version}/{plural}/{namespace|-}/{name}`.
 */
import type { KindRef, ObjectRef } from "../types.js";

export type Route =
  | { readonly page: "overview" }
  | { readonly page: "controllers" }
  | {
      readonly page: "kind";
      readonly group: string;
      readonly version: string;
      readonly plural: string;
    }
  | {
      readonly page: "object";
      readonly group: string;
      readonly version: string;
      readonly plural: string;
      readonly namespace: string | undefined;
      readonly name: string;
    }
  | { readonly page: "missing"; readonly hash: string };

function groupOf(segment: string): string {
  return segment === "core" ? "" : segment;
}

function segmentOf(group: string): string {
  return group === "" ? "core" : group;
}

/** Reads a location hash. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/^\/+/, "");
  const parts = path === "" ? [] : path.split("/").map((part) => decodeURIComponent(part));
  const [page, ...rest] = parts;
  if (page === undefined) return { page: "overview" };
  if (page === "controllers" && rest.length === 0) return { page: "controllers" };
  if (page === "kind" && rest.length === 3) {
    const [group, version, plural] = rest as [string, string, string];
    return { page: "kind", group: groupOf(group), version, plural };
  }
  if (page === "object" && rest.length === 5) {
    const [group, version, plural, namespace, name] = rest as [
      string,
      string,
      string,
      string,
      string,
    ];
    return {
      page: "object",
      group: groupOf(group),
      version,
      plural,
      namespace: namespace === "-" ? undefined : namespace,
      name,
    };
  }
  return { page: "missing", hash };
}

/** The link to a kind's page. */
export function kindHref(kind: Pick<KindRef, "group" | "version" | "plural">): string {
  return `#/kind/${segmentOf(kind.group)}/${kind.version}/${kind.plural}`;
}

/** The link to an object's page, or `undefined` when the server does not serve its kind. */
export function objectHref(ref: {
  group: string;
  version: string;
  plural?: string | undefined;
  namespace?: string | undefined;
  name: string;
}): string | undefined {
  if (ref.plural === undefined) return undefined;
  const namespace = ref.namespace ? encodeURIComponent(ref.namespace) : "-";
  return `#/object/${segmentOf(ref.group)}/${ref.version}/${ref.plural}/${namespace}/${encodeURIComponent(ref.name)}`;
}

/** `group/version/plural/namespace/name` for the read API's objects path. */
export function objectApiPath(route: Extract<Route, { page: "object" }>): string {
  return `/setpoint/v1/objects/${segmentOf(route.group)}/${route.version}/${route.plural}/${
    route.namespace ? encodeURIComponent(route.namespace) : "-"
  }/${encodeURIComponent(route.name)}`;
}

/** How an object reference reads: `Workload default/web`. */
export function refText(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}
