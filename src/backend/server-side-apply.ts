/**
 * Server-side apply and field ownership (`metadata.managedFields`), as kube-apiserver keeps them
 * (sigs.k8s.io/structured-merge-diff's `merge.Updater` behind k8s.io/apiserver's fieldmanager),
 * as pure functions over plain objects.
 *
 * - {@link toFieldSet}: the fields an object (an applied configuration) sets, by the object's
 *   schema: objects are granular (each member its own field) unless `mapType: atomic`; lists
 *   merge by their keys (`listType: map` with `listMapKeys`, or a `patchMergeKey`), as sets
 *   (`listType: set`), or are atomic (the default: one field).
 * - {@link applyConfiguration}: an apply by a manager: the configuration is merged into the live
 *   object; fields the manager applied before and applies no longer are removed unless another
 *   manager owns them; a field another manager owns and the apply changes is a conflict (409)
 *   unless `force`, which takes it over.
 * - {@link recordUpdate}: any other write by a manager (create, update, patch): it owns the fields
 *   it changed, from then on, and takes them from the others; fields it removed are nobody's. At
 *   most {@link maxUpdateManagers} Update entries are kept, the oldest folded into
 *   `ancient-changes`.
 * - An applied configuration with `metadata.managedFields`, or two items of one key in an
 *   associative list, is refused (400); {@link checkAppliedType} refuses one of another type.
 *
 * Lists are merged and compared through maps of their items by path element, never by searching
 * them: linear in their length, however many items managers share.
 *
 * ## Caveats (deliberate simplifications of structured-merge-diff)
 * - One version per kind: entries are not converted between API versions.
 * - Where `.` appears in an `Update` entry differs in places: structured-merge-diff leaves it off
 *   Go structs that always exist (a Deployment's `spec.template`) and marks atomic structs
 *   (`spec.selector: {}`); here every object or list a write adds is marked with `.`, and only
 *   `metadata`, `spec` and `status` are taken to always exist. Ownership and conflicts are the same.
 * - Lists merge by key in this order: the live object's items (merged with the applied ones of
 *   the same key), then the applied items that are new, in the applied order.
 */
import { ApiError, badRequest, type StatusCause } from "../model/api-error.js";
import { deepEqual, setOwn } from "../model/json.js";
import type { ManagedFieldsEntry } from "../model/resource.js";
import { isPlainObject } from "../model/validation.js";
import {
  difference,
  FieldSet,
  fromFieldsV1,
  intersection,
  pathString,
  recursiveDifference,
  toFieldsV1,
  union,
} from "./field-set.js";

/** What the schema says of one field: how its list merges, whether its object is atomic. */
export interface FieldInfo {
  /** `map` (items keyed by `listMapKeys`), `set` (primitive items) or `atomic`. */
  readonly listType?: string;
  readonly listMapKeys?: readonly string[];
  /** Strategic merge patch's key: a list with one (and no `listType`) merges by it. */
  readonly patchMergeKey?: string;
  readonly patchStrategy?: string;
  /** `atomic`: the object is one field, replaced whole; else each member is a field. */
  readonly mapType?: string;
  /** The schema of the field's value: of each item of a list, of each value of a map. */
  readonly schema?: FieldSchema;
}

/** The schema of an object's fields, one level at a time; `undefined` for a field it does not know. */
export interface FieldSchema {
  field(name: string): FieldInfo | undefined;
}

type JsonObject = Record<string, unknown>;

/** How a list merges. */
type ListKind =
  | { readonly type: "atomic" }
  | { readonly type: "set" }
  | {
      readonly type: "map";
      readonly keys: readonly string[];
    };

const atomicList: ListKind = { type: "atomic" };
const setList: ListKind = { type: "set" };

function listKind(info: FieldInfo | undefined): ListKind {
  if (info === undefined) return atomicList;
  const { listType } = info;
  if (listType === "map") {
    const keys = info.listMapKeys ?? (info.patchMergeKey ? [info.patchMergeKey] : []);
    return keys.length > 0 ? { type: "map", keys } : atomicList;
  }
  if (listType === "set") return setList;
  if (listType === undefined && info.patchStrategy?.split(",").includes("merge"))
    return info.patchMergeKey ? { type: "map", keys: [info.patchMergeKey] } : setList;
  return atomicList;
}

/**
 * Defaults of list-map keys a client may leave out, as the API's defaulting fills them in
 * before structured-merge-diff sees them (a container port's `protocol`).
 */
const keyDefaults: Readonly<Record<string, unknown>> = { protocol: "TCP" };

/**
 * The path element of a keyed list's item: `k:{"name":"app"}` (keys in name order), or
 * `undefined` for an item that is not an object or has none of the keys.
 */
function keyElement(item: unknown, keys: readonly string[]): string | undefined {
  if (!isPlainObject(item)) return undefined;
  const key: JsonObject = {};
  let found = false;
  for (const name of [...keys].sort()) {
    const value = Object.hasOwn(item, name) ? item[name] : keyDefaults[name];
    if (value === undefined || value === null) continue;
    if (Object.hasOwn(item, name)) found = true;
    key[name] = value;
  }
  return found ? `k:${JSON.stringify(key)}` : undefined;
}

/** Whether every item of a keyed list has a key (else the list is handled as atomic). */
function keyedItems(list: readonly unknown[], keys: readonly string[]): string[] | undefined {
  const elements: string[] = [];
  for (const item of list) {
    const element = keyElement(item, keys);
    if (element === undefined) return undefined;
    elements.push(element);
  }
  return elements;
}

