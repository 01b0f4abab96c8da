/**
 * The Kubernetes object rules every setpoint store shares, as pure functions: checking and
 * normalizing what a writer sends (`prepare*`, which may await a schema validator) and deciding
 * what a write does to the stored object (`plan*`, synchronous, run where the store holds the
 * key: inside a transaction, or between two awaits in memory).
 *
 * Stores only keep objects, hand out revisions and deliver events; what create, update, status
 * updates, deletes and finalizers mean lives here, once.
 */
import { randomUUID } from "node:crypto";
import {
  ApiError,
  alreadyExists,
  conflict,
  type ErrorSubject,
  invalid,
  notFound,
} from "../model/api-error.js";
import { deepEqual } from "../model/json.js";
import type { AnyKind } from "../model/kind.js";
import {
  deepFreeze,
  type ObjectKey,
  type ObjectMeta,
  type OwnerReference,
  type Resource,
} from "../model/resource.js";
import {
  checkAnnotations,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkLabels,
  checkQualifiedName,
  FieldErrors,
  isPlainObject,
  validateWith,
} from "../model/validation.js";
import type { StoredObject } from "./backend.js";

/** etcd's default request limit, which bounds a Kubernetes object: 1.5 MiB. */
export const defaultMaxObjectBytes = 1.5 * 1024 * 1024;

const topLevelFields = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);

