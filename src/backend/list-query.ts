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
  return { labels, fields, limit, namespace, token };
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