function valueElement(item: unknown): string {
  return `v:${canonicalJson(item)}`;
}

/** JSON text of `value` with every object's keys in name order: equal values, equal text. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const object = value as JsonObject;
  const parts: string[] = [];
  for (const key of Object.keys(object).sort())
    if (object[key] !== undefined)
      parts.push(`${JSON.stringify(key)}:${canonicalJson(object[key])}`);
  return `{${parts.join(",")}}`;
}

/** Adds the fields of `value`, the value of the field `element`, to `set`. */
function addValue(
  set: FieldSet,
  element: string,
  value: unknown,
  info: FieldInfo | undefined,
  dot: boolean,
): void {
  if (isPlainObject(value)) {
    if (info?.mapType === "atomic" || Object.keys(value).length === 0) set.members.add(element);
    else {
      if (dot) set.members.add(element);
      const child = new FieldSet();
      addObject(child, value, info?.schema, dot);
      if (!child.empty) set.children.set(element, union(set.children.get(element) ?? child, child));
    }
    return;
  }
  if (Array.isArray(value)) {
    const kind = listKind(info);
    if (kind.type === "set" && value.every((v) => v === null || typeof v !== "object")) {
      if (value.length === 0) return;
      if (dot) set.members.add(element);
      const child = set.child(element);
      for (const item of value) child.members.add(valueElement(item));
      return;
    }
    const elements = kind.type === "map" ? keyedItems(value, kind.keys) : undefined;
    if (kind.type !== "map" || elements === undefined) {
      set.members.add(element);
      return;
    }
    if (value.length === 0) return;
    if (dot) set.members.add(element);
    const child = set.child(element);
    value.forEach((item, i) => {
      const itemElement = elements[i]!;
      child.members.add(itemElement);
      if (Object.keys(item as JsonObject).length > 0)
        addObject(child.child(itemElement), item as JsonObject, info?.schema, dot);
    });
    return;
  }
  set.members.add(element);
}

function addObject(
  set: FieldSet,
  object: Readonly<JsonObject>,
  schema: FieldSchema | undefined,
  dot: boolean,
): void {
  for (const key of Object.keys(object)) {
    const value = object[key];
    // A member left undefined (a draft's) is not there at all.
    if (value !== undefined) addValue(set, `f:${key}`, value, schema?.field(key), dot);
  }
}

/**
 * The fields `object` sets, by `schema` (see the module documentation): what an apply of it
 * owns. Every scalar, atomic list or object, and empty object is a member, and so is every item
 * of a keyed list (with its fields below it).
 * @example
 * toFieldSet({ spec: { replicas: 2 } }, undefined); // {"f:spec": {"f:replicas": {}}}
 */
export function toFieldSet(
  object: Readonly<JsonObject>,
  schema: FieldSchema | undefined,
): FieldSet {
  const set = new FieldSet();
  addObject(set, object, schema, false);
  return set;
}

/** Which part of an object a write tracks: the main resource (not status) or status alone. */
export type FieldScope = "main" | "status";

/** Metadata fields nobody owns (k8s.io/apiserver's stripMetaManager). */
const untrackedMetadata = [
  "name",
  "namespace",
  "generateName",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "selfLink",
  "uid",
  "clusterName",
  "generation",
  "managedFields",
  "resourceVersion",
];

/** `set` without what a write of `scope` never owns. */
export function scoped(set: FieldSet, scope: FieldScope): FieldSet {
  const out = new FieldSet();
  for (const m of set.members) if (tracked(m, scope)) out.members.add(m);
  for (const [e, child] of set.children) {
    if (!tracked(e, scope)) continue;
    if (e === "f:metadata") {
      const meta = new FieldSet();
      for (const m of child.members)
        if (!untrackedMetadata.includes(m.slice(2))) meta.members.add(m);
      for (const [me, sub] of child.children)
        if (!untrackedMetadata.includes(me.slice(2))) meta.children.set(me, sub);
      if (!meta.empty) out.children.set(e, meta);
    } else out.children.set(e, child);
  }
  return out;
}

function tracked(element: string, scope: FieldScope): boolean {
  if (scope === "status") return element === "f:status";
  return element !== "f:status" && element !== "f:apiVersion" && element !== "f:kind";
}

/**
 * Indexes of lists' items by path element, built once per list and way of keying it (`v`, or
 * `k` and the key names), so that finding every item of a list is linear, not quadratic.
 */
class ItemIndex {
  private readonly lists = new WeakMap<readonly unknown[], Map<string, Map<string, number>>>();

  /** The index in `list` of the first item whose element (by `elementOf`) is `element`, or -1. */
  find(
    list: readonly unknown[],
    way: string,
    element: string,
    elementOf: (item: unknown) => string | undefined,
  ): number {
    let ways = this.lists.get(list);
    if (ways === undefined) {
      ways = new Map();
      this.lists.set(list, ways);
    }
    let index = ways.get(way);
    if (index === undefined) {
      index = new Map();
      for (let i = 0; i < list.length; i++) {
        const e = elementOf(list[i]);
        if (e !== undefined && !index.has(e)) index.set(e, i);
      }
      ways.set(way, index);
    }
    return index.get(element) ?? -1;
  }
}

