/**
 * Where a request goes: the path and query of its target, read exactly as sent, and the parts
 * of a Kubernetes resource path (`/api/v1/…`, `/apis/<group>/<version>/…`).
 */
import { badRequest } from "../../model/api-error.js";
import { checkPathSegmentName } from "../path-segment.js";

/** A resource path's parts: `…/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`. */
export interface ResourcePath {
  readonly group: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly plural: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

/** `/api/<version>` or `/apis/<group>/<version>`: a group version's resource list. */
export interface GroupVersionPath {
  readonly group: string;
  readonly version: string;
  readonly plural?: undefined;
}

/**
 * Splits `/api/v1/…` and `/apis/<group>/<version>/…` into their parts, `%`-decoded; `undefined`
 * if neither. The path is the request's own, never resolved: `..` and `%2e%2e` are segments like
 * any other, as Go's server keeps them, so no path reaches another namespace's objects. A
 * malformed `%` escape is BadRequest, as Go's HTTP server answers it, and so is a namespace or
 * name that cannot be one (`.`, `..`, or holding `/` or `%`), as the API server answers it.
 */
export function parseResourcePath(pathname: string): ResourcePath | GroupVersionPath | undefined {
  const segments = pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeSegment);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) {
    group = "";
    version = segments[1]!;
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    group = segments[1]!;
    version = segments[2]!;
    rest = segments.slice(3);
  } else return undefined;
  if (rest.length === 0) return { group, version };
  let namespace: string | undefined;
  // namespaces/<ns>/<plural>/… is a namespaced resource; namespaces[/<name>[/status]] is Namespace itself.
  if (
    rest[0] === "namespaces" &&
    rest.length >= 3 &&
    !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))
  ) {
    namespace = checkPathSegmentName("namespace", rest[1]!);
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  const name = rest[1] === undefined ? undefined : checkPathSegmentName("name", rest[1]);
  return { group, version, namespace, plural: rest[0]!, name, subresource: rest[2] };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`invalid URL escape in the path segment ${JSON.stringify(segment)}`);
  }
}

/** A request's path, exactly as sent (still `%`-encoded), and its query. */
export interface RequestTarget {
  readonly pathname: string;
  readonly query: URLSearchParams;
}

/**
 * The path and query of a request's target: a path (origin form, `//` kept as part of the
 * path, not read as a host) or an absolute URL; anything else is BadRequest. Nothing in the
 * path is resolved or rewritten — no `..` or `%2e%2e` removed, no `\` read as `/` — as Go's
 * server (`url.ParseRequestURI`) keeps them: a WHATWG `URL` would resolve
 * `namespaces/team-a/%2e%2e/team-b` into team-b's namespace.
 */
export function requestTarget(target: string | undefined): RequestTarget {
  const raw = target ?? "/";
  let rest = raw;
  if (!raw.startsWith("/")) {
    const origin = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(raw);
    if (origin === null)
      throw badRequest(`malformed request target ${JSON.stringify(raw.slice(0, 200))}`);
    rest = raw.slice(origin[0].length);
    if (!rest.startsWith("/")) rest = `/${rest}`;
  }
  const queryAt = rest.indexOf("?");
  return queryAt < 0
    ? { pathname: rest, query: new URLSearchParams() }
    : { pathname: rest.slice(0, queryAt), query: new URLSearchParams(rest.slice(queryAt + 1)) };
}
