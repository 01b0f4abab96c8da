import { NamespaceLifecycle } from "../kubernetes/namespace-lifecycle.js";
import { ApiError, badRequest } from "../model/api-error.js";
import { type AnyKind, kindId, type ResourceInputOf, type ResourceOf } from "../model/kind.js";
import { Namespace } from "../model/namespace.js";
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

/** Whether `kind` is Kubernetes' Namespace. */
function isNamespaceKind(kind: AnyKind): boolean {
  return kindId(kind) === kindId(Namespace);
}

/** The namespace a namespaced object goes to when neither it nor its client names one. */
export const defaultNamespace = "default";

/** Options of a {@link Client}. */
export interface ClientOptions {
  /**
   * How the client keeps Kubernetes' namespace lifecycle: a {@link NamespaceLifecycle}, or
   * `false` to write into namespaces as they are.
   * @default a lifecycle over the backend (which creates namespaces but sweeps no content), or
   * `false` when the backend keeps namespaces itself (`capabilities.keepsNamespaces`: a
   * Kubernetes API server)
   */
  readonly namespaces?: NamespaceLifecycle | false;
}

/**
 * The typed view of a {@link Backend} for one kind: what `plane.resources(Kind)` returns.
 *
 * Namespaces, for a namespaced kind: a client made with a namespace reads, lists and watches
 * only that namespace and writes only into it; one made without lists and watches all
 * namespaces. Where a name alone is given, or an object names no namespace, the client's
 * namespace is used, else `"default"`, as kubectl does. Cluster-scoped kinds take no namespace.
 *
 * Namespace objects, on setpoint's own stores (memory, durable, PostgreSQL): the first create
 * (or apply) into a namespace that has no `Namespace` object creates it — so that programs
 * need not create namespaces first, and `kubectl get namespaces` through `setpoint serve` shows
 * every namespace that holds objects. A create into a namespace being deleted is `Forbidden`,
 * as in Kubernetes (a namespace seen active is not read again for a second, so a deletion made
 * elsewhere may take that long to be noticed here). Deleting a `Namespace` turns it `Terminating` and deletes its content; see
 * {@link NamespaceLifecycle}. The served Kubernetes API is stricter, as Kubernetes is: a write
 * into a missing namespace is `NotFound` there. On a Kubernetes backend the API server decides.
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
  /** The namespace lifecycle this client keeps, if any (see {@link ClientOptions}). */
  private readonly namespaces: NamespaceLifecycle | undefined;

  constructor(
    readonly backend: Backend,
    readonly kind: K,
    /** The namespace this client is limited to; `undefined` for all namespaces. */
    readonly namespace: string | undefined = undefined,
    private readonly options: ClientOptions = {},
  ) {
    if (kind.scope === "Cluster" && namespace !== undefined) {
      throw new TypeError(`${kind.kind} is cluster-scoped: its client takes no namespace`);
    }
    const namespaces =
      options.namespaces ??
      (backend.capabilities.keepsNamespaces === true ? false : new NamespaceLifecycle(backend));
    this.namespaces = namespaces === false ? undefined : namespaces;
  }

  /** The same client limited to one namespace. */
  inNamespace(namespace: string): Client<K> {
    return new Client(this.backend, this.kind, namespace, this.options);
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

  private async write(
    method: "create" | "update" | "updateStatus",
    object: ResourceInputOf<K>,
    options: WriteOptions | undefined,
  ): Promise<ResourceOf<K>> {
    const placed = this.placed(object);
    if (method === "create" && this.namespaces !== undefined) {
      if (isNamespaceKind(this.kind))
        return (await this.namespaces.create(placed, options)) as ResourceOf<K>;
      const namespace = placed?.metadata?.namespace;
      if (this.kind.scope === "Namespaced" && typeof namespace === "string")
        await this.namespaces.admit(this.kind, namespace, {
          name: placed.metadata?.name,
          creates: true,
          missing: "create",
          dryRun: options?.dryRun,
          check: () => this.backend.create(this.kind, placed, { ...options, dryRun: true }),
        });
    }
    return (await this.backend[method](this.kind, placed, options)) as ResourceOf<K>;
  }

  async patch(
    nameOrKey: string | ObjectKey,
    patch: Patch,
    options?: PatchOptions,
  ): Promise<ResourceOf<K>> {
    const key = this.key(nameOrKey);
    if (patch.type === "apply" && this.namespaces !== undefined && isNamespaceKind(this.kind)) {
      const found = await this.namespaces.get(key.name);
      if (found === undefined)
        return (await this.namespaces.create(
          {
            ...(patch.patch as unknown as ResourceInput),
            metadata: { ...(patch.patch.metadata as object), name: key.name },
          },
          options,
        )) as ResourceOf<K>;
    }
    // An apply may create: into a namespace that must then exist, and is not being deleted.
    if (
      patch.type === "apply" &&
      this.namespaces !== undefined &&
      this.kind.scope === "Namespaced" &&
      key.namespace !== undefined
    )
      await this.namespaces.admit(this.kind, key.namespace, {
        name: key.name,
        creates: () =>
          this.backend.get(this.kind, key).then(
            () => false,
            (err) => {
              if (ApiError.is(err, "NotFound")) return true;
              throw err;
            },
          ),
        missing: "create",
        dryRun: options?.dryRun,
        check: () => this.backend.patch(this.kind, key, patch, { ...options, dryRun: true }),
      });
    return (await this.backend.patch(this.kind, key, patch, options)) as ResourceOf<K>;
  }

  /**
   * Deletes; with finalizers present the object stays, marked with `deletionTimestamp`.
   * A `Namespace` turns `Terminating` and its content is deleted: at once for the kinds the
   * plane knows (a client from `plane.resources`), and it goes when nothing is left; content
   * held by finalizers keeps it `Terminating` until a {@link NamespaceLifecycle} run (`setpoint
   * serve` runs one) or a later delete finds it empty.
   */
  async delete(nameOrKey: string | ObjectKey, options?: DeleteOptions): Promise<ResourceOf<K>> {
    const key = this.key(nameOrKey);
    if (this.namespaces === undefined || !isNamespaceKind(this.kind))
      return (await this.backend.delete(this.kind, key, options)) as ResourceOf<K>;
    const terminating = await this.namespaces.delete(key.name, options);
    if (!options?.dryRun)
      // The deletion stands whatever this pass meets; a later pass finishes it.
      await this.namespaces.finish(key.name).catch(() => undefined);
    return terminating as ResourceOf<K>;
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
