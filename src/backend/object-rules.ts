/**
 * The Kubernetes object rules every setpoint store shares, as pure functions: checking and
 * normalizing what a writer sends (`prepare*`, which may await a schema validator) and deciding
 * what a write does to the stored object (`plan*`, synchronous, run where the store holds the
 * key: inside its transaction, see `store-engine.ts`).
 *
 * Stores only keep objects, hand out revisions and deliver events; what create, update, status
 * updates, deletes and finalizers mean lives here, once. How a planned object is kept (sealed,
 * frozen, sized) is `seal.ts`.
 */
import { randomUUID } from "node:crypto";
import { applyStrategicMergePatch } from "../kubernetes/strategic-merge-patch.js";
import {
  builtinPatchSchema,
  strategicPatchUnsupported,
} from "../kubernetes/strategic-patch-schema.js";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  invalid,
  notFound,
} from "../model/api-error.js";
import { applyJsonPatch, applyMergePatch, deepEqual, setOwn } from "../model/json.js";
import type { AnyKind } from "../model/kind.js";
import type {
  Frozen,
  ManagedFieldsEntry,
  ObjectKey,
  ObjectMeta,
  OwnerReference,
  Resource,
  ResourceInput,
} from "../model/resource.js";
import {
  checkAnnotations,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkLabels,
  checkNestingDepth,
  checkQualifiedName,
  FieldErrors,
  isPlainObject,
  validateWith,
} from "../model/validation.js";
import type { Patch, StoredObject } from "./backend.js";
import { subjectOf } from "./error-subject.js";
import { fieldSchemaOf } from "./field-schema.js";
import { atRevision, flat, seal, storedBytes } from "./seal.js";
import {
  applyConfiguration,
  checkAppliedType,
  type FieldScope,
  recordUpdate,
} from "./server-side-apply.js";

/**
 * The field manager of a write that names none, to an object whose fields are already tracked
 * (kube-apiserver takes the user agent's first word; a library call has none).
 */
export const defaultFieldManager = "setpoint";

/** etcd's default request limit, which bounds a Kubernetes object: 1.5 MiB. */
export const defaultMaxObjectBytes = 1.5 * 1024 * 1024;

const topLevelFields = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);

const envelopeFields = new Set(["apiVersion", "kind", "metadata", "status"]);

/** The fields of an object besides its envelope: what a flat kind's `spec` schema validates. */
function bodyOf(object: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  // setOwn: a body key `__proto__` (JSON.parse makes it an own key) must stay data, not a prototype.
  for (const key in object) if (!envelopeFields.has(key)) setOwn(body, key, object[key]);
  return body;
}

/** What a kind's `spec` schema validates in a stored object: `spec`, or a flat kind's body. */
export function specOf(kind: AnyKind, object: StoredObject): unknown {
  return kind.layout === "flat" ? bodyOf(object) : object.spec;
}

/** A checked, normalized write: what `plan*` needs, with the validated spec or status. */
export interface PreparedWrite {
  readonly kind: AnyKind;
  readonly key: ObjectKey;
  /** Set when the name is still to be generated from `metadata.generateName`. */
  readonly generateName: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly uid: string | undefined;
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly ownerReferences: readonly OwnerReference[] | undefined;
  readonly finalizers: readonly string[] | undefined;
  /**
   * The writer's `metadata.managedFields` (an empty list clears them); `undefined` keeps the
   * stored ones.
   */
  readonly managedFields: readonly ManagedFieldsEntry[] | undefined;
  /**
   * Who writes: the write's fields are recorded as this manager's (an `Update` entry). Left out,
   * they are recorded (as {@link defaultFieldManager}'s) only on an object that has managed
   * fields already, so that writes to untracked objects cost nothing.
   */
  readonly fieldManager: string | undefined;
  /** `managedFields` is the result already (an apply computed it): record nothing more. */
  readonly managedFieldsFinal: boolean;
  /** The validator's output (defaults applied); `undefined` when not validated. */
  readonly spec: unknown;
  readonly status: unknown;
}

/** What a write is: it decides which parts are read and validated. */
export type WriteKind = "create" | "update" | "status";

