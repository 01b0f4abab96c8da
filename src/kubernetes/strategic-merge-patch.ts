/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), applied as Kubernetes applies
 * it on the server (k8s.io/apimachinery `strategicpatch.StrategicMergeMapPatch`): what kubectl
 * sends for built-in kinds on client-side `apply`, `edit`, `patch`, `label`, `annotate` and
 * `set image`.
 *
 * - Objects merge recursively; `null` removes a member.
 * - A list whose field has `patchStrategy: merge` and a `patchMergeKey` merges element by element
 *   on that key (containers by `name`, ports by `containerPort`); a primitive list with
 *   `patchStrategy: merge` (finalizers) merges as a set; any other list is replaced.
 * - Directives: `$patch: replace` (an object, or a list when an element says it), `$patch:
 *   delete` (an object, or the list element with that merge key), `$retainKeys` (the keys an
 *   object keeps), `$setElementOrder/<field>` (the order of a merged list),
 *   `$deleteFromPrimitiveList/<field>` (values to take out of a merged primitive list).
 *
 * ## Guarantees
 * - Pure: `original` and `patch` are never changed; the result shares unchanged parts with
 *   `original`.
 * - Lists are ordered as Kubernetes orders them: `$setElementOrder` first, then the patch's
 *   order, then the original's (so an element the patch adds without an order goes first, as on
 *   a cluster).
 * - A malformed patch is `BadRequest` (400) with apimachinery's message; a list of lists, or a
 *   patch nested deeper than `maxNestingDepth` (checked before anything walks it, so no patch
 *   overflows the stack), is `Invalid` (422); nothing is ever `InternalError`.
 * - Time linear in the sizes of the lists (n log n where a list is ordered): elements are found
 *   by merge key, and primitive values by value, through maps and sets, never by a scan.
 *
 * ## Caveats (deliberate differences from apimachinery)
 * - A field the schema does not know merges as an object or is replaced as a list, where
 *   apimachinery fails ("unable to find api field"): unknown fields are kept, not refused.
 * - `$patch: merge` is accepted as the default (as kustomize does); apimachinery refuses it.
 * - `$deleteFromPrimitiveList` of a list that is missing does nothing (old apimachinery added
 *   the values).
 */
import { ApiError, badRequest } from "../model/api-error.js";
import { setOwn } from "../model/json.js";
import { fieldPath, isPlainObject, maxNestingDepth, tooDeepAt } from "../model/validation.js";

/** The strategic-merge markers of one field, as the API's definitions declare them. */
export interface PatchFieldMeta {
  /** `merge`, `replace`, `retainKeys` or `merge,retainKeys`; none: replace lists, merge maps. */
  readonly patchStrategy?: string;
  /** The member of a list's elements that identifies them, for `patchStrategy: merge`. */
  readonly patchMergeKey?: string;
  /** The schema of the field's value: of each element for a list, of each value for a map. */
  readonly schema?: PatchSchema;
}

/**
 * What strategic merge patch needs to know about an object's fields: a schema resolves each
 * field of an object to its markers and to the schema one level down.
 */
export interface PatchSchema {
  /** The markers of the field `name` of this object; `undefined` for a field it does not know. */
  field(name: string): PatchFieldMeta | undefined;
}

const directiveMarker = "$patch";
const retainKeysDirective = "$retainKeys";
const deleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList";
const setElementOrderPrefix = "$setElementOrder";

type JsonObject = Record<string, unknown>;

/**
 * Applies a strategic merge patch to `original` as kube-apiserver does, with `schema` (the
 * object's, see {@link PatchSchema}) naming the lists that merge by key. Returns a new object.
 * @throws ApiError `BadRequest` for a malformed patch, `Invalid` for one nested too deep or
 * holding a list of lists.
 * @example
 * applyStrategicMergePatch(deployment, {
 *   spec: { template: { spec: { containers: [{ name: "app", image: "app:2" }] } } },
 * }, deploymentSchema); // the container named "app" gets the image; the others stay
 */
export function applyStrategicMergePatch(
  original: Readonly<JsonObject>,
  patch: Readonly<JsonObject>,
  schema: PatchSchema | undefined,
): JsonObject {
  if (!isPlainObject(patch)) throw badRequest("a strategic merge patch must be a JSON object");
  refuseDeepPatch(patch);
  return mergeMap(isPlainObject(original) ? original : {}, patch, schema);
}