/** The index of the item `element` names in `list`, or -1. */
function findItem(
  list: readonly unknown[],
  element: string,
  info: FieldInfo | undefined,
  items: ItemIndex,
): number {
  switch (element[0]) {
    case "k": {
      const kind = listKind(info);
      const keys = kind.type === "map" ? kind.keys : Object.keys(safeParse(element.slice(2)));
      return items.find(list, `k${JSON.stringify(keys)}`, element, (item) =>
        keyElement(item, keys),
      );
    }
    case "v":
      return items.find(list, "v", element, valueElement);
    case "i": {
      const index = Number(element.slice(2));
      return Number.isInteger(index) && index < list.length ? index : -1;
    }
    default:
      return -1;
  }
}

function safeParse(text: string): JsonObject {
  try {
    const value = JSON.parse(text);
    return isPlainObject(value) ? value : {};
  } catch {
    return {};
  }
}

/** The value at `element` of a container (an object for `f:`, a list for the others). */
function at(
  container: unknown,
  element: string,
  info: FieldInfo | undefined,
  items: ItemIndex,
): unknown {
  if (element.startsWith("f:")) {
    const name = element.slice(2);
    return isPlainObject(container) && Object.hasOwn(container, name) ? container[name] : undefined;
  }
  if (!Array.isArray(container)) return undefined;
  const index = findItem(container, element, info, items);
  return index < 0 ? undefined : container[index];
}

/**
 * The schema info of what lies at `element`: a field's own info; a list item's is its list's
 * (whose `schema` describes the item).
 */
function infoAt(
  schema: FieldSchema | undefined,
  listInfo: FieldInfo | undefined,
  element: string,
): FieldInfo | undefined {
  return element.startsWith("f:") ? schema?.field(element.slice(2)) : listInfo;
}

/**
 * The schema one level into the value at `element`: an object field's members are described by
 * its info's schema; a list's items by the list info's schema.
 */
function schemaBelow(info: FieldInfo | undefined): FieldSchema | undefined {
  return info?.schema;
}

// --- merging -------------------------------------------------------------------------------

/** The applied configuration `config` merged into `live`, structured-merge-diff's way. */
export function mergeApplied(live: unknown, config: unknown, info: FieldInfo | undefined): unknown {
  if (config === undefined) return live;
  if (isPlainObject(config)) {
    if (info?.mapType === "atomic" || !isPlainObject(live)) return withoutNulls(config);
    const out: JsonObject = { ...live };
    for (const key of Object.keys(config)) {
      const value = config[key];
      if (value === null) delete out[key];
      else
        setOwn(
          out,
          key,
          mergeApplied(
            Object.hasOwn(live, key) ? live[key] : undefined,
            value,
            info?.schema?.field(key),
          ),
        );
    }
    return out;
  }
  if (Array.isArray(config)) {
    const kind = listKind(info);
    if (!Array.isArray(live) || kind.type === "atomic") return config;
    if (kind.type === "set") {
      const out = [...live];
      const seen = new Set<string>(live.map(valueElement));
      for (const item of config) {
        const element = valueElement(item);
        if (seen.has(element)) continue;
        seen.add(element);
        out.push(item);
      }
      return out;
    }
    const liveKeys = keyedItems(live, kind.keys);
    const configKeys = keyedItems(config, kind.keys);
    if (liveKeys === undefined || configKeys === undefined) return config;
    const byKey = new Map<string, unknown>();
    for (let i = 0; i < config.length; i++) byKey.set(configKeys[i]!, config[i]);
    const out = live.map((item, i) => {
      const applied = byKey.get(liveKeys[i]!);
      if (applied === undefined) return item;
      byKey.delete(liveKeys[i]!);
      return mergeApplied(item, applied, { schema: info?.schema } as FieldInfo);
    });
    for (const item of byKey.values()) out.push(mergeApplied(undefined, item, undefined));
    return out;
  }
  return config;
}

function withoutNulls(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  let out: JsonObject | undefined;
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (item === null) {
      out ??= { ...value };
      delete out[key];
    } else if (isPlainObject(item)) {
      const cleaned = withoutNulls(item);
      if (cleaned !== item) {
        out ??= { ...value };
        setOwn(out, key, cleaned);
      }
    }
  }
  return out ?? value;
}

// --- removing ------------------------------------------------------------------------------

/**
 * `value` without the paths of `remove`, except where `keep` holds the path or a path below it
 * (another manager's fields keep the object or list item they sit in). A list item's key fields
 * stay while the item does.
 */
function removeFields(
  value: unknown,
  remove: FieldSet,
  keep: FieldSet | undefined,
  schema: FieldSchema | undefined,
  listInfo: FieldInfo | undefined,
  keyFields: readonly string[],
): unknown {
  if (isPlainObject(value)) {
    let out: JsonObject | undefined;
    const elements = new Set<string>([...remove.members, ...remove.children.keys()]);
    for (const element of elements) {
      if (!element.startsWith("f:")) continue;
      const name = element.slice(2);
      if (!Object.hasOwn(value, name) || keyFields.includes(name)) continue;
      const kept = keep?.children.get(element);
      if (remove.members.has(element) && !keep?.members.has(element) && kept === undefined) {
        out ??= { ...value };
        delete out[name];
        continue;
      }
      const below = remove.children.get(element);
      if (below === undefined) continue;
      const info = schema?.field(name);
      const next = removeFields(value[name], below, kept, schemaBelow(info), info, []);
      if (next !== value[name]) {
        out ??= { ...value };
        setOwn(out, name, next);
      }
    }
    return out ?? value;
  }
  if (Array.isArray(value)) {
    const kind = listKind(listInfo);
    const keys = kind.type === "map" ? kind.keys : [];
    let changed = false;
    const out: unknown[] = [];
    for (const item of value) {
      const element =
        kind.type === "map"
          ? keyElement(item, kind.keys)
          : kind.type === "set"
            ? valueElement(item)
            : undefined;
      if (element === undefined) {
        out.push(item);
        continue;
      }
      const kept = keep?.children.get(element);
      if (remove.members.has(element) && !keep?.members.has(element) && kept === undefined) {
        changed = true;
        continue;
      }
      const below = remove.children.get(element);
      const next =
        below === undefined
          ? item
          : removeFields(item, below, kept, schemaBelow(listInfo), undefined, keys);
      if (next !== item) changed = true;
      out.push(next);
    }
    return changed ? out : value;
  }
  return value;
}