function emptyToUndefined<T>(value: T | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value;
  return isPlainObject(value) && Object.keys(value).length === 0 ? undefined : value;
}

/**
 * Checks and normalizes a write of `input` as `kind`: shape, identity, metadata, and the
 * spec (create, update) or status (status) schema. Throws `Invalid` naming every field at fault.
 * Nothing is read from or written to a store. Returns synchronously when the kind's validator
 * does, so that a store can check and commit without yielding between the two.
 */
export function prepareWrite(
  kind: AnyKind,
  input: unknown,
  write: WriteKind,
  fieldManager?: string,
  managedFieldsFinal = false,
): PreparedWrite | Promise<PreparedWrite> {
  const errors = new FieldErrors();
  if (!isPlainObject(input)) {
    throw invalid(subjectOf(kind), [
      { field: "<root>", reason: "FieldValueInvalid", message: "must be a JSON object" },
    ]);
  }
  const metadata = input.metadata;
  const name =
    isPlainObject(metadata) && typeof metadata.name === "string" ? metadata.name : undefined;
  const subject = subjectOf(kind, name);
  checkNestingDepth(subject, input);

  for (const field of kind.layout === "flat" ? [] : Object.keys(input)) {
    if (!topLevelFields.has(field))
      errors.invalid(
        field,
        "…",
        `unknown field; ${kind.kind} has apiVersion, kind, metadata, spec and status`,
      );
  }
  if (input.apiVersion !== undefined && input.apiVersion !== kind.apiVersion) {
    errors.invalid("apiVersion", input.apiVersion, `must be "${kind.apiVersion}"`);
  }
  if (input.kind !== undefined && input.kind !== kind.kind) {
    errors.invalid("kind", input.kind, `must be "${kind.kind}"`);
  }
  if (!isPlainObject(metadata)) {
    errors.required("metadata", "Required value: metadata must be an object");
    throw invalid(subject, errors.causes);
  }

  // Name, or a generateName to pick one from.
  let generateName: string | undefined;
  if (name === undefined) {
    if (metadata.name !== undefined)
      errors.invalid("metadata.name", metadata.name, "must be a string");
    else if (
      write === "create" &&
      typeof metadata.generateName === "string" &&
      metadata.generateName !== ""
    ) {
      generateName = metadata.generateName;
      // The generated name adds 5 characters and must still be valid.
      checkDns1123Subdomain(errors, "metadata.generateName", `${generateName.slice(0, 248)}x`);
    } else errors.required("metadata.name", "Required value: name or generateName is required");
  } else {
    checkDns1123Subdomain(errors, "metadata.name", name);
  }

  let namespace: string | undefined;
  if (kind.scope === "Namespaced") {
    if (typeof metadata.namespace !== "string" || metadata.namespace === "") {
      errors.required("metadata.namespace", "Required value: a namespaced kind needs a namespace");
    } else {
      namespace = metadata.namespace;
      checkDns1123Label(errors, "metadata.namespace", namespace);
    }
  } else if (metadata.namespace !== undefined && metadata.namespace !== "") {
    errors.forbidden("metadata.namespace", `${kind.kind} is cluster-scoped and takes no namespace`);
  }

  const resourceVersion = metadata.resourceVersion;
  if (resourceVersion !== undefined && typeof resourceVersion !== "string") {
    errors.invalid("metadata.resourceVersion", resourceVersion, "must be a string");
  }
  if (write !== "create" && (resourceVersion === undefined || resourceVersion === "")) {
    errors.required("metadata.resourceVersion", "Required value: must be specified for an update");
  }
  const uid = typeof metadata.uid === "string" && metadata.uid !== "" ? metadata.uid : undefined;

  checkLabels(errors, "metadata.labels", metadata.labels);
  checkAnnotations(errors, "metadata.annotations", metadata.annotations);
  const finalizers = metadata.finalizers;
  if (finalizers !== undefined) {
    if (!Array.isArray(finalizers))
      errors.invalid("metadata.finalizers", finalizers, "must be a list of strings");
    else {
      finalizers.forEach((f, i) => {
        if (typeof f !== "string")
          errors.invalid(`metadata.finalizers[${i}]`, f, "must be a string");
        else checkQualifiedName(errors, `metadata.finalizers[${i}]`, f);
      });
    }
  }
  const ownerReferences = metadata.ownerReferences;
  if (ownerReferences !== undefined) checkOwnerReferences(errors, ownerReferences);
  const managedFields = metadata.managedFields;
  if (managedFields !== undefined && managedFields !== null)
    checkManagedFields(errors, managedFields);

  // The schema of the part this write changes; synchronous validators keep the write
  // synchronous, so that a store can check and commit without yielding in between.
  const finish = (validated: { value: unknown } | undefined): PreparedWrite => {
    if (!errors.empty) throw invalid(subject, errors.causes);
    return {
      kind,
      key: namespace === undefined ? { name: name ?? "" } : { namespace, name: name ?? "" },
      generateName,
      resourceVersion: resourceVersion as string | undefined,
      uid,
      labels: emptyToUndefined(metadata.labels as Record<string, string> | undefined),
      annotations: emptyToUndefined(metadata.annotations as Record<string, string> | undefined),
      ownerReferences: emptyToUndefined(ownerReferences as OwnerReference[] | undefined),
      finalizers: emptyToUndefined(finalizers as string[] | undefined),
      managedFields: (managedFields ?? undefined) as ManagedFieldsEntry[] | undefined,
      fieldManager,
      managedFieldsFinal,
      spec: write === "status" ? undefined : validated?.value,
      status: write === "status" ? validated?.value : undefined,
    };
  };
  if (write === "status") {
    if (input.status === undefined) return finish({ value: undefined });
    if (kind.status === undefined) {
      if (!isPlainObject(input.status)) errors.invalid("status", input.status, "must be an object");
      return finish({ value: input.status });
    }
  }
  const validated =
    write === "status"
      ? validateWith(kind.status, input.status, "status", errors)
      : kind.layout === "flat"
        ? validateWith(kind.spec, bodyOf(input), "", errors)
        : validateWith(kind.spec, input.spec, "spec", errors);
  return validated instanceof Promise ? validated.then(finish) : finish(validated);
}