/**
 * `Invalid` (422) for a patch nested deeper than {@link maxNestingDepth}, as a merge or JSON
 * patch is: checked before anything here walks the patch recursively, so that no patch can
 * overflow the stack (every walk below recurses at most once or twice per level of the patch).
 */
function refuseDeepPatch(patch: unknown): void {
  const path = tooDeepAt(patch, maxNestingDepth);
  if (path === undefined) return;
  const field = fieldPath("", path) || "<root>";
  throw new ApiError(
    "Invalid",
    `the strategic merge patch nests deeper than ${maxNestingDepth} levels (at ${field}); objects may nest at most ${maxNestingDepth} levels deep`,
    {
      details: {
        causes: [
          {
            field,
            reason: "FieldValueInvalid",
            message: `Invalid value: objects may nest at most ${maxNestingDepth} levels deep`,
          },
        ],
      },
    },
  );
}

/** A field's strategy, split as apimachinery's `extractRetainKeysPatchStrategy` splits it. */
function strategyOf(meta: PatchFieldMeta | undefined): "merge" | "replace" | "" {
  const parts = (meta?.patchStrategy ?? "").split(",").filter((s) => s !== "");
  const rest = parts.filter((s) => s !== "retainKeys");
  if (rest.length > 1 || parts.length > 2)
    throw badRequest(`unexpected patch strategy: ${show(meta?.patchStrategy)}`);
  const strategy = rest[0] ?? "";
  return strategy === "merge" || strategy === "replace" ? strategy : "";
}

function mergeMap(
  original: Readonly<JsonObject>,
  patch: Readonly<JsonObject>,
  schema: PatchSchema | undefined,
): JsonObject {
  if (Object.hasOwn(patch, directiveMarker)) {
    const directive = patch[directiveMarker];
    if (directive === "replace") {
      const { [directiveMarker]: _, ...rest } = patch;
      return cleaned(rest) as JsonObject;
    }
    if (directive === "delete") return {};
    if (directive !== "merge")
      throw badRequest(`unknown patch type: ${show(directive)} in map: ${show(patch)}`);
  }
  const result: JsonObject = { ...original };
  const rest: JsonObject = { ...patch };
  delete rest[directiveMarker];
  applyRetainKeys(result, rest);
  applySetElementOrder(result, rest, schema);
  for (const patchKey of Object.keys(rest)) {
    const value = rest[patchKey];
    let key = patchKey;
    let deletion = false;
    if (patchKey.startsWith(deleteFromPrimitiveListPrefix)) {
      key = directiveField(patchKey, deleteFromPrimitiveListPrefix);
      deletion = true;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    if (deletion) {
      if (!Array.isArray(value)) throw badRequest("invalid patch format of primitive list");
      const current = result[key];
      if (Array.isArray(current)) {
        // A set, not `value.includes`: linear in both lists (the same SameValueZero equality).
        const gone = new Set<unknown>(value);
        setOwn(
          result,
          key,
          current.filter((item) => !gone.has(item)),
        );
      }
      continue;
    }
    const current = Object.hasOwn(result, key) ? result[key] : undefined;
    if (current === undefined || jsonType(current) !== jsonType(value)) {
      const kept = cleaned(value);
      if (kept === dropped) delete result[key];
      else setOwn(result, key, kept);
      continue;
    }
    const meta = schema?.field(key);
    if (isPlainObject(current)) {
      setOwn(
        result,
        key,
        strategyOf(meta) === "replace"
          ? cleaned(value)
          : mergeMap(current, value as JsonObject, meta?.schema),
      );
    } else if (Array.isArray(current)) {
      setOwn(result, key, mergeList(current, value as unknown[], meta));
    } else {
      setOwn(result, key, value);
    }
  }
  return result;
}

/** `$retainKeys`: the keys of `original` not listed go; every key the patch sets must be listed. */
function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!Object.hasOwn(patch, retainKeysDirective)) return;
  const keys = patch[retainKeysDirective];
  delete patch[retainKeysDirective];
  if (!Array.isArray(keys)) throw badRequest("invalid patch format of retainKeys");
  const retained = new Set(keys);
  for (const [key, value] of Object.entries(patch)) {
    if (
      value === null ||
      key.startsWith(deleteFromPrimitiveListPrefix) ||
      key.startsWith(setElementOrderPrefix)
    )
      continue;
    if (!retained.has(key)) throw badRequest("invalid patch format of retainKeys");
  }
  for (const key of Object.keys(original)) if (!retained.has(key)) delete original[key];
}

