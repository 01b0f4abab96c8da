/**
 * A watch request as every setpoint store reads it: `WatchOptions` checked and parsed once, and
 * which event a change is for a watch's selection.
 */
import type { StoredObject, WatchEvent, WatchOptions } from "./backend.js";
import { type Selectors, selectorsOf } from "./list-query.js";
import { parseRevision } from "./revision.js";

/** Which changes a watch delivers. */
export interface WatchFilter extends Selectors {
  readonly namespace: string | undefined;
}

/** What a watch asks for. */
export interface WatchQuery {
  readonly filter: WatchFilter;
  /** The revision to deliver changes after; `undefined`: from the current one. */
  readonly from: number | undefined;
  /** How often a quiet watch sends a bookmark; `undefined` when it sends none. */
  readonly bookmarkIntervalMs: number | undefined;
}

/** Checks and parses `options`: `BadRequest` for a bad revision or selector. */
export function watchQuery(options: WatchOptions): WatchQuery {
  const { labels, fields } = selectorsOf(options);
  const from =
    options.resourceVersion === undefined || options.resourceVersion === ""
      ? undefined
      : parseRevision(options.resourceVersion);
  const interval = options.bookmarkIntervalMs ?? 60_000;
  if (!(interval > 0)) throw new RangeError(`bookmarkIntervalMs (${interval}) must be positive`);
  return {
    filter: { namespace: options.namespace === "" ? undefined : options.namespace, labels, fields },
    from,
    bookmarkIntervalMs: options.allowBookmarks ? interval : undefined,
  };
}

/** One change as a store's history keeps it, for {@link eventFor}. */
export interface RecordedChange {
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: StoredObject;
  /** The labels before the change, when they differ from `object`'s. */
  readonly previousLabels: Readonly<Record<string, string>> | undefined;
}

function matches(
  filter: WatchFilter,
  object: StoredObject,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const { namespace, labels: labelSelector, fields } = filter;
  if (namespace !== undefined && object.metadata.namespace !== namespace) return false;
  if (fields !== undefined && !fields.matches(object.metadata)) return false;
  return labelSelector === undefined || labelSelector.matches(labels);
}

/**
 * What a watch with `filter` delivers for a change: with a label selector, a change that moves
 * an object into the selection is ADDED and one that moves it out is DELETED (carrying the object
 * as changed), as the Kubernetes watch cache does; nothing for a change outside the selection.
 */
export function eventFor(entry: RecordedChange, filter: WatchFilter): WatchEvent | undefined {
  const { object, type } = entry;
  const now = matches(filter, object, object.metadata.labels);
  if (filter.labels === undefined || entry.previousLabels === undefined || type === "ADDED") {
    return now ? { type, object } : undefined;
  }
  const before = matches(filter, object, entry.previousLabels);
  if (type === "DELETED") return now || before ? { type, object } : undefined;
  if (now && before) return { type: "MODIFIED", object };
  if (now) return { type: "ADDED", object };
  if (before) return { type: "DELETED", object };
  return undefined;
}