function checkOwnerReferences(errors: FieldErrors, refs: unknown): void {
  if (!Array.isArray(refs)) {
    errors.invalid("metadata.ownerReferences", refs, "must be a list");
    return;
  }
  let controllers = 0;
  refs.forEach((ref: unknown, i) => {
    const field = `metadata.ownerReferences[${i}]`;
    if (!isPlainObject(ref)) {
      errors.invalid(field, ref, "must be an object");
      return;
    }
    for (const part of ["apiVersion", "kind", "name", "uid"] as const) {
      if (typeof ref[part] !== "string" || ref[part] === "") errors.required(`${field}.${part}`);
    }
    if (ref.controller === true) controllers++;
  });
  if (controllers > 1) {
    errors.invalid(
      "metadata.ownerReferences",
      `${controllers} controllers`,
      "Only one reference can have Controller set to true",
    );
  }
}

/** Refuses `metadata.managedFields` that are not entries Kubernetes could have written. */
function checkManagedFields(errors: FieldErrors, entries: unknown): void {
  if (!Array.isArray(entries)) {
    errors.invalid("metadata.managedFields", entries, "must be a list");
    return;
  }
  entries.forEach((entry: unknown, i) => {
    const field = `metadata.managedFields[${i}]`;
    if (!isPlainObject(entry)) errors.invalid(field, entry, "must be an object");
    else if (entry.operation !== "Apply" && entry.operation !== "Update")
      errors.invalid(`${field}.operation`, entry.operation, 'must be "Apply" or "Update"');
    else if (typeof entry.manager !== "string")
      errors.invalid(`${field}.manager`, entry.manager, "must be a string");
    else if (entry.fieldsV1 !== undefined && !isPlainObject(entry.fieldsV1))
      errors.invalid(`${field}.fieldsV1`, entry.fieldsV1, "must be an object");
  });
}