// --- comparing -----------------------------------------------------------------------------

/** What a write changed, as field sets: set or changed (`changed`), and gone (`removed`). */
interface Comparison {
  readonly changed: FieldSet;
  readonly removed: FieldSet;
}

/**
 * Adds to `out` what changed from `before` to `after` at `element` of their containers.
 * `dot`: an added object or list item is a member too (an Update entry's `.`).
 */
function compareValue(
  before: unknown,
  after: unknown,
  element: string,
  info: FieldInfo | undefined,
  out: { changed: FieldSet; removed: FieldSet },
  dot: boolean,
): void {
  if (before === after) return;
  if (after === undefined) {
    addValue(out.removed, element, before, info, true);
    out.removed.members.add(element);
    return;
  }
  if (before === undefined) {
    addValue(out.changed, element, after, info, dot);
    if (dot) out.changed.members.add(element);
    return;
  }
  if (isPlainObject(before) && isPlainObject(after) && info?.mapType !== "atomic") {
    const sub = { changed: new FieldSet(), removed: new FieldSet() };
    compareObjects(before, after, info?.schema, sub, dot);
    if (!sub.changed.empty) out.changed.children.set(element, sub.changed);
    if (!sub.removed.empty) out.removed.children.set(element, sub.removed);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const kind = listKind(info);
    const beforeKeys =
      kind.type === "map"
        ? keyedItems(before, kind.keys)
        : kind.type === "set"
          ? before.map(valueElement)
          : undefined;
    const afterKeys =
      kind.type === "map"
        ? keyedItems(after, kind.keys)
        : kind.type === "set"
          ? after.map(valueElement)
          : undefined;
    if (beforeKeys !== undefined && afterKeys !== undefined) {
      const sub = { changed: new FieldSet(), removed: new FieldSet() };
      const itemInfo = { schema: info?.schema } as FieldInfo;
      const old = new Map<string, unknown>();
      // The first item of each key, as the removed ones are described.
      const first = new Map<string, unknown>();
      for (let i = 0; i < before.length; i++) {
        old.set(beforeKeys[i]!, before[i]);
        if (!first.has(beforeKeys[i]!)) first.set(beforeKeys[i]!, before[i]);
      }
      after.forEach((item, i) => {
        const key = afterKeys[i]!;
        const was = old.get(key);
        old.delete(key);
        if (kind.type === "set") {
          if (was === undefined && !first.has(key)) sub.changed.members.add(key);
          return;
        }
        if (was === undefined) {
          sub.changed.members.add(key);
          if (Object.keys(item as JsonObject).length > 0)
            addObject(sub.changed.child(key), item as JsonObject, info?.schema, dot);
          return;
        }
        compareValue(was, item, key, itemInfo, sub, dot);
      });
      for (const key of old.keys()) {
        sub.removed.members.add(key);
        const item = first.get(key);
        if (isPlainObject(item)) addObject(sub.removed.child(key), item, info?.schema, true);
      }
      if (!sub.changed.empty) out.changed.children.set(element, sub.changed);
      if (!sub.removed.empty) out.removed.children.set(element, sub.removed);
      return;
    }
  }
  if (!deepEqual(before, after)) {
    out.changed.members.add(element);
    // A value replaced whole (an atomic list, a scalar turned object): what was below it is gone.
    if (isPlainObject(before) || Array.isArray(before)) {
      const gone = new FieldSet();
      addValue(gone, element, before, info, true);
      const below = gone.children.get(element);
      if (below !== undefined) out.removed.children.set(element, below);
    }
  }
}

function compareObjects(
  before: Readonly<JsonObject>,
  after: Readonly<JsonObject>,
  schema: FieldSchema | undefined,
  out: { changed: FieldSet; removed: FieldSet },
  dot: boolean,
): void {
  for (const key of Object.keys(before)) {
    if (before[key] === undefined) continue;
    const next = Object.hasOwn(after, key) ? after[key] : undefined;
    compareValue(before[key], next, `f:${key}`, schema?.field(key), out, dot);
  }
  for (const key of Object.keys(after)) {
    if (Object.hasOwn(before, key) || after[key] === undefined) continue;
    compareValue(undefined, after[key], `f:${key}`, schema?.field(key), out, dot);
  }
}

/** What changed from `before` to `after` (whole objects), as field sets. */
export function compare(
  before: Readonly<JsonObject>,
  after: Readonly<JsonObject>,
  schema: FieldSchema | undefined,
): Comparison {
  const out = { changed: new FieldSet(), removed: new FieldSet() };
  compareObjects(before, after, schema, out, true);
  return out;
}

// --- managers ------------------------------------------------------------------------------

/** One manager's entry, decoded. */
interface Managed {
  entry: ManagedFieldsEntry;
  set: FieldSet;
  time: string | undefined;
  changed: boolean;
}

