/**
 * The Kubernetes shape of every object setpoint stores, and the helpers to handle it.
 *
 * Objects handed out by a store, a watch or a cache are deeply frozen snapshots ({@link Frozen}):
 * readers share them without copying. To change one, {@link clone} it and write the copy.
 */

/** A value that can be written as JSON. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** `T` with every property, at every depth, read-only: the type of what stores hand out. */
export type Frozen<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer E)[]
    ? readonly Frozen<E>[]
    : T extends object
      ? { readonly [P in keyof T]: Frozen<T[P]> }
      : T;

/** `T` with the read-only modifiers of {@link Frozen} removed again: what {@link clone} returns. */
export type Thawed<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer E)[]
    ? Thawed<E>[]
    : T extends object
      ? { -readonly [P in keyof T]: Thawed<T[P]> }
      : T;

/** A reference from a dependent to its owner (Kubernetes' `metav1.OwnerReference`). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** At most one owner of an object is its controller. */
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * The owner reference that makes `owner` the controller of an object: what `.owns()` maps a
 * child's changes back to its owner by, and what garbage collection deletes the child with.
 *
 * @example
 * ```ts
 * metadata: { name: generator.metadata.name, ownerReferences: [controllerReference(generator)] }
 * ```
 */
export function controllerReference(owner: {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly uid: string };
}): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Kubernetes' `ObjectMeta`, as stored: the server-set fields are always present. */
export interface ObjectMeta {
  name: string;
  /** Present for namespaced kinds, absent for cluster-scoped ones. */
  namespace?: string;
  generateName?: string;
  uid: string;
  /** Opaque; compare for equality only. In setpoint's own stores, the global revision. */
  resourceVersion: string;
  /** Incremented whenever anything outside `metadata` and `status` changes. */
  generation: number;
  /** RFC 3339, seconds precision, UTC. */
  creationTimestamp: string;
  /** Set when a delete waits for finalizers; never cleared. */
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  /** Which manager owns which fields (server-side apply); see {@link ManagedFieldsEntry}. */
  managedFields?: ManagedFieldsEntry[];
}

/**
 * One manager's fields (Kubernetes' `metav1.ManagedFieldsEntry`): what `manager` set by an
 * `Apply` (server-side apply) or by other writes (`Update`), in FieldsV1 encoding
 * (`{"f:spec": {"f:replicas": {}}}`).
 */
export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  /** RFC 3339: when the manager last changed the object. */
  time?: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  /** `status` for the status subresource's writes. */
  subresource?: string;
}

/** The metadata a writer may send: only `name` (or `generateName`) is needed. */
export interface ObjectMetaInput {
  name?: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
}

/** An object of some kind, as stored. */
export interface Resource<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** An object of some kind, as written: server-set metadata may be left out. */
export interface ResourceInput<Spec = unknown, Status = unknown> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMetaInput;
  spec: Spec;
  status?: Status;
}

/** Identifies an object within its kind: `namespace` is left out for cluster-scoped kinds. */
export interface ObjectKey {
  readonly namespace?: string | undefined;
  readonly name: string;
}

/** The `namespace/name` (or just `name`) string form of a key, as used by queues and logs. */
export function keyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

/** Parses {@link keyString}'s form back into a key. */
export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The key of a stored object. */
export function keyOf(object: {
  readonly metadata: { readonly namespace?: string; readonly name?: string };
}): ObjectKey {
  const { namespace, name } = object.metadata;
  return namespace === undefined ? { name: name ?? "" } : { namespace, name: name ?? "" };
}

/**
 * Deeply freezes a JSON value in place and returns it. Already-frozen subtrees are skipped,
 * so freezing an object that shares frozen parts with an older version costs only the new parts.
 */
export function deepFreeze<T>(value: T): Frozen<T> {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) freeze(value);
  return value as Frozen<T>;
}

/** Freezes an unfrozen object and what it holds; recurses only into objects (hot: every write). */
function freeze(value: object): void {
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === "object" && !Object.isFrozen(item)) freeze(item);
    }
  } else {
    for (const key in value) {
      const item: unknown = (value as Record<string, unknown>)[key];
      if (item !== null && typeof item === "object" && !Object.isFrozen(item)) freeze(item);
    }
  }
}

/**
 * A mutable deep copy of an object a store handed out, to change and write back.
 *
 * @example
 * ```ts
 * const widget = clone(await widgets.get("shop"));
 * widget.spec.replicas = 3;
 * await widgets.update(widget);
 * ```
 */
export function clone<T>(value: T): Thawed<T> {
  return structuredClone(value) as Thawed<T>;
}