/** What a store needs to make a write: the next revision and the time. */
export interface WriteContext {
  /** The revision this write will have, as the decimal string stores hand out. */
  readonly resourceVersion: string;
  /** Wall-clock milliseconds, for timestamps. */
  readonly wallNow: number;
  readonly maxObjectBytes: number;
  /**
   * Uniform in [0, 1), for generated names and uids: a simulation's seeded source makes them the
   * same in every run. @default Math.random for names, crypto.randomUUID for uids
   */
  readonly random?: () => number;
}

/**
 * The result of planning a write against the stored object. `bytes`, where there is a change,
 * is about the JSON size of `object`, as counted against the size limit (what a store's history
 * keeps of the change).
 */
export type WritePlan =
  /** Nothing changes: no revision, no event; hand back the stored object. */
  | { readonly action: "none"; readonly object: StoredObject }
  /** Store `object` (a new revision): ADDED if `created`, MODIFIED otherwise. */
  | {
      readonly action: "put";
      readonly object: StoredObject;
      readonly created: boolean;
      readonly bytes: number;
    }
  /** The object goes (last finalizer gone, or deleted without finalizers): DELETED. */
  | { readonly action: "remove"; readonly object: StoredObject; readonly bytes: number };

let lastSecond = Number.NaN;
let lastTimestamp = "";

/** RFC 3339 at seconds precision, as Kubernetes writes timestamps. */
export function timestamp(wallNow: number): string {
  const second = Math.floor(wallNow / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastTimestamp = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
  }
  return lastTimestamp;
}

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

/** A name from `generateName`: the prefix (cut to fit) and 5 random characters, as Kubernetes. */
export function generateNameFrom(prefix: string, random: () => number = Math.random): string {
  let suffix = "";
  for (let i = 0; i < 5; i++) suffix += nameAlphabet[Math.floor(random() * nameAlphabet.length)];
  return `${prefix.slice(0, 253 - 5)}${suffix}`;
}

/** The metadata fields a store sets, as plan functions assemble them before sealing. */
interface MetaBase {
  name: string;
  namespace?: string | undefined;
  generateName?: string | undefined;
  uid: string;
  generation: number;
  creationTimestamp: string;
  deletionTimestamp?: string | undefined;
}

type MetaMaps = Partial<
  Pick<PreparedWrite, "labels" | "annotations" | "ownerReferences" | "finalizers" | "managedFields">
>;

/** The metadata of a draft to seal: the store-set fields, the writer's maps, the revision. */
function metaOf(base: MetaBase, maps: MetaMaps, resourceVersion: string): ObjectMeta {
  // One literal of fixed shape: V8 builds it fast; `seal` drops the undefined fields.
  return {
    name: base.name,
    namespace: base.namespace,
    generateName: base.generateName,
    uid: base.uid,
    resourceVersion,
    generation: base.generation,
    creationTimestamp: base.creationTimestamp,
    deletionTimestamp: base.deletionTimestamp,
    labels: maps.labels,
    annotations: maps.annotations,
    ownerReferences: maps.ownerReferences,
    finalizers: maps.finalizers,
    managedFields: maps.managedFields,
  } as ObjectMeta;
}