function decode(entries: readonly ManagedFieldsEntry[] | undefined): Managed[] {
  return (entries ?? []).map((entry) => ({
    entry,
    set: fromFieldsV1(entry.fieldsV1),
    time: entry.time,
    changed: false,
  }));
}

/** Whether two entries are the same manager: Apply entries regardless of apiVersion, as Kubernetes. */
function sameManager(
  entry: ManagedFieldsEntry,
  manager: string,
  operation: ManagedFieldsEntry["operation"],
  apiVersion: string,
  subresource: string | undefined,
): boolean {
  return (
    entry.manager === manager &&
    entry.operation === operation &&
    (operation === "Apply" || entry.apiVersion === apiVersion) &&
    (entry.subresource ?? undefined) === subresource
  );
}

/** The entries of `managers`, sorted as Kubernetes sorts them; `previous` itself if unchanged. */
function encode(
  managers: readonly Managed[],
  previous: readonly ManagedFieldsEntry[] | undefined,
): readonly ManagedFieldsEntry[] | undefined {
  const live = managers.filter((m) => !m.set.empty);
  if (
    previous !== undefined &&
    live.length === previous.length &&
    live.every((m, i) => !m.changed && m.entry === previous[i])
  )
    return previous;
  if (live.length === 0) return undefined;
  const entries = live.map((m): ManagedFieldsEntry => {
    if (!m.changed) return m.entry;
    const { manager, operation, apiVersion, subresource } = m.entry;
    return {
      manager,
      operation,
      apiVersion,
      ...(m.time === undefined ? {} : { time: m.time }),
      fieldsType: "FieldsV1",
      fieldsV1: toFieldsV1(m.set),
      ...(subresource === undefined ? {} : { subresource }),
    };
  });
  return entries.sort(compareEntries);
}

function compareEntries(p: ManagedFieldsEntry, q: ManagedFieldsEntry): number {
  if (p.operation !== q.operation) return p.operation < q.operation ? -1 : 1;
  const pt = p.time ?? "";
  const qt = q.time ?? "";
  if (pt !== qt) return pt < qt ? -1 : 1;
  if (p.manager !== q.manager) return p.manager < q.manager ? -1 : 1;
  if (p.apiVersion !== q.apiVersion) return p.apiVersion < q.apiVersion ? -1 : 1;
  const ps = p.subresource ?? "";
  const qs = q.subresource ?? "";
  return ps < qs ? -1 : ps > qs ? 1 : 0;
}

/** One field another manager owns that an apply would change. */
export interface FieldConflict {
  readonly manager: ManagedFieldsEntry;
  readonly path: readonly string[];
}

/**
 * Kubernetes' answer to an apply that conflicts (409 Conflict): `Apply failed with 1 conflict:
 * conflict with "b" using v1: .spec.replicas`, one `FieldManagerConflict` cause per field.
 */
export function applyConflictError(conflicts: readonly FieldConflict[]): ApiError {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: "FieldManagerConflict",
    message: `conflict with ${printManager(c.manager)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    const [only] = conflicts;
    message = `conflict with ${printManager(only!.manager)}: ${pathString(only!.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const name = printManager(c.manager);
      const paths = byManager.get(name) ?? [];
      paths.push(pathString(c.path));
      byManager.set(name, paths);
    }
    message = [...byManager.keys()]
      .sort()
      .flatMap((name) => [`conflicts with ${name}:`, ...byManager.get(name)!.map((p) => `- ${p}`)])
      .join("\n");
  }
  const plural = conflicts.length === 1 ? "" : "s";
  return new ApiError(
    "Conflict",
    `Apply failed with ${conflicts.length} conflict${plural}: ${message}`,
    {
      details: { causes },
    },
  );
}

/** A manager as conflict messages name it: `"b"`, `"b" using v1`, `"b" with subresource "status"`. */
function printManager(entry: ManagedFieldsEntry): string {
  let out = JSON.stringify(entry.manager);
  if (entry.subresource) out += ` with subresource ${JSON.stringify(entry.subresource)}`;
  if (entry.operation === "Update") {
    out += ` using ${entry.apiVersion}`;
    if (entry.time !== undefined) out += ` at ${entry.time}`;
  }
  return out;
}

/**
 * The paths of `owned` (another manager's) that going from `before` to `after` changed: added or
 * modified (`changed`), or gone (`removed`). Only the values at owned paths are compared.
 */
function ownedChanges(
  owned: FieldSet,
  before: unknown,
  after: unknown,
  schema: FieldSchema | undefined,
  listInfo: FieldInfo | undefined,
  prefix: string[],
  changed: string[][],
  removed: FieldSet,
  items: ItemIndex,
): void {
  if (before === after) return;
  const elements = new Set<string>([...owned.members, ...owned.children.keys()]);
  for (const element of elements) {
    const info = infoAt(schema, listInfo, element);
    const b = at(before, element, listInfo, items);
    const a = at(after, element, listInfo, items);
    if (a === undefined) {
      if (b !== undefined) {
        if (owned.members.has(element)) removed.members.add(element);
        const below = owned.children.get(element);
        if (below !== undefined) removed.children.set(element, below);
      }
      continue;
    }
    if (owned.members.has(element)) {
      if (b === undefined) changed.push([...prefix, element]);
      else if (isLeaf(b, a, info) && !deepEqual(b, a)) changed.push([...prefix, element]);
    }
    const below = owned.children.get(element);
    if (below !== undefined && a !== b) {
      const sub = new FieldSet();
      ownedChanges(below, b, a, schemaBelow(info), info, [...prefix, element], changed, sub, items);
      if (!sub.empty) removed.children.set(element, sub);
    }
  }
}

