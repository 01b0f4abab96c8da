/**
 * Sealing: how a store turns a planned object into what it keeps and hands out — a compact,
 * deeply frozen snapshot that shares every part equal to the previous version's, checked against
 * the size limit on the way — and the V8 memory tuning behind it (flat strings, interned
 * namespaces, metadata built by one literal per field set, remembered part sizes).
 *
 * What an object costs in memory is what makes it different: this module keeps the rest shared.
 * Nothing here decides what a write means; that is `object-rules.ts`.
 */
import { invalid } from "../model/api-error.js";
import { deepEqual } from "../model/json.js";
import type { AnyKind } from "../model/kind.js";
import { deepFreeze, type ObjectMeta, type Resource } from "../model/resource.js";
import type { StoredObject } from "./backend.js";
import { subjectOf } from "./error-subject.js";

function toJson(kind: AnyKind, name: string, field: string, value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw invalid(subjectOf(kind, name), [
      {
        field,
        reason: "FieldValueInvalid",
        message: `cannot be written as JSON: ${(err as Error).message}`,
      },
    ]);
  }
}

/**
 * A flat copy of a string: V8 keeps a string built by concatenation as a tree of its parts,
 * and `crypto.randomUUID()`'s as a slice of a larger buffer (hundreds of bytes each); a store
 * that keeps a string for long keeps the compact form.
 */
export function flat(value: string): string {
  return JSON.parse(JSON.stringify(value));
}

const internedNamespaces = new Map<string, string>();

/** One string per namespace name, shared by every object in it. */
function internNamespace(namespace: string): string {
  let interned = internedNamespaces.get(namespace);
  if (interned === undefined) {
    if (internedNamespaces.size >= 10_000) internedNamespaces.clear();
    interned = flat(namespace);
    internedNamespaces.set(namespace, interned);
  }
  return interned;
}

const metadataFields = [
  "name",
  "namespace",
  "generateName",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
] as const;

const metadataBuilders = new Map<number, (draft: ObjectMeta) => ObjectMeta>();

/**
 * `draft` without its undefined fields, built by one object literal per set of present fields.
 * V8 gives an object made by a literal exactly as many in-object slots as the literal has; one
 * grown a field at a time spills into a separate property array. A store keeps one metadata
 * object per object version, so this is worth a small compiled function per field set.
 */
function buildMetadata(draft: ObjectMeta): ObjectMeta {
  let mask = 0;
  for (let i = 0; i < metadataFields.length; i++) {
    if (draft[metadataFields[i]!] !== undefined) mask |= 1 << i;
  }
  let build = metadataBuilders.get(mask);
  if (build === undefined) {
    const present = metadataFields.filter((_, i) => mask & (1 << i));
    // The field names are the constants above, never input.
    build = new Function("m", `return { ${present.map((f) => `${f}: m.${f}`).join(", ")} };`) as (
      draft: ObjectMeta,
    ) => ObjectMeta;
    metadataBuilders.set(mask, build);
  }
  return build(draft);
}

/**
 * The JSON length of each large part of a stored object (spec, status, owner references,
 * finalizers, label and annotation maps), so that a version sharing it with the version before
 * counts it without writing it as JSON again. A part not remembered is smaller than
 * `rememberedPartBytes`: `seal` remembers every larger part it makes, and a store remembers the
 * parts of objects it did not get from `seal` ({@link rememberPartSizes}). Small parts are not
 * remembered: an entry per stored object would cost more memory and time than it saves.
 */
const partSizes = new WeakMap<object, number>();
const rememberedPartBytes = 1024;

function remember(part: object, bytes: number): void {
  if (bytes >= rememberedPartBytes) partSizes.set(part, bytes);
}

/** The JSON length of a stored part, remembered or measured (and remembered, if large). */
function sizeOfPart(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null || typeof value !== "object") return JSON.stringify(value).length;
  let bytes = partSizes.get(value);
  if (bytes === undefined) {
    bytes = JSON.stringify(value).length;
    remember(value, bytes);
  }
  return bytes;
}

/**
 * Remembers the size of the large parts of an object that did not come from `seal` — read from
 * a store's disk or database — before it is written again: a write that shares those parts then
 * counts them against the size limit. Costs a `JSON.stringify` of each part not yet measured.
 */
export function rememberPartSizes(object: StoredObject): void {
  const meta = object.metadata;
  for (const part of [
    object.spec,
    object.status,
    meta.ownerReferences,
    meta.finalizers,
    meta.labels,
    meta.annotations,
    meta.managedFields,
  ])
    if (part !== null && typeof part === "object") sizeOfPart(part);
}

