/**
 * A list request as every setpoint store reads it: `ListOptions` checked and parsed once, and
 * the page a store answers, with its `continue` token.
 */
import { badRequest } from "../model/api-error.js";
import {
  type FieldSelector,
  type LabelSelector,
  toFieldSelector,
  toLabelSelector,
} from "../model/selector.js";
import type { ListOptions, ObjectList, StoredObject } from "./backend.js";
import { type ContinueToken, decodeContinue, encodeContinue } from "./continue-token.js";
import { parseRevision, tooLargeResourceVersion } from "./revision.js";

/** A request's label and field selectors, parsed. */
export interface Selectors {
  readonly labels: LabelSelector | undefined;
  readonly fields: FieldSelector | undefined;
}

/** The selectors of a list or watch request; `BadRequest` for a malformed one. */
export function selectorsOf(options: {
  readonly labelSelector?: ListOptions["labelSelector"];
  readonly fieldSelector?: ListOptions["fieldSelector"];
}): Selectors {
  return {
    labels:
      options.labelSelector === undefined ? undefined : toLabelSelector(options.labelSelector),
    fields:
      options.fieldSelector === undefined ? undefined : toFieldSelector(options.fieldSelector),
  };
}

/** What a list asks for. */
export interface ListQuery extends Selectors {
  /** At most this many items; 0 for all. */
  readonly limit: number;
  /** Only this namespace (from `namespace`, or an exact `metadata.namespace` field selector). */
  readonly namespace: string | undefined;
  /** Where the list goes on, for a later page. */
  readonly token: ContinueToken | undefined;
  /** The revision to read at exactly (`resourceVersionMatch: "Exact"`). */
  readonly exact: number | undefined;
  /** The revision the state read must have reached (a `resourceVersion` otherwise). */
  readonly notOlderThan: number | undefined;
}

/** Checks and parses `options`: `BadRequest` for a bad limit, selector or token. */
export function listQuery(options: ListOptions): ListQuery {
  const { labels, fields } = selectorsOf(options);
  const limit = options.limit ?? 0;
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw badRequest(`limit (${limit}) must be a non-negative integer`);
  const namespace =
    options.namespace === ""
      ? undefined
      : (options.namespace ?? fields?.exact("metadata.namespace"));
  const token =
    options.continue === undefined || options.continue === ""
      ? undefined
      : decodeContinue(options.continue);
  const { resourceVersion: asked = "", resourceVersionMatch: match } = options;
  if (match !== undefined && match !== "Exact" && match !== "NotOlderThan")
    throw badRequest(`resourceVersionMatch "${String(match)}" is not supported`);
  const revision = asked === "" || asked === "0" ? undefined : parseRevision(asked);
  if (revision !== undefined && token !== undefined)
    throw badRequest("specifying resource version is not allowed when using continue");
  if (match === "Exact" && revision === undefined)
    throw badRequest("resourceVersionMatch Exact needs a resourceVersion other than 0");
  return {
    labels,
    fields,
    limit,
    namespace,
    token,
    exact: match === "Exact" ? revision : undefined,
    notOlderThan: match === "Exact" ? undefined : revision,
  };
}

/**
 * Checks a list's revision against the store's `current` one: `Timeout` (504) for a revision it
 * has not reached. Returns the revision to read at: the exact one asked for, or `current`.
 */
export function listRevision(query: ListQuery, current: number): number {
  const asked = query.exact ?? query.notOlderThan;
  if (asked !== undefined && asked > current) throw tooLargeResourceVersion(asked, current);
  return query.exact ?? current;
}

/** Whether an object's metadata matches the query's selectors. */
export function matchesQuery(query: ListQuery, metadata: StoredObject["metadata"]): boolean {
  return (
    (query.labels === undefined || query.labels.matches(metadata.labels)) &&
    (query.fields === undefined || query.fields.matches(metadata))
  );
}

/**
 * A page of a list read at `revision`; with `more`, a `continue` token after its last item (whose
 * later pages read the same revision).
 */
export function listPage(
  items: readonly StoredObject[],
  revision: number,
  more: boolean,
): ObjectList {
  const last = items[items.length - 1]?.metadata;
  if (!more || last === undefined) return { items, resourceVersion: String(revision) };
  const token: ContinueToken =
    last.namespace === undefined
      ? { rv: revision, name: last.name }
      : { rv: revision, ns: last.namespace, name: last.name };
  return { items, resourceVersion: String(revision), continue: encodeContinue(token) };
}