/** Whether a member at these values is one field (compared whole), not a node with fields below. */
function isLeaf(before: unknown, after: unknown, info: FieldInfo | undefined): boolean {
  if (isPlainObject(before) && isPlainObject(after)) return info?.mapType === "atomic";
  if (Array.isArray(before) && Array.isArray(after)) return listKind(info).type === "atomic";
  return true;
}

function withoutPaths(set: FieldSet, paths: readonly (readonly string[])[]): FieldSet {
  if (paths.length === 0) return set;
  const drop = new FieldSet();
  for (const path of paths) drop.insert(path);
  return recursiveDifferenceMembers(set, drop);
}

/** `set` without the members of `drop` (what lies below them stays). */
function recursiveDifferenceMembers(set: FieldSet, drop: FieldSet): FieldSet {
  const out = new FieldSet();
  for (const m of set.members) if (!drop.members.has(m)) out.members.add(m);
  for (const [e, child] of set.children) {
    const theirs = drop.children.get(e);
    const kept = theirs === undefined ? child : recursiveDifferenceMembers(child, theirs);
    if (!kept.empty) out.children.set(e, kept);
  }
  return out;
}

// --- checking an applied configuration ----------------------------------------------------

/** The group, version and kind as k8s.io/apimachinery prints them: `apps/v1, Kind=Deployment`. */
function printGvk(apiVersion: unknown, kind: unknown): string {
  const version = typeof apiVersion === "string" ? apiVersion : "";
  const parts = version.split("/");
  // ParseGroupVersion: `v1` is the core group's; more than one `/` is no group version at all.
  const [group, ver] =
    version === "" || parts.length > 2 ? ["", ""] : parts.length === 1 ? ["", version] : parts;
  return `${group}/${ver}, Kind=${typeof kind === "string" ? kind : ""}`;
}

/**
 * Refuses an applied configuration of another type than `apiVersion` and `kind` (400 `invalid
 * object type: apps/v1, Kind=Deployment`, kube-apiserver's versionCheckManager). `required`:
 * the configuration must name them (a served request's, as kube-apiserver); else one that
 * leaves them out is of the kind being applied (a library call's).
 */
export function checkAppliedType(
  config: Readonly<JsonObject>,
  apiVersion: string,
  kind: string,
  required: boolean,
): void {
  const given = {
    apiVersion: config.apiVersion === undefined && !required ? apiVersion : config.apiVersion,
    kind: config.kind === undefined && !required ? kind : config.kind,
  };
  if (given.apiVersion !== apiVersion || given.kind !== kind)
    throw badRequest(`invalid object type: ${printGvk(given.apiVersion, given.kind)}`);
}

/**
 * The errors of an applied configuration as structured-merge-diff finds them making it a typed
 * value: two items of one key in an associative list (a list-map or a set).
 */
function configErrors(
  value: unknown,
  info: FieldInfo | undefined,
  path: string[],
  errors: string[],
): void {
  if (isPlainObject(value)) {
    for (const key of Object.keys(value))
      if (value[key] !== undefined && value[key] !== null)
        configErrors(value[key], info?.schema?.field(key), [...path, `f:${key}`], errors);
    return;
  }
  if (!Array.isArray(value)) return;
  const kind = listKind(info);
  let elements: readonly string[] | undefined;
  if (kind.type === "map") elements = keyedItems(value, kind.keys);
  else if (kind.type === "set" && value.every((v) => v === null || typeof v !== "object"))
    elements = value.map(valueElement);
  if (elements !== undefined) {
    const seen = new Set<string>();
    const reported = new Set<string>();
    for (const element of elements) {
      if (!seen.has(element)) seen.add(element);
      else if (!reported.has(element)) {
        reported.add(element);
        errors.push(`${pathString(path)}: duplicate entries for key ${pathString([element])}`);
      }
    }
  }
  const itemInfo = info?.schema === undefined ? undefined : ({ schema: info.schema } as FieldInfo);
  value.forEach((item, i) => {
    if (isPlainObject(item) || Array.isArray(item))
      configErrors(item, itemInfo, [...path, elements?.[i] ?? `i:${i}`], errors);
  });
}

/**
 * Refuses what kube-apiserver refuses in an applied configuration before merging it (400):
 * `metadata.managedFields` (an apply's are the server's to compute), and duplicate keys in an
 * associative list (`.spec.template.spec.containers: duplicate entries for key [name="c"]`).
 */
function checkConfiguration(request: ApplyRequest): void {
  const { config } = request;
  const metadata = isPlainObject(config.metadata) ? config.metadata : {};
  if (metadata.managedFields !== undefined && metadata.managedFields !== null)
    throw badRequest("metadata.managedFields must be nil");
  const errors: string[] = [];
  configErrors(config, { schema: request.schema }, [], errors);
  if (errors.length === 0) return;
  const name = typeof metadata.name === "string" ? metadata.name : "";
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : "";
  const object = `${namespace}/${name}; ${printGvk(request.apiVersion, request.kind ?? config.kind)}`;
  const listed = errors.length === 1 ? errors[0] : `errors:\n  ${errors.join("\n  ")}`;
  throw badRequest(`failed to create typed patch object (${object}): ${listed}`);
}