function sizeOfMap(map: Readonly<Record<string, string>> | undefined): number {
  let bytes = 0;
  for (const key in map) bytes += key.length + map[key]!.length + 6;
  return bytes;
}

/** What `seal` counts for the envelope and metadata besides the maps: an estimate. */
function envelopeBytes(kind: AnyKind, name: string): number {
  return 200 + kind.apiVersion.length + kind.kind.length + name.length * 2;
}

/** About the JSON size of a stored object, counted as `seal` counts it. */
export function storedBytes(kind: AnyKind, object: StoredObject): number {
  if (kind.layout === "flat") return JSON.stringify(object).length;
  const meta = object.metadata;
  return (
    envelopeBytes(kind, meta.name) +
    sizeOfPart(object.spec) +
    sizeOfPart(object.status) +
    sizeOfPart(meta.ownerReferences) +
    sizeOfPart(meta.finalizers) +
    sizeOfPart(meta.managedFields) +
    sizeOfMap(meta.labels) +
    sizeOfMap(meta.annotations)
  );
}

/** What `seal` counts: the bytes it saw, and the small parts shared unmeasured. */
interface Size {
  readonly kind: AnyKind;
  readonly name: string;
  bytes: number;
  unmeasured: number;
}

/** Counts a part taken unchanged from the previous version: already sealed, it still counts. */
function countShared(size: Size, part: unknown): void {
  const bytes = typeof part === "object" && part !== null ? partSizes.get(part) : undefined;
  if (bytes === undefined) size.unmeasured++;
  else size.bytes += bytes;
}

/**
 * A lone surrogate's escape in JSON text from `JSON.stringify`, which escapes lone surrogates
 * (lower-case hex) and only them: paired surrogates are written as they are. The lookbehind and
 * the even run of backslashes skip an escaped backslash followed by the text `ud800`.
 */
const loneSurrogateEscape = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

/**
 * `json` (from `JSON.stringify`) with every lone surrogate replaced by U+FFFD, as Go's JSON
 * decoder (and so Kubernetes) reads one. A lone surrogate is not text: PostgreSQL refuses it, and
 * UTF-8 cannot carry it. `json` itself when it holds none — found by one `includes`, which costs
 * next to nothing beside the serialization that made `json`.
 */
function wellFormedJson(json: string): string {
  return json.includes("\\ud") ? json.replace(loneSurrogateEscape, "$1\ufffd") : json;
}

/** String methods of ES2024 (Node 20 has them; this project's `lib` is ES2023). */
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** `map`, or a copy of it whose values hold no lone surrogate (each one becomes U+FFFD). */
function wellFormedValues(map: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let copy: Record<string, string> | undefined;
  for (const key in map) {
    const value = map[key] as unknown as WellFormedString;
    if (value.isWellFormed()) continue;
    copy ??= { ...map };
    copy[key] = value.toWellFormed();
  }
  return copy ?? map;
}

/**
 * One part of an object, sealed: `old` itself when equal to it, else a frozen JSON copy (lone
 * surrogates made U+FFFD).
 */
function sealPart<T>(size: Size, field: string, value: T | undefined, old: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (value === old) {
    countShared(size, value);
    return value;
  }
  let json = toJson(size.kind, size.name, field, value);
  const wellFormed = wellFormedJson(json);
  if (wellFormed !== json) {
    json = wellFormed;
    value = JSON.parse(json) as T;
  }
  size.bytes += json.length;
  if (old !== undefined && deepEqual(value, old)) return old as T;
  const sealed = deepFreeze(JSON.parse(json)) as T;
  if (sealed !== null && typeof sealed === "object") remember(sealed, json.length);
  return sealed;
}

/**
 * A label or annotation map, sealed: `old` when equal, else a frozen copy. Their keys and values
 * were checked to be strings, so a plain copy is enough, and cheaper than JSON for small maps.
 * Keys were checked to be qualified names; a value's lone surrogates become U+FFFD.
 */