/** The subject of errors about an object of `kind` named `name`. */
export function subjectOf(kind: AnyKind, name?: string): ErrorSubject {
  return name === undefined
    ? { group: kind.group, kind: kind.kind }
    : { group: kind.group, kind: kind.kind, name };
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

  for (const field of Object.keys(input)) {
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
  const validated = validateWith(
    write === "status" ? kind.status : kind.spec,
    write === "status" ? input.status : input.spec,
    write === "status" ? "status" : "spec",
    errors,
  );
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

/** What a store needs to make a write: the next revision and the time. */
export interface WriteContext {
  /** The revision this write will have, as the decimal string stores hand out. */
  readonly resourceVersion: string;
  /** Wall-clock milliseconds, for timestamps. */
  readonly wallNow: number;
  readonly maxObjectBytes: number;
}

/** The result of planning a write against the stored object. */
export type WritePlan =
  /** Nothing changes: no revision, no event; hand back the stored object. */
  | { readonly action: "none"; readonly object: StoredObject }
  /** Store `object` (a new revision): ADDED if `created`, MODIFIED otherwise. */
  | { readonly action: "put"; readonly object: StoredObject; readonly created: boolean }
  /** The object goes (last finalizer gone, or deleted without finalizers): DELETED. */
  | { readonly action: "remove"; readonly object: StoredObject };

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
export function generateNameFrom(prefix: string): string {
  let suffix = "";
  for (let i = 0; i < 5; i++)
    suffix += nameAlphabet[Math.floor(Math.random() * nameAlphabet.length)];
  return `${prefix.slice(0, 253 - 5)}${suffix}`;
}

function metaOf(
  base: {
    name: string;
    namespace?: string | undefined;
    generateName?: string | undefined;
    uid: string;
    generation: number;
    creationTimestamp: string;
    deletionTimestamp?: string | undefined;
  },
  write: Partial<Pick<PreparedWrite, "labels" | "annotations" | "ownerReferences" | "finalizers">>,
  resourceVersion: string,
): ObjectMeta {
  // One property order for every stored object, so that they share hidden classes.
  const meta: ObjectMeta = { name: base.name } as ObjectMeta;
  if (base.namespace !== undefined) meta.namespace = base.namespace;
  if (base.generateName !== undefined) meta.generateName = base.generateName;
  meta.uid = base.uid;
  meta.resourceVersion = resourceVersion;
  meta.generation = base.generation;
  meta.creationTimestamp = base.creationTimestamp;
  if (base.deletionTimestamp !== undefined) meta.deletionTimestamp = base.deletionTimestamp;
  if (write.labels !== undefined) meta.labels = write.labels as Record<string, string>;
  if (write.annotations !== undefined)
    meta.annotations = write.annotations as Record<string, string>;
  if (write.ownerReferences !== undefined)
    meta.ownerReferences = write.ownerReferences as OwnerReference[];
  if (write.finalizers !== undefined) meta.finalizers = write.finalizers as string[];
  return meta;
}

function toJson(kind: AnyKind, name: string, field: string, value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw invalid(subjectOf(kind, name), [
      { field, reason: "FieldValueInvalid", message: `cannot be written as JSON: ${(err as Error).message}` },
    ]);
  }
}

/**
 * Copies `object` through JSON into a compact, deeply frozen snapshot that shares nothing
 * with the writer's values, checking the size limit on the way. Values JSON cannot hold
 * (cycles, BigInt) are `Invalid`.
 *
 * Each part is copied on its own, so that `apiVersion` and `kind` share the kind's strings and
 * a `spec` or `status` taken unchanged from `previous` (already frozen) is shared, not copied:
 * what an object costs in memory is what makes it different.
 */
export function seal(kind: AnyKind, object: Resource, maxObjectBytes: number, previous?: StoredObject): StoredObject {
  const name = object.metadata.name;
  const metadata = toJson(kind, name, "metadata", object.metadata);
  const spec = toJson(kind, name, "spec", object.spec);
  const status = object.status === undefined ? undefined : toJson(kind, name, "status", object.status);
  // Characters are 1 to 3 UTF-8 bytes; count exactly only near the limit.
  const length = kind.apiVersion.length + kind.kind.length + metadata.length + spec.length + (status?.length ?? 0) + 60;
  if (length * 3 > maxObjectBytes) {
    const bytes = length + Buffer.byteLength(metadata + spec + (status ?? "")) - metadata.length - spec.length - (status?.length ?? 0);
    if (bytes > maxObjectBytes) {
      throw invalid(subjectOf(kind, name), [
        { field: "<root>", reason: "FieldValueTooLong", message: `Too long: the object is ${bytes} bytes; the limit is ${maxObjectBytes}` },
      ]);
    }
  }
  const sealedMetadata = JSON.parse(metadata);
  const sealedSpec = previous !== undefined && object.spec === previous.spec ? previous.spec : JSON.parse(spec);
  // Two literals rather than adding `status` later keeps every property in-object.
  const sealed: Resource =
    status === undefined
      ? { apiVersion: kind.apiVersion, kind: kind.kind, metadata: sealedMetadata, spec: sealedSpec }
      : {
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          metadata: sealedMetadata,
          spec: sealedSpec,
          status: previous !== undefined && object.status === previous.status ? previous.status : JSON.parse(status),
        };
  return deepFreeze(sealed) as StoredObject;
}

/** A copy of a stored object at a new revision (the DELETED form), sharing spec and status. */
export function atRevision(object: StoredObject, resourceVersion: string): StoredObject {
  return deepFreeze({
    ...object,
    metadata: { ...object.metadata, resourceVersion },
  }) as StoredObject;
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
      name = generateNameFrom(write.generateName);
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
        uid: randomUUID(),
        generation: 1,
        creationTimestamp: timestamp(context.wallNow),
        deletionTimestamp: undefined,
      },
      write,
      context.resourceVersion,
    ),
    spec: write.spec,
  };
  return { action: "put", object: seal(kind, object, context.maxObjectBytes), created: true };
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
  const { metadata } = next;
  // A terminating object whose last finalizer went is gone.
  if (metadata.deletionTimestamp !== undefined && metadata.finalizers === undefined) {
    return { action: "remove", object: seal(kind, next, context.maxObjectBytes, existing) };
  }
  const sameMeta = { ...metadata, resourceVersion: existing.metadata.resourceVersion };
  if (
    deepEqual(sameMeta, existing.metadata) &&
    deepEqual(next.spec, existing.spec) &&
    deepEqual(next.status, existing.status)
  ) {
    return { action: "none", object: existing };
  }
  return { action: "put", object: seal(kind, next, context.maxObjectBytes, existing), created: false };
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
  const specChanged = !deepEqual(write.spec, existing.spec);
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
    spec: specChanged ? write.spec : existing.spec,
  };
  if (existing.status !== undefined) next.status = existing.status;
  return finish(kind, existing, next, context);
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
  } as Resource;
  if (write.status === undefined) delete next.status;
  else next.status = write.status;
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
    return { action: "remove", object: atRevision(existing, context.resourceVersion) };
  }
  if (meta.deletionTimestamp !== undefined) return { action: "none", object: existing };
  const next = {
    ...existing,
    metadata: metaOf(
      { ...meta, generation: meta.generation + 1, deletionTimestamp: timestamp(context.wallNow) },
      meta,
      context.resourceVersion,
    ),
  } as Resource;
  return { action: "put", object: deepFreeze(next) as StoredObject, created: false };
}