/** What an apply needs. */
export interface ApplyRequest {
  /** The stored object, or `undefined` when the apply creates it. */
  readonly live: Readonly<JsonObject> | undefined;
  /** The applied configuration. */
  readonly config: Readonly<JsonObject>;
  /** The live object's `metadata.managedFields`. */
  readonly managedFields: readonly ManagedFieldsEntry[] | undefined;
  readonly manager: string;
  /** The kind's `apiVersion`, recorded in the entry. */
  readonly apiVersion: string;
  /** The kind's name (`Deployment`), for error messages; the configuration's `kind` if left out. */
  readonly kind?: string;
  /** Take fields other managers own instead of failing with a conflict. */
  readonly force: boolean;
  /** The main resource (not status), or the status subresource (status alone). */
  readonly scope: FieldScope;
  readonly schema: FieldSchema | undefined;
  /** RFC 3339: when, for the entries this apply changes. */
  readonly time: string;
}

/** What an apply makes: the object and its managed fields (the object's own are left as they were). */
export interface ApplyResult {
  readonly object: JsonObject;
  readonly managedFields: readonly ManagedFieldsEntry[] | undefined;
}

/**
 * Server-side apply of `config` by `manager` (see the module documentation).
 * @throws ApiError `Conflict` (409) naming every field another manager owns that the apply would
 * change, unless `force`; `BadRequest` (400) for a configuration with `metadata.managedFields`
 * or with two items of one key in an associative list.
 * @example
 * const { object, managedFields } = applyConfiguration({
 *   live, config: { spec: { replicas: 3 } }, managedFields: live.metadata.managedFields,
 *   manager: "kubectl", apiVersion: "apps/v1", force: false, scope: "main", schema, time,
 * });
 */
export function applyConfiguration(request: ApplyRequest): ApplyResult {
  checkConfiguration(request);
  const { live, config, manager, scope, schema } = request;
  const subresource = scope === "status" ? "status" : undefined;
  const before: JsonObject = live === undefined ? {} : { ...live };
  const managers = decode(request.managedFields);
  const configSet = scoped(toFieldSet(config, schema), scope);
  let mine = managers.find((m) =>
    sameManager(m.entry, manager, "Apply", request.apiVersion, subresource),
  );
  const lastSet = mine?.set;
  const others = managers.filter((m) => m !== mine);

  let object = mergeApplied(before, scopedConfig(config, scope), { schema }) as JsonObject;
  if (lastSet !== undefined && !lastSet.empty) {
    let keep = configSet;
    for (const other of others) keep = union(keep, other.set);
    const remove = difference(lastSet, keep);
    object = removeFields(object, remove, keep, schema, undefined, []) as JsonObject;
  }

  const conflicts: FieldConflict[] = [];
  const items = new ItemIndex();
  for (const other of others) {
    const changed: string[][] = [];
    const removed = new FieldSet();
    ownedChanges(other.set, before, object, schema, undefined, [], changed, removed, items);
    for (const path of changed) conflicts.push({ manager: other.entry, path });
    if (changed.length > 0 || !removed.empty) {
      other.set = withoutPaths(removedFrom(other.set, removed), changed);
      other.changed = true;
    }
  }
  if (conflicts.length > 0 && !request.force) throw applyConflictError(conflicts);

  const objectChanged = !deepEqual(withoutManaged(before), withoutManaged(object));
  if (mine === undefined) {
    mine = {
      entry: {
        manager,
        operation: "Apply",
        apiVersion: request.apiVersion,
        fieldsType: "FieldsV1",
        fieldsV1: {},
        ...(subresource === undefined ? {} : { subresource }),
      },
      set: configSet,
      time: request.time,
      changed: true,
    };
    managers.push(mine);
  } else {
    const sameSet = deepEqual(toFieldsV1(configSet), mine.entry.fieldsV1);
    if (!sameSet || objectChanged || mine.entry.apiVersion !== request.apiVersion) {
      mine.set = configSet;
      mine.changed = true;
      mine.entry = { ...mine.entry, apiVersion: request.apiVersion };
      if (objectChanged) mine.time = request.time;
    }
  }
  return { object, managedFields: encode(managers, request.managedFields) };
}

/** `set` without the paths of `removed` (members and what they hold). */
function removedFrom(set: FieldSet, removed: FieldSet): FieldSet {
  return removed.empty ? set : recursiveDifference(set, removed);
}

/** The part of an applied configuration a write of `scope` merges. */
function scopedConfig(config: Readonly<JsonObject>, scope: FieldScope): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(config)) {
    if (key === "apiVersion" || key === "kind") continue;
    if (scope === "status" ? key !== "status" : key === "status") continue;
    if (key === "metadata" && isPlainObject(config.metadata)) {
      const metadata: JsonObject = {};
      for (const field of Object.keys(config.metadata))
        if (!untrackedMetadata.includes(field)) setOwn(metadata, field, config.metadata[field]);
      out.metadata = metadata;
      continue;
    }
    setOwn(out, key, config[key]);
  }
  return out;
}

function withoutManaged(object: JsonObject): JsonObject {
  const metadata = object.metadata;
  if (!isPlainObject(metadata) || metadata.managedFields === undefined) return object;
  const { managedFields: _, ...rest } = metadata;
  return { ...object, metadata: rest };
}