/**
 * `$setElementOrder/<field>`: merges the field's list (if the patch has one) and orders the
 * result — the listed elements in the listed order, the others where they were.
 */
function applySetElementOrder(
  original: JsonObject,
  patch: JsonObject,
  schema: PatchSchema | undefined,
): void {
  for (const directive of Object.keys(patch)) {
    if (!directive.startsWith(setElementOrderPrefix)) continue;
    const order = patch[directive];
    delete patch[directive];
    if (!Array.isArray(order)) throw badRequest("invalid patch format of setElementOrder list");
    const key = directiveField(directive, setElementOrderPrefix);
    const foundOriginal = Object.hasOwn(original, key) && original[key] !== undefined;
    const foundPatch = Object.hasOwn(patch, key);
    const originalList = foundOriginal ? original[key] : [];
    const patchList = foundPatch ? patch[key] : [];
    if (!Array.isArray(originalList) || (!Array.isArray(patchList) && patchList !== null))
      throw badRequest("invalid patch format of setElementOrder list");
    if (patchList === null) continue; // the list goes: the main loop removes it
    const meta = schema?.field(key);
    const mergeKey = meta?.patchMergeKey ?? "";
    checkOrderMatchesPatch(patchList, order, mergeKey);
    let merged: unknown[];
    if (foundOriginal && !foundPatch) merged = originalList;
    else if (!foundOriginal && foundPatch) merged = cleaned(patchList) as unknown[];
    else if (foundOriginal && foundPatch) merged = mergeList(originalList, patchList, meta);
    else continue;
    const [inOrder, serverOnly] = partition(merged, order, mergeKey);
    setOwn(original, key, normalizeOrder(inOrder, serverOnly, order, originalList, mergeKey));
    delete patch[key];
  }
}

/** The patch list's elements must appear in the `$setElementOrder` list, in its order. */
function checkOrderMatchesPatch(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const items = mergeKey === "" ? patchList : patchList.filter((item) => !isDeleteElement(item));
  let p = 0;
  let o = 0;
  while (p < items.length && o < order.length) {
    if (isPlainObject(items[p]) && Object.hasOwn(items[p] as JsonObject, directiveMarker)) {
      p++;
      continue;
    }
    if (keyOf(items[p], mergeKey) === keyOf(order[o], mergeKey)) p++;
    o++;
  }
  if (p < items.length)
    throw badRequest(
      `the order in patch list:\n${show(patchList)}\n doesn't match ${setElementOrderPrefix} list:\n${show(order)}`,
    );
}