/** A new uid, as a compact string: random, or (given a source) a version-4 UUID drawn from it. */
export function newUid(random?: () => number): string {
  if (random === undefined) return flat(randomUUID());
  const hex = (n: number) => {
    let out = "";
    for (let i = 0; i < n; i++) out += Math.floor(random() * 16).toString(16);
    return out;
  };
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

/** Plans a create. `taken(name)` says whether a generated name is in use. */
export function planCreate(
  write: PreparedWrite,
  existing: StoredObject | undefined,
  context: WriteContext,
  taken: (name: string) => boolean,
): WritePlan & { action: "put" } {
  const { kind } = write;
  let name = write.key.name;
  if (write.generateName !== undefined) {
    let attempts = 0;
    do {
      name = generateNameFrom(write.generateName, context.random);
      if (++attempts > 8)
        throw new ApiError(
          "AlreadyExists",
          `could not find a free name for generateName "${write.generateName}"; try again`,
        );
    } while (taken(name));
  } else if (existing !== undefined) {
    throw alreadyExists(subjectOf(kind, name));
  }
  const object: Resource = {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: metaOf(
      {
        name,
        namespace: write.key.namespace,
        generateName: write.generateName,
        uid: newUid(context.random),
        generation: 1,
        creationTimestamp: timestamp(context.wallNow),
        deletionTimestamp: undefined,
      },
      write,
      context.resourceVersion,
    ),
    spec: write.spec,
  };
  if (!write.managedFieldsFinal && write.fieldManager !== undefined)
    object.metadata.managedFields = recordUpdate({
      before: undefined,
      after: trackedView(kind, object.metadata, object.spec, undefined),
      managedFields: emptyToUndefined(write.managedFields),
      manager: write.fieldManager,
      apiVersion: kind.apiVersion,
      scope: "main",
      schema: fieldSchemaOf(kind),
      time: timestamp(context.wallNow),
    }) as ManagedFieldsEntry[] | undefined;
  else object.metadata.managedFields = emptyToUndefined(write.managedFields) as never;
  const sealed = seal(kind, object, context.maxObjectBytes);
  return { action: "put", object: sealed.object, created: true, bytes: sealed.bytes };
}

function checkPreconditions(
  kind: AnyKind,
  existing: StoredObject,
  uid: string | undefined,
  resourceVersion: string | undefined,
): void {
  const subject = subjectOf(kind, existing.metadata.name);
  if (uid !== undefined && uid !== existing.metadata.uid) {
    throw conflict(
      subject,
      `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${existing.metadata.uid}`,
    );
  }
  if (resourceVersion !== undefined && resourceVersion !== existing.metadata.resourceVersion) {
    throw conflict(
      subject,
      "the object has been modified; please apply your changes to the latest version and try again",
    );
  }
}

function finish(
  kind: AnyKind,
  existing: StoredObject,
  next: Resource,
  context: WriteContext,
): WritePlan {
  let { object: sealed, bytes } = seal(kind, next, context.maxObjectBytes, existing);
  if (
    sealed.metadata.generation !== existing.metadata.generation &&
    sameSpec(kind, sealed, existing)
  ) {
    // The spec differed from the stored one only in lone surrogates, which sealing made U+FFFD
    // as the stored one has them: it did not change, and neither does the generation.
    ({ object: sealed, bytes } = seal(
      kind,
      { ...next, metadata: { ...next.metadata, generation: existing.metadata.generation } },
      context.maxObjectBytes,
      existing,
    ));
  }
  const { metadata } = sealed;
  // A terminating object whose last finalizer went is gone.
  if (metadata.deletionTimestamp !== undefined && metadata.finalizers === undefined) {
    return { action: "remove", object: sealed, bytes };
  }
  return sameContent(kind, sealed, existing)
    ? { action: "none", object: existing }
    : { action: "put", object: sealed, created: false, bytes };
}

/** Whether two sealed versions hold the same spec: the same one, shared, unless flat. */
function sameSpec(kind: AnyKind, next: StoredObject, existing: StoredObject): boolean {
  return kind.layout === "flat"
    ? deepEqual(specOf(kind, next), specOf(kind, existing))
    : next.spec === existing.spec;
}

/**
 * Whether two versions hold the same content. `seal` shares every part equal to the previous
 * version's, so comparing references is enough.
 */
function sameContent(kind: AnyKind, next: StoredObject, existing: StoredObject): boolean {
  const a = next.metadata;
  const b = existing.metadata;
  return (
    sameSpec(kind, next, existing) &&
    next.status === existing.status &&
    a.labels === b.labels &&
    a.annotations === b.annotations &&
    a.ownerReferences === b.ownerReferences &&
    a.finalizers === b.finalizers &&
    a.managedFields === b.managedFields &&
    a.generation === b.generation &&
    a.deletionTimestamp === b.deletionTimestamp
  );
}

/** Plans an update of everything but status. */
export function planUpdate(
  write: PreparedWrite,
  existing: StoredObject | undefined,
  context: WriteContext,
): WritePlan {
  const { kind } = write;
  if (existing === undefined) throw notFound(subjectOf(kind, write.key.name));
  checkPreconditions(kind, existing, write.uid, write.resourceVersion);
  const old = existing.metadata;
  if (old.deletionTimestamp !== undefined) {
    const added = (write.finalizers ?? []).filter((f) => !(old.finalizers ?? []).includes(f));
    if (added.length > 0) {
      throw invalid(subjectOf(kind, old.name), [
        {
          field: "metadata.finalizers",
          reason: "FieldValueForbidden",
          message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        },
      ]);
    }
  }
  const existingSpec = specOf(kind, existing);
  const specChanged = !deepEqual(write.spec, existingSpec);
  const next: Resource = {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: metaOf(
      {
        name: old.name,
        namespace: old.namespace,
        generateName: old.generateName,
        uid: old.uid,
        generation: old.generation + (specChanged ? 1 : 0),
        creationTimestamp: old.creationTimestamp,
        deletionTimestamp: old.deletionTimestamp,
      },
      write,
      context.resourceVersion,
    ),
    spec: specChanged ? write.spec : existingSpec,
  };
  if (existing.status !== undefined) next.status = existing.status;
  next.metadata.managedFields = managedFieldsOf(write, existing, next, "main", context);
  return finish(kind, existing, next, context);
}

/**
 * The managed fields of `next`, written by `write` over `existing`: the apply's result, or the
 * stored (or writer's) entries with this write's changes recorded as its manager's — only when
 * it names a manager or the object's fields are tracked already.
 */
function managedFieldsOf(
  write: PreparedWrite,
  existing: StoredObject,
  next: Resource,
  scope: FieldScope,
  context: WriteContext,
): ManagedFieldsEntry[] | undefined {
  const given = write.managedFields;
  if (write.managedFieldsFinal) return emptyToUndefined(given) as ManagedFieldsEntry[] | undefined;
  const base = (
    given === undefined || scope === "status"
      ? existing.metadata.managedFields
      : emptyToUndefined(given)
  ) as ManagedFieldsEntry[] | undefined;
  const manager = write.fieldManager ?? (base === undefined ? undefined : defaultFieldManager);
  if (manager === undefined) return base;
  const { kind } = write;
  return recordUpdate({
    before: trackedView(kind, existing.metadata, specOf(kind, existing), existing.status),
    after: trackedView(kind, next.metadata, next.spec, next.status),
    managedFields: base,
    manager,
    apiVersion: kind.apiVersion,
    scope,
    schema: fieldSchemaOf(kind),
    time: timestamp(context.wallNow),
  }) as ManagedFieldsEntry[] | undefined;
}

/** An object as its fields are tracked: a flat kind's body beside its metadata. */
function trackedView(
  kind: AnyKind,
  metadata: unknown,
  spec: unknown,
  status: unknown,
): Record<string, unknown> {
  const view: Record<string, unknown> =
    kind.layout === "flat" && isPlainObject(spec)
      ? { ...bodyOf(spec), metadata }
      : { metadata, spec };
  if (status !== undefined) view.status = status;
  return view;
}

/** Plans a write of the status subresource: only `status` changes. */
export function planUpdateStatus(
  write: PreparedWrite,
  existing: StoredObject | undefined,
  context: WriteContext,
): WritePlan {
  const { kind } = write;
  if (existing === undefined) throw notFound(subjectOf(kind, write.key.name));
  checkPreconditions(kind, existing, write.uid, write.resourceVersion);
  const next = {
    ...existing,
    metadata: { ...existing.metadata, resourceVersion: context.resourceVersion },
    spec: specOf(kind, existing),
  } as Resource;
  if (write.status === undefined) delete next.status;
  else next.status = write.status;
  next.metadata.managedFields = managedFieldsOf(write, existing, next, "status", context);
  return finish(kind, existing, next, context);
}

/** Plans a delete: marks the object when finalizers hold it, removes it otherwise. */
export function planDelete(
  kind: AnyKind,
  key: ObjectKey,
  existing: StoredObject | undefined,
  preconditions: { readonly uid?: string; readonly resourceVersion?: string } | undefined,
  context: WriteContext,
): WritePlan {
  if (existing === undefined) throw notFound(subjectOf(kind, key.name));
  checkPreconditions(kind, existing, preconditions?.uid, preconditions?.resourceVersion);
  const meta = existing.metadata;
  if (meta.finalizers === undefined) {
    return {
      action: "remove",
      object: atRevision(existing, context.resourceVersion),
      bytes: storedBytes(kind, existing),
    };
  }
  if (meta.deletionTimestamp !== undefined) return { action: "none", object: existing };
  const next = {
    ...existing,
    metadata: metaOf(
      { ...meta, generation: meta.generation + 1, deletionTimestamp: timestamp(context.wallNow) },
      meta,
      context.resourceVersion,
    ),
    spec: specOf(kind, existing),
  } as Resource;
  const sealed = seal(kind, next, context.maxObjectBytes, existing);
  return { action: "put", object: sealed.object, created: false, bytes: sealed.bytes };
}

/**
 * The object an apply creates when none exists: the body, at the key being patched, with the
 * applier's fields as its managed fields (stamped `time`).
 */
export function applyBody(
  kind: AnyKind,
  key: ObjectKey,
  patch: Extract<Patch, { type: "apply" }>,
  time: string,
): Frozen<ResourceInput> {
  const body = patch.patch;
  if (!isPlainObject(body)) throw badRequest("an apply patch must be a JSON object");
  const metadata = isPlainObject(body.metadata) ? body.metadata : {};
  // A library call's configuration may leave its type out; a served request's must name it.
  checkAppliedType(body, kind.apiVersion, kind.kind, false);
  checkBodyKey(kind, key, metadata);
  checkNestingDepth(subjectOf(kind, key.name), body);
  const { managedFields } = applyConfiguration({
    live: undefined,
    config: body,
    managedFields: undefined,
    manager: patch.fieldManager ?? defaultFieldManager,
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    force: patch.force === true,
    scope: "main",
    schema: fieldSchemaOf(kind),
    time,
  });
  return {
    ...body,
    metadata: {
      ...metadata,
      name: key.name,
      namespace: key.namespace,
      managedFields: managedFields ?? [],
    },
  } as Frozen<ResourceInput>;
}

function checkBodyKey(kind: AnyKind, key: ObjectKey, metadata: Record<string, unknown>): void {
  if (metadata.name !== undefined && metadata.name !== key.name) {
    throw invalid(subjectOf(kind, key.name), [
      {
        field: "metadata.name",
        reason: "FieldValueInvalid",
        message: `Invalid value: ${JSON.stringify(metadata.name)}: the name of the object does not match the name being patched (${key.name})`,
      },
    ]);
  }
  const namespace = metadata.namespace === "" ? undefined : metadata.namespace;
  if (namespace !== undefined && namespace !== key.namespace) {
    throw invalid(subjectOf(kind, key.name), [
      {
        field: "metadata.namespace",
        reason: "FieldValueInvalid",
        message: `Invalid value: ${JSON.stringify(metadata.namespace)}: does not match the namespace being patched`,
      },
    ]);
  }
}

/** The object a patch makes of `existing`, as a plain mutable document. */
export function patchDocument(
  kind: AnyKind,
  key: ObjectKey,
  existing: StoredObject,
  patch: Patch,
): Record<string, unknown> & { metadata?: Record<string, unknown> } {
  let result: unknown;
  switch (patch.type) {
    case "merge":
    case "apply":
      if (!isPlainObject(patch.patch))
        throw badRequest(`a ${patch.type} patch must be a JSON object`);
      if (patch.type === "apply")
        checkBodyKey(kind, key, isPlainObject(patch.patch.metadata) ? patch.patch.metadata : {});
      result = applyMergePatch(existing, patch.patch);
      break;
    case "strategic":
      result = applyStrategicPatch(kind, existing, patch.patch);
      break;
    case "json":
      result = applyJsonPatch(existing, patch.patch);
      break;
    default:
      throw badRequest(`unknown patch type ${JSON.stringify((patch as { type: unknown }).type)}`);
  }
  if (!isPlainObject(result))
    throw invalid(subjectOf(kind, key.name), [
      {
        field: "<root>",
        reason: "FieldValueInvalid",
        message: "the patched object must be a JSON object",
      },
    ]);
  const metadata = isPlainObject(result.metadata) ? { ...result.metadata } : {};
  if (metadata.name !== key.name || (metadata.namespace ?? undefined) !== key.namespace) {
    throw invalid(subjectOf(kind, key.name), [
      {
        field: "metadata.name",
        reason: "FieldValueInvalid",
        message: "a patch may not change the name or namespace",
      },
    ]);
  }
  return { ...result, metadata };
}

/**
 * A strategic merge patch of `existing`, by what the API's definitions say of the kind's fields;
 * a kind they do not have (a custom resource) is UnsupportedMediaType, kube-apiserver's answer.
 */
function applyStrategicPatch(
  kind: AnyKind,
  existing: StoredObject,
  patch: Readonly<Record<string, unknown>>,
): unknown {
  if (!isPlainObject(patch)) throw badRequest("a strategic merge patch must be a JSON object");
  const schema = builtinPatchSchema(kind.group, kind.version, kind.kind);
  if (schema === undefined) throw strategicPatchUnsupported();
  return applyStrategicMergePatch(existing, patch, schema);
}

/**
 * Applies `patch` to `existing` and prepares the result as a write of the main resource, or of
 * status only. A patch that names no resourceVersion applies to the version it read: the store
 * must commit it against that version or apply it again.
 */
export function preparePatch(
  kind: AnyKind,
  key: ObjectKey,
  existing: StoredObject,
  patch: Patch,
  status: boolean,
  fieldManager: string | undefined,
  time: string,
): PreparedWrite | Promise<PreparedWrite> {
  if (patch.type === "apply") return prepareApply(kind, key, existing, patch, status, time);
  const document = patchDocument(kind, key, existing, patch);
  const metadata = document.metadata as Record<string, unknown>;
  if (metadata.resourceVersion === undefined || metadata.resourceVersion === "") {
    metadata.resourceVersion = existing.metadata.resourceVersion;
  }
  return prepareWrite(kind, document, status ? "status" : "update", fieldManager);
}

/**
 * Server-side apply of `patch` to `existing` (see `server-side-apply.ts`), prepared as a write
 * whose managed fields are the apply's result. A conflict with another manager's fields is
 * `Conflict` (409) unless the patch is forced.
 */
function prepareApply(
  kind: AnyKind,
  key: ObjectKey,
  existing: StoredObject,
  patch: Extract<Patch, { type: "apply" }>,
  status: boolean,
  time: string,
): PreparedWrite | Promise<PreparedWrite> {
  const config = patch.patch;
  if (!isPlainObject(config)) throw badRequest("an apply patch must be a JSON object");
  const configMeta = isPlainObject(config.metadata) ? config.metadata : {};
  // A library call's configuration may leave its type out; a served request's must name it.
  checkAppliedType(config, kind.apiVersion, kind.kind, false);
  checkBodyKey(kind, key, configMeta);
  checkNestingDepth(subjectOf(kind, key.name), config);
  const { object, managedFields } = applyConfiguration({
    live: existing as unknown as Record<string, unknown>,
    config,
    managedFields: existing.metadata.managedFields as ManagedFieldsEntry[] | undefined,
    manager: patch.fieldManager ?? defaultFieldManager,
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    force: patch.force === true,
    scope: status ? "status" : "main",
    schema: fieldSchemaOf(kind),
    time,
  });
  const resourceVersion = configMeta.resourceVersion;
  const document = {
    ...object,
    metadata: {
      ...(object.metadata as Record<string, unknown>),
      // A version the apply names is a precondition, as for any patch.
      resourceVersion:
        typeof resourceVersion === "string" && resourceVersion !== ""
          ? resourceVersion
          : existing.metadata.resourceVersion,
      managedFields: managedFields ?? [],
    },
  };
  return prepareWrite(kind, document, status ? "status" : "update", undefined, true);
}