/** What a write other than an apply needs to record its manager's fields. */
export interface UpdateRequest {
  readonly before: Readonly<JsonObject> | undefined;
  readonly after: Readonly<JsonObject>;
  /** The managed fields the written object starts from (the stored ones, or the writer's). */
  readonly managedFields: readonly ManagedFieldsEntry[] | undefined;
  readonly manager: string;
  readonly apiVersion: string;
  readonly scope: FieldScope;
  readonly schema: FieldSchema | undefined;
  readonly time: string;
}

/**
 * The managed fields after a write other than an apply (create, update, patch) by `manager`: it
 * owns the fields it set or changed (its Update entry grows) and takes them from every other
 * manager; fields it removed are nobody's. `managedFields` itself when nothing changed, so that
 * a write that changes nothing stays a no-op.
 */
export function recordUpdate(request: UpdateRequest): readonly ManagedFieldsEntry[] | undefined {
  const { manager, scope, schema } = request;
  const subresource = scope === "status" ? "status" : undefined;
  const { changed, removed } = compare(
    scopedObject(request.before ?? {}, scope),
    scopedObject(request.after, scope),
    schema,
  );
  if (changed.empty && removed.empty) return request.managedFields;
  // The envelope's objects are structs that always exist in Kubernetes: never members themselves.
  for (const root of ["f:metadata", "f:spec", "f:status"]) changed.members.delete(root);
  const managers = decode(request.managedFields);
  let mine = managers.find((m) =>
    sameManager(m.entry, manager, "Update", request.apiVersion, subresource),
  );
  for (const m of managers) {
    if (m === mine) continue;
    const taken = intersection(m.set, changed);
    const gone = removed.empty ? removed : intersectionDeep(m.set, removed);
    if (taken.empty && gone.empty) continue;
    m.set = recursiveDifferenceMembers(removedFrom(m.set, gone), taken);
    m.changed = true;
  }
  if (mine === undefined) {
    mine = {
      entry: {
        manager,
        operation: "Update",
        apiVersion: request.apiVersion,
        fieldsType: "FieldsV1",
        fieldsV1: {},
        ...(subresource === undefined ? {} : { subresource }),
      },
      set: new FieldSet(),
      time: request.time,
      changed: true,
    };
    managers.push(mine);
  }
  const next = union(removedFrom(mine.set, removed), changed);
  mine.set = next;
  mine.changed = true;
  if (!changed.empty) mine.time = request.time;
  return encode(capUpdateManagers(managers), request.managedFields);
}

/** How many Update entries an object keeps (k8s.io/apiserver's DefaultMaxUpdateManagers). */
export const maxUpdateManagers = 10;

/** The manager the oldest Update entries are folded into, one per API version. */
export const ancientChangesManager = "ancient-changes";

/**
 * `managers` with at most {@link maxUpdateManagers} Update entries, as k8s.io/apiserver's
 * capManagersManager: oldest first, each Update entry of an API version already seen is folded
 * into that version's `ancient-changes` entry (the first of the version becoming it when there is
 * none), which takes the folded entry's time, until few enough are left.
 */
function capUpdateManagers(managers: Managed[]): Managed[] {
  const updaters = managers.filter((m) => m.entry.operation === "Update" && !m.set.empty);
  if (updaters.length <= maxUpdateManagers) return managers;
  updaters.sort(
    (p, q) =>
      compareText(p.time ?? "", q.time ?? "") ||
      compareText(p.entry.manager, q.entry.manager) ||
      compareText(p.entry.apiVersion, q.entry.apiVersion) ||
      compareText(p.entry.subresource ?? "", q.entry.subresource ?? ""),
  );
  const isBucket = (m: Managed, version: string) =>
    m.entry.manager === ancientChangesManager &&
    m.entry.operation === "Update" &&
    m.entry.apiVersion === version &&
    m.entry.subresource === undefined;
  const dropped = new Set<Managed>();
  const firstOf = new Map<string, Managed>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > maxUpdateManagers; i++) {
    let m = updaters[i]!;
    const version = m.entry.apiVersion;
    let first = firstOf.get(version);
    if (first === undefined) {
      firstOf.set(version, m);
      continue;
    }
    let bucket = managers.find((b) => !dropped.has(b) && isBucket(b, version));
    if (bucket === m) {
      // The bucket itself comes later: the earlier entry is the one folded into it.
      [m, first] = [first, m];
      firstOf.set(version, bucket);
    } else if (bucket === undefined) {
      first.entry = {
        manager: ancientChangesManager,
        operation: "Update",
        apiVersion: version,
        fieldsType: "FieldsV1",
        fieldsV1: {},
      };
      first.changed = true;
      bucket = first;
    }
    bucket.set = union(m.set, bucket.set);
    if (bucket !== updaters[i]) bucket.time = updaters[i]!.time;
    bucket.changed = true;
    dropped.add(m);
    length--;
  }
  return dropped.size === 0 ? managers : managers.filter((m) => !dropped.has(m));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The paths of `set` at or below a member of `removed`. */
function intersectionDeep(set: FieldSet, removed: FieldSet): FieldSet {
  const out = new FieldSet();
  for (const m of set.members) if (removed.members.has(m)) out.members.add(m);
  for (const [e, child] of set.children) {
    if (removed.members.has(e)) out.children.set(e, child);
    else {
      const theirs = removed.children.get(e);
      if (theirs === undefined) continue;
      const both = intersectionDeep(child, theirs);
      if (!both.empty) out.children.set(e, both);
    }
  }
  return out;
}

/** The part of an object a write of `scope` tracks, metadata's untracked fields left out. */
function scopedObject(object: Readonly<JsonObject>, scope: FieldScope): JsonObject {
  return scopedConfig(object, scope);
}