/** Merges `patch` into `original` by the field's strategy: by key, as a set, or replacing it. */
function mergeList(
  original: readonly unknown[],
  patch: readonly unknown[],
  meta: PatchFieldMeta | undefined,
): unknown[] {
  if (strategyOf(meta) !== "merge") return cleaned(patch) as unknown[];
  if (original.length === 0 && patch.length === 0) return [];
  const elements = elementType(original, patch);
  const mergeKey = meta?.patchMergeKey ?? "";
  if (elements !== "object") {
    const merged = unique([...original, ...patch]);
    const [inPatch, serverOnly] = partition(merged, patch, "");
    return normalizeOrder(inPatch, serverOnly, patch, original, "");
  }
  if (mergeKey === "") throw badRequest("cannot merge lists without merge key for type map");
  let base: unknown[] = [...original];
  const plain: JsonObject[] = [];
  let replace = false;
  // The merge keys `$patch: delete` names; a set, so that deleting is linear however many.
  let deleted: Set<unknown> | undefined;
  for (const item of patch as JsonObject[]) {
    if (!Object.hasOwn(item, directiveMarker)) {
      plain.push(item);
      continue;
    }
    const directive = item[directiveMarker];
    if (directive === "delete") {
      if (!Object.hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
      if (deleted === undefined) {
        // As the first deletion always did: every original element must have the merge key.
        for (const element of base) keyOf(element, mergeKey);
        deleted = new Set();
      }
      deleted.add(item[mergeKey]);
    } else if (directive === "replace") {
      replace = true;
    } else if (directive === "merge") {
      const { [directiveMarker]: _, ...rest } = item;
      if (Object.keys(rest).length > 0) plain.push(rest);
    } else {
      throw badRequest(`unknown patch type: ${show(directive)} in map: ${show(item)}`);
    }
  }
  if (replace) return cleaned(plain) as unknown[];
  if (deleted !== undefined) {
    const gone = deleted;
    base = base.filter((element) => !gone.has(keyOf(element, mergeKey)));
  }
  const merged = [...base];
  const byKey = new ElementsByKey(merged, mergeKey, plain.length > 0);
  for (const item of plain) {
    if (!Object.hasOwn(item, mergeKey)) throw noMergeKey(item, mergeKey);
    const at = byKey.first(item[mergeKey]);
    if (at >= 0) merged[at] = mergeMap(merged[at] as JsonObject, item, meta?.schema);
    else {
      const added = cleaned(item);
      if (added !== dropped) byKey.push(added);
    }
  }
  const [inPatch, serverOnly] = partition(merged, plain, mergeKey);
  return normalizeOrder(inPatch, serverOnly, plain, base, mergeKey);
}

/**
 * The elements of a list being merged, indexed by their merge key's value: the first element
 * whose key is `===` a value, as a scan of the list would find it, in constant time (amortized),
 * so that merging n elements into m is linear, not O(n·m).
 */
class ElementsByKey {
  /** For each key value, the positions of the elements that had it, ascending, from `from`. */
  private readonly positions = new Map<unknown, { at: number[]; from: number }>();

  constructor(
    private readonly list: unknown[],
    private readonly mergeKey: string,
    checked: boolean,
  ) {
    list.forEach((element, i) => {
      if (checked && !isPlainObject(element)) throw badRequest("value for key is not a map.");
      this.note(element, i);
    });
  }

  /** The position of the first element whose merge key is `key`; -1 for none. */
  first(key: unknown): number {
    const entry = this.positions.get(key);
    if (entry === undefined) return -1;
    while (entry.from < entry.at.length) {
      const i = entry.at[entry.from]!;
      const element = this.list[i];
      // A merge can take an element's key away (`null`); it never gives one back.
      if (isPlainObject(element) && Object.hasOwn(element, this.mergeKey))
        if (element[this.mergeKey] === key) return i;
      entry.from++;
    }
    return -1;
  }

  /** Appends `element` to the list. */
  push(element: unknown): void {
    this.list.push(element);
    this.note(element, this.list.length - 1);
  }

  private note(element: unknown, i: number): void {
    if (!isPlainObject(element) || !Object.hasOwn(element, this.mergeKey)) return;
    const key = element[this.mergeKey];
    const entry = this.positions.get(key);
    if (entry === undefined) this.positions.set(key, { at: [i], from: 0 });
    else entry.at.push(i);
  }
}

/** The elements of `list` named in `by` (by merge key, or by value), and the others. */
function partition(
  list: readonly unknown[],
  by: readonly unknown[],
  mergeKey: string,
): [unknown[], unknown[]] {
  const named = new Set(by.map((item) => keyOf(item, mergeKey)));
  const inBy: unknown[] = [];
  const others: unknown[] = [];
  for (const item of list) (named.has(keyOf(item, mergeKey)) ? inBy : others).push(item);
  return [inBy, others];
}

/**
 * apimachinery's `normalizeElementOrder`: the patch's elements sorted by the patch's order, the
 * server's by the server's, then interleaved: a server element goes before a patch element only
 * when both were in the server's list and it came first there.
 */
function normalizeOrder(
  patchItems: readonly unknown[],
  serverItems: readonly unknown[],
  patchOrder: readonly unknown[],
  serverOrder: readonly unknown[],
  mergeKey: string,
): unknown[] {
  const indexIn = (list: readonly unknown[]) => {
    const positions = new Map<unknown, number>();
    list.forEach((item, i) => {
      const key = keyOf(item, mergeKey);
      if (!positions.has(key)) positions.set(key, i);
    });
    return (item: unknown) => positions.get(keyOf(item, mergeKey)) ?? -1;
  };
  const patchIndex = indexIn(patchOrder);
  const serverIndex = indexIn(serverOrder);
  // Stable; an element the order does not name keeps its place after those it names.
  const sortBy = (items: readonly unknown[], index: (item: unknown) => number) =>
    items
      .map((item, i) => ({ item, i, at: index(item) < 0 ? Number.MAX_SAFE_INTEGER : index(item) }))
      .sort((a, b) => a.at - b.at || a.i - b.i)
      .map((entry) => entry.item);
  const left = sortBy(serverItems, serverIndex);
  const right = sortBy(patchItems, patchIndex);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = serverIndex(left[i]);
      const ri = serverIndex(right[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

const dropped: unique symbol = Symbol("dropped");

/**
 * A patch value placed as it is (no original to merge with, or a replacement): `null` members
 * are left out, and so are directives (an object holding `$patch` is dropped, as apimachinery's
 * `removeDirectives` drops it; `$retainKeys` and the list directives are no fields).
 */
function cleaned(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const kept = cleaned(item);
      if (kept !== dropped) out.push(kept);
    }
    return out;
  }
  if (!isPlainObject(value)) return value;
  if (Object.hasOwn(value, directiveMarker)) return dropped;
  const out: JsonObject = {};
  for (const [key, member] of Object.entries(value)) {
    if (member === null || isDirectiveKey(key)) continue;
    const kept = cleaned(member);
    if (kept !== dropped) setOwn(out, key, kept);
  }
  return out;
}

function isDirectiveKey(key: string): boolean {
  return (
    key === retainKeysDirective ||
    key.startsWith(`${setElementOrderPrefix}/`) ||
    key.startsWith(`${deleteFromPrimitiveListPrefix}/`)
  );
}

function isDeleteElement(item: unknown): boolean {
  if (!isPlainObject(item)) throw badRequest(`expected a map, but received ${show(item)}`);
  return item[directiveMarker] === "delete";
}

/** The field a `$setElementOrder/<field>` or `$deleteFromPrimitiveList/<field>` names. */
function directiveField(key: string, prefix: string): string {
  const slash = key.indexOf("/");
  if (slash < 0 || key.slice(0, slash) !== prefix)
    throw badRequest(
      prefix === deleteFromPrimitiveListPrefix
        ? "invalid patch format of primitive list"
        : "invalid patch format of setElementOrder list",
    );
  return key.slice(slash + 1);
}

/** An element's identity: its merge key's value, or (for primitives) itself. */
function keyOf(item: unknown, mergeKey: string): unknown {
  if (mergeKey === "") return item;
  if (!isPlainObject(item) || !Object.hasOwn(item, mergeKey))
    throw noMergeKey(isPlainObject(item) ? item : {}, mergeKey);
  return item[mergeKey];
}

function noMergeKey(item: JsonObject, mergeKey: string): ApiError {
  return badRequest(`map: ${show(item)} does not contain declared merge key: ${mergeKey}`);
}

type JsonType = "object" | "array" | "string" | "number" | "boolean" | "null";

function jsonType(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as JsonType;
}

/** The one type of the elements of both lists; lists of lists and mixed lists are refused. */
function elementType(...lists: readonly (readonly unknown[])[]): JsonType | undefined {
  let found: JsonType | undefined;
  for (const list of lists)
    for (const item of list) {
      const type = jsonType(item);
      if (type === "array") throw new ApiError("Invalid", "lists of lists are not supported");
      if (found !== undefined && found !== type)
        throw badRequest(`list element types are not identical: ${show(lists)}`);
      found = type;
    }
  return found;
}

function unique(values: readonly unknown[]): unknown[] {
  return [...new Set(values)];
}

function show(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "undefined");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * The fields a strategic merge patch sets, for checking them (`fieldValidation: Strict`): its
 * directives and `null`s (removals) left out. With `lists: "emptied"` (the default) the contents
 * of its lists are left out too — their elements merge by key, not by position, so they cannot
 * be matched to the result's by index; with `lists: "kept"` the elements are kept (their
 * directives left out), for a check against the kind's definition, which needs no result.
 * @throws ApiError `Invalid` for a patch nested deeper than {@link maxNestingDepth}, before
 * anything walks it.
 */
export function strategicPatchFields(
  patch: Readonly<JsonObject>,
  lists: "emptied" | "kept" = "emptied",
): JsonObject {
  refuseDeepPatch(patch);
  return patchFields(patch, lists === "kept") as JsonObject;
}

function patchFields(value: unknown, keepLists: boolean): unknown {
  if (Array.isArray(value)) return keepLists ? value.map((item) => patchFields(item, true)) : [];
  if (!isPlainObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, member] of Object.entries(value)) {
    if (member === null || key === directiveMarker || isDirectiveKey(key)) continue;
    setOwn(out, key, patchFields(member, keepLists));
  }
  return out;
}
