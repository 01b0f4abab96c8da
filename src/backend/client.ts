import { badRequest } from "../model/api-error.js";
import type { AnyKind, ResourceInputOf, ResourceOf } from "../model/kind.js";
import type { Frozen, ObjectKey, ResourceInput } from "../model/resource.js";
import type {
  Backend,
  DeleteOptions,
  ListOptions,
  ObjectList,
  Patch,
  PatchOptions,
  Watch,
  WatchOptions,
  WriteOptions,
} from "./backend.js";

/** The namespace a namespaced object goes to when neither it nor its client names one. */
export const defaultNamespace = "default";

/**
 * The typed view of a {@link Backend} for one kind: what `plane.resources(Kind)` returns.
 *
 * Namespaces, for a namespaced kind: a client made with a namespace reads, lists and watches
 * only that namespace and writes only into it; one made without lists and watches all
 * namespaces. Where a name alone is given, or an object names no namespace, the client's
 * namespace is used, else `"default"`, as kubectl does. Cluster-scoped kinds take no namespace.
 *
 * @example
 * ```ts
 * const widgets = plane.resources(Widget, { namespace: "shop" });
 * const created = await widgets.create({ metadata: { name: "front" }, spec: { replicas: 2 } });
 * for await (const event of widgets.watch({ resourceVersion: created.metadata.resourceVersion })) {
 *   console.log(event.type);
 * }
 * ```
 */
export class Client<K extends AnyKind> {
  constructor(
    readonly backend: Backend,
    readonly kind: K,
    /** The namespace this client is limited to; `undefined` for all namespaces. */
    readonly namespace: string | undefined = undefined,
  ) {
    if (kind.scope === "Cluster" && namespace !== undefined) {
      throw new TypeError(`${kind.kind} is cluster-scoped: its client takes no namespace`);
    }
  }

  /** The same client limited to one namespace. */
  inNamespace(namespace: string): Client<K> {
    return new Client(this.backend, this.kind, namespace);
  }

  /** The key of `name` (or of a full key) in this client's namespace. */
  key(nameOrKey: string | ObjectKey): ObjectKey {
    const key = typeof nameOrKey === "string" ? { name: nameOrKey } : nameOrKey;
    if (this.kind.scope === "Cluster") return { name: key.name };
    return { namespace: key.namespace ?? this.namespace ?? defaultNamespace, name: key.name };
  }

  get(nameOrKey: string | ObjectKey): Promise<ResourceOf<K>> {
    return this.backend.get(this.kind, this.key(nameOrKey)) as Promise<ResourceOf<K>>;
  }

  list(options: ListOptions = {}): Promise<ObjectList<ResourceOf<K>>> {
    return this.backend.list(this.kind, this.scoped(options)) as Promise<ObjectList<ResourceOf<K>>>;
  }

  /** Watches changes; see {@link Watch}. From now on unless `resourceVersion` is given. */
  watch(options: WatchOptions = {}): Watch<ResourceOf<K>> {
    return this.backend.watch(this.kind, this.scoped(options)) as Watch<ResourceOf<K>>;
  }

  create(object: ResourceInputOf<K>, options?: WriteOptions): Promise<ResourceOf<K>> {
    return this.write("create", object, options);
  }

  /** Replaces everything but status; `metadata.resourceVersion` must be the current one. */
  update(object: ResourceInputOf<K>, options?: WriteOptions): Promise<ResourceOf<K>> {
    return this.write("update", object, options);
  }

  /** Replaces status only; `metadata.resourceVersion` must be the current one. */
  updateStatus(object: ResourceInputOf<K>, options?: WriteOptions): Promise<ResourceOf<K>> {
    return this.write("updateStatus", object, options);
  }

  private write(
    method: "create" | "update" | "updateStatus",
    object: ResourceInputOf<K>,
    options: WriteOptions | undefined,
  ): Promise<ResourceOf<K>> {
    let placed: Frozen<ResourceInput>;
    try {
      placed = this.placed(object);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.backend[method](this.kind, placed, options) as Promise<ResourceOf<K>>;
  }

  patch(
    nameOrKey: string | ObjectKey,
    patch: Patch,
    options?: PatchOptions,
  ): Promise<ResourceOf<K>> {
    return this.backend.patch(this.kind, this.key(nameOrKey), patch, options) as Promise<
      ResourceOf<K>
    >;
  }

  /** Deletes; with finalizers present the object stays, marked with `deletionTimestamp`. */
  delete(nameOrKey: string | ObjectKey, options?: DeleteOptions): Promise<ResourceOf<K>> {
    return this.backend.delete(this.kind, this.key(nameOrKey), options) as Promise<ResourceOf<K>>;
  }

  private scoped<O extends { readonly namespace?: string }>(options: O): O {
    if (
      this.kind.scope === "Cluster" ||
      options.namespace !== undefined ||
      this.namespace === undefined
    )
      return options;
    return { ...options, namespace: this.namespace };
  }

  private placed(object: ResourceInputOf<K>): Frozen<ResourceInput> {
    if (this.kind.scope === "Cluster" || object?.metadata === undefined)
      return object as Frozen<ResourceInput>;
    const namespace = object.metadata.namespace;
    if (namespace !== undefined && this.namespace !== undefined && namespace !== this.namespace) {
      throw badRequest(
        `the namespace of the object (${namespace}) does not match the namespace of the client (${this.namespace})`,
      );
    }
    if (namespace !== undefined) return object as Frozen<ResourceInput>;
    return {
      ...object,
      metadata: { ...object.metadata, namespace: this.namespace ?? defaultNamespace },
    } as Frozen<ResourceInput>;
  }
}
