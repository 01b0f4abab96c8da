/**
 * The app's hash routes: `#/`, `#/controllers`,
 * `#/kind/{group|core}/{version}/{plural}[?ns=…&selector=…&q=…&sort={column}:{asc|desc}]` (the
 * kind page's filters, so a reload or a shared link keeps them),
 * `#/object/{group|core}/{version}/{plural}/{namespace|-}/{name}`.
 */
import type { KindRef, ObjectRef } from "../types.js";

/** A kind page's filters, as its route's query holds them; `""`: none. */
export interface KindQuery {
  /** `ns`: one namespace, or `""` for all. */
  readonly namespace: string;
  /** `selector`: a label selector. */
  readonly selector: string;
  /** `q`: the text filter. */
  readonly filter: string;
  /** `sort`: `{column}:asc` or `{column}:desc`. */
  readonly sort?: { readonly column: string; readonly descending: boolean };
}

/** No filter at all. */
export const NO_KIND_QUERY: KindQuery = { namespace: "", selector: "", filter: "" };

export type Route =
  | { readonly page: "overview" }
  | { readonly page: "controllers" }
  | {
      readonly page: "kind";
      readonly group: string;
      readonly version: string;
      readonly plural: string;
      readonly query: KindQuery;
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

function kindQueryOf(search: string): KindQuery {
  const params = new URLSearchParams(search);
  const sortText = params.get("sort") ?? "";
  const colon = sortText.lastIndexOf(":");
  const column = colon < 0 ? sortText : sortText.slice(0, colon);
  const direction = colon < 0 ? "asc" : sortText.slice(colon + 1);
  return {
    namespace: params.get("ns") ?? "",
    selector: params.get("selector") ?? "",
    filter: params.get("q") ?? "",
    ...(column !== "" ? { sort: { column, descending: direction === "desc" } } : {}),
  };
}

/** Reads a location hash. */
export function parseRoute(hash: string): Route {
  const whole = hash.replace(/^#/, "").replace(/^\/+/, "");
  const question = whole.indexOf("?");
  const path = question < 0 ? whole : whole.slice(0, question);
  const search = question < 0 ? "" : whole.slice(question + 1);
  const parts = path === "" ? [] : path.split("/").map((part) => decodeURIComponent(part));
  const [page, ...rest] = parts;
  if (page === undefined) return { page: "overview" };
  if (page === "controllers" && rest.length === 0) return { page: "controllers" };
  if (page === "kind" && rest.length === 3) {
    const [group, version, plural] = rest as [string, string, string];
    return { page: "kind", group: groupOf(group), version, plural, query: kindQueryOf(search) };
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

/** The link to a kind's page, with the filters of `query` that are set. */
export function kindHref(
  kind: Pick<KindRef, "group" | "version" | "plural">,
  query: KindQuery = NO_KIND_QUERY,
): string {
  const params = new URLSearchParams();
  if (query.namespace !== "") params.set("ns", query.namespace);
  if (query.selector !== "") params.set("selector", query.selector);
  if (query.filter !== "") params.set("q", query.filter);
  if (query.sort !== undefined) {
    params.set("sort", `${query.sort.column}:${query.sort.descending ? "desc" : "asc"}`);
  }
  const search = params.toString();
  return `#/kind/${segmentOf(kind.group)}/${kind.version}/${kind.plural}${search ? `?${search}` : ""}`;
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