function sealStringMap(
  size: Size,
  given: Readonly<Record<string, string>> | undefined,
  old: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> | undefined {
  if (given === undefined) return given;
  if (given === old) {
    countShared(size, given);
    return given;
  }
  const value = wellFormedValues(given);
  if (old !== undefined && deepEqual(value, old)) {
    size.bytes += sizeOfMap(value);
    return old;
  }
  let count = 0;
  let bytes = 0;
  for (const key in value) {
    bytes += key.length + value[key]!.length + 6;
    count++;
  }
  size.bytes += bytes;
  // An empty literal holds four fields in-object; larger maps come compact from JSON.
  let copy: Record<string, string>;
  if (count > 4) copy = JSON.parse(JSON.stringify(value));
  else {
    copy = {};
    for (const key in value) copy[key] = value[key]!;
  }
  remember(copy, bytes);
  return Object.freeze(copy);
}

/**
 * Copies `object` into a compact, deeply frozen snapshot that shares nothing mutable with the
 * writer's values, checking the size limit on the way: the whole object counts, parts shared
 * with `previous` too. Returns it with its size as counted — about its bytes of JSON, less the
 * small parts (under 1 KiB each) shared with `previous`, which are not measured again. Values
 * JSON cannot hold (cycles, BigInt) are `Invalid`.
 *
 * What an object costs in memory is what makes it different: `apiVersion`, `kind`, namespaces
 * and timestamps are shared strings; a `spec`, `status`, label or annotation map equal to the
 * one in `previous` (already frozen) is shared, not copied; the rest is copied through JSON,
 * which yields V8's most compact objects and interns their keys.
 */
export function seal(
  kind: AnyKind,
  object: Resource,
  maxObjectBytes: number,
  previous?: StoredObject,
): { readonly object: StoredObject; readonly bytes: number } {
  const source = object.metadata;
  const name = source.name;
  const size: Size = { kind, name, bytes: envelopeBytes(kind, name), unmeasured: 0 };
  const isFlat = kind.layout === "flat";
  const spec = sealPart(size, "spec", object.spec, isFlat ? undefined : previous?.spec) ?? {};
  const status = sealPart(size, "status", object.status, previous?.status);
  const labels = sealStringMap(size, source.labels, previous?.metadata.labels);
  const annotations = sealStringMap(size, source.annotations, previous?.metadata.annotations);
  const ownerReferences = sealPart(
    size,
    "metadata.ownerReferences",
    source.ownerReferences,
    previous?.metadata.ownerReferences,
  );
  const finalizers = sealPart(
    size,
    "metadata.finalizers",
    source.finalizers,
    previous?.metadata.finalizers,
  );
  const managedFields = sealPart(
    size,
    "metadata.managedFields",
    source.managedFields,
    previous?.metadata.managedFields,
  );
  const bytes = size.bytes;

  // Characters are 1 to 3 UTF-8 bytes, and a shared part not measured is under 1 KiB: count
  // exactly only near the limit.
  if ((bytes + size.unmeasured * rememberedPartBytes) * 3 > maxObjectBytes) {
    const exact = Buffer.byteLength(JSON.stringify(object));
    if (exact > maxObjectBytes) {
      throw invalid(subjectOf(kind, name), [
        {
          field: "<root>",
          reason: "FieldValueTooLong",
          message: `Too long: the object is ${exact} bytes; the limit is ${maxObjectBytes}`,
        },
      ]);
    }
  }

  const keep = previous?.metadata;
  const metadata = buildMetadata({
    name: keep?.name === name ? keep.name : flat(name),
    namespace: source.namespace === undefined ? undefined : internNamespace(source.namespace),
    generateName:
      source.generateName === undefined
        ? undefined
        : (keep?.generateName ?? flat(source.generateName)),
    uid: source.uid,
    resourceVersion: source.resourceVersion,
    generation: source.generation,
    creationTimestamp: source.creationTimestamp,
    deletionTimestamp: source.deletionTimestamp,
    labels,
    annotations,
    ownerReferences,
    finalizers,
    managedFields,
  } as ObjectMeta);
  Object.freeze(metadata);
  if (isFlat) {
    // A flat kind's body sits beside metadata; `fieldPath`s of its schema have no `spec.` prefix.
    const sealed = {
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata,
      ...(spec as object),
      ...(status === undefined ? {} : { status }),
    };
    return { object: Object.freeze(sealed) as unknown as StoredObject, bytes };
  }
  const sealed: Resource =
    status === undefined
      ? { apiVersion: kind.apiVersion, kind: kind.kind, metadata, spec }
      : { apiVersion: kind.apiVersion, kind: kind.kind, metadata, spec, status };
  return { object: Object.freeze(sealed) as StoredObject, bytes };
}

/** A copy of a stored object at a new revision (the DELETED form), sharing spec and status. */
export function atRevision(object: StoredObject, resourceVersion: string): StoredObject {
  return deepFreeze({
    ...object,
    metadata: { ...object.metadata, resourceVersion },
  }) as StoredObject;
}
