/**
 * The Backend contract: the storage-and-watch interface every store implements — memory, the
 * durable embedded store, PostgreSQL and Kubernetes — with Kubernetes API semantics.
 *
 * ## Guarantees every Backend keeps (checked by `runBackendConformance` in `setpoint/testing`)
 * - `resourceVersion` is opaque to callers; compare it for equality only. setpoint's own stores
 *   hand out one global, strictly increasing revision per store, as a decimal string.
 * - `create` sets `uid`, `creationTimestamp`, `generation: 1` and `resourceVersion`; a taken key
 *   is `AlreadyExists`; `metadata.generateName` picks a free name. `status` is not written by
 *   create (as in Kubernetes with the status subresource): write it with `updateStatus`.
 * - `update` needs the current `resourceVersion` (else `Conflict`; missing is `Invalid`);
 *   `generation` increments when `spec` changes; it never changes `status`. `updateStatus` never
 *   changes anything but `status`. A write that changes nothing makes no revision and no event.
 * - `patch` applies a JSON merge patch, a strategic merge patch (built-in kinds), a JSON patch
 *   (with `test`) or a server-side apply (with field ownership in `metadata.managedFields`,
 *   conflicts between managers, and removal of fields an applier leaves out); a patch naming
 *   `metadata.resourceVersion` is preconditioned on it.
 * - `delete` with finalizers present sets `deletionTimestamp` and keeps the object; no finalizer
 *   may be added from then on; when the last finalizer goes, the object goes. Deleting removes
 *   dependents whose `ownerReferences` name its `uid` once no other owner of theirs exists
 *   (background propagation). Preconditions on `uid`/`resourceVersion` are honoured.
 * - `watch` from a revision delivers every later change of the kind, in revision order, exactly
 *   once; a resume point older than the kept history fails with `Expired` (410), one beyond the
 *   store's revision with `Timeout` (504) "Too large resource version" (kube-apiserver's answer,
 *   on which clients relist). A `continue` token the store cannot serve is `Expired`.
 * - Dependents are collected as Kubernetes' collector would: an owner is present when an object
 *   of its kind, name and uid exists; a namespaced owner named by a cluster-scoped dependent is
 *   unresolvable, and counts as present (Kubernetes never collects for it).
 * - Invalid input is `Invalid` (422) with field paths, and nothing is written.
 * - Text as Kubernetes keeps it: lone surrogates become U+FFFD; U+0000 is kept, or refused as
 *   `Invalid` by a store that cannot hold it (PostgreSQL). Client input is never InternalError.
 * - Every object handed out is deeply frozen; writes never change the caller's object.
 */
import type { JsonPatchOperation } from "../model/json.js";
import type { AnyKind } from "../model/kind.js";
import type { Frozen, ObjectKey, Resource, ResourceInput } from "../model/resource.js";
import type { FieldSelector, LabelSelectorInput } from "../model/selector.js";

/** A stored object of any kind, as backends hand it out. */
export type StoredObject = Frozen<Resource<Record<string, unknown>, Record<string, unknown>>>;

/** Options of `list`. */
export interface ListOptions {
  /** Only this namespace; all namespaces when left out. */
  readonly namespace?: string;
  readonly labelSelector?: LabelSelectorInput;
  /** `metadata.name` and `metadata.namespace` terms, string or parsed. */
  readonly fieldSelector?: string | FieldSelector;
  /** At most this many items; the rest is reached through `continue`. */
  readonly limit?: number;
  /** The `continue` token of the previous page: the next page of the same snapshot. */
  readonly continue?: string;
  /**
   * The revision to read at, as Kubernetes' `resourceVersion` of a list: with
   * `resourceVersionMatch: "Exact"`, the state at exactly that revision, which the store must
   * still hold in its kept history (else `Expired`, 410, as etcd answers a compacted revision);
   * otherwise (`NotOlderThan`, the default) the current state, which is never older. Beyond the
   * store's revision: `Timeout` (504) "Too large resource version". `""` and `"0"`: the current
   * state. Not with `continue`, whose token carries its revision. @default the current state
   */
  readonly resourceVersion?: string;
  /** How `resourceVersion` is matched. @default "NotOlderThan" */
  readonly resourceVersionMatch?: "Exact" | "NotOlderThan";
  /**
   * A hint that the caller will read every page at once (an informer's list): a remote backend
   * may then ask for the next page while this one is still arriving. @default false
   */
  readonly readAhead?: boolean;
}

/** One page of a list: items in key order, the revision they were read at, the next page. */
export interface ObjectList<T = StoredObject> {
  readonly items: readonly T[];
  /** The revision the list reflects; watch from it to see every later change. */
  readonly resourceVersion: string;
  /** Present when more items remain: pass as `continue` for the next page. */
  readonly continue?: string;
}

/** Options of `watch`. */
export interface WatchOptions {
  /**
   * Deliver changes after this revision; from now on when left out. Unlike Kubernetes, `"0"`
   * is not "any": it asks for every change since the store began, `Expired` once that history is
   * gone. List first and watch from the list's `resourceVersion` to see everything. A revision
   * beyond the store's fails with `Timeout` (504) "Too large resource version": relist.
   */
  readonly resourceVersion?: string;
  readonly namespace?: string;
  readonly labelSelector?: LabelSelectorInput;
  readonly fieldSelector?: string | FieldSelector;
  /** Deliver BOOKMARK events carrying the current revision while the watch is quiet. */
  readonly allowBookmarks?: boolean;
  /**
   * How often a quiet watch sends a bookmark; a hint, since some backends (Kubernetes) choose
   * for themselves. @default 60_000
   */
  readonly bookmarkIntervalMs?: number;
  /** Ends the watch: the iteration finishes without an error. */
  readonly signal?: AbortSignal;
}

/** One change seen by a watch. */
export type WatchEvent<T = StoredObject> =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: T }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string };

/**
 * A running watch: iterate it for events. It ends when its `signal` aborts or `close()` is
 * called; it throws `ApiError` `Expired` (410) when its resume point is, or falls, out of the
 * kept history — relist then.
 */
export interface Watch<T = StoredObject> extends AsyncIterableIterator<WatchEvent<T>> {
  close(): void;
  /**
   * The next event if one is at hand now, without waiting (and without a promise); `undefined`
   * when the consumer would have to wait, or the watch has ended or failed — `next()` then says
   * which. Optional: a fast path for consumers that drain bursts, such as the Watcher.
   */
  poll?(): WatchEvent<T> | undefined;
}

/** The patch formats. */
export type Patch =
  /** RFC 7386: objects merge, `null` removes, anything else replaces. */
  | { readonly type: "merge"; readonly patch: Readonly<Record<string, unknown>> }
  /**
   * Kubernetes' strategic merge patch (`application/strategic-merge-patch+json`), for built-in
   * kinds only: like a merge patch, but lists the API declares mergeable merge element by element
   * on their key (containers by `name`, ports by `containerPort`…) or as a set (finalizers), and
   * the `$patch`, `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…` directives
   * apply, as kube-apiserver applies them. A kind the API's definitions do not have (a custom
   * resource) answers `UnsupportedMediaType` (415), as kube-apiserver does.
   * @example
   * { type: "strategic", patch: { spec: { template: { spec: { containers: [{ name: "app", image: "app:2" }] } } } } }
   */
  | { readonly type: "strategic"; readonly patch: Readonly<Record<string, unknown>> }
  /** RFC 6902 operations, `test` included. */
  | { readonly type: "json"; readonly patch: readonly JsonPatchOperation[] }
  /**
   * Server-side apply, as Kubernetes does it: create the object if it is missing, otherwise
   * merge the applied configuration into it (objects member by member; lists by their keys
   * where the kind's schema gives them — containers by `name` — else whole), and record its
   * fields as `fieldManager`'s in `metadata.managedFields`. A field this manager applied before
   * and leaves out now is removed, unless another manager owns it too. Changing a field another
   * manager owns is `Conflict` (409), naming the fields and managers, unless `force`, which
   * takes the fields over.
   * @example
   * { type: "apply", fieldManager: "my-controller", patch: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" }, spec: { replicas: 3 } } }
   */
  | {
      readonly type: "apply";
      readonly patch: Readonly<Record<string, unknown>>;
      /** Who applies. @default "setpoint" */
      readonly fieldManager?: string;
      /** Take fields other managers own instead of failing with a conflict. @default false */
      readonly force?: boolean;
    };

/** Options of writes. */
export interface WriteOptions {
  /** Validate and compute the result, but write nothing. */
  readonly dryRun?: boolean;
  /**
   * Who writes, for `metadata.managedFields`: the fields this write sets or changes become this
   * manager's (an `Update` entry), as kube-apiserver records them. Left out, a write is recorded
   * (as `"setpoint"`'s) only on an object whose fields are tracked already (one that was
   * applied, or written with a manager), so that untracked writes cost nothing. Apply patches
   * name their manager in the patch.
   */
  readonly fieldManager?: string;
  /**
   * Refuse the write (`Conflict`) unless the Lease is still held in this term, checked in the
   * same atomic step as the write. Set on the writes of leader-elected controllers; the memory,
   * durable and PostgreSQL stores check it (the Kubernetes backend cannot, and ignores it).
   */
  readonly fence?: Fence;
}

/**
 * A leader's term: the Lease `lease` held by `holder` with `leaseTransitions` = `transitions`.
 * A deposed leader's late writes carry a term that is over, and are refused.
 */
export interface Fence {
  readonly lease: { readonly namespace?: string; readonly name: string };
  readonly holder: string;
  readonly transitions: number;
}

/** Options of `patch`. */
export interface PatchOptions extends WriteOptions {
  /** Patch the status subresource: only `status` changes. */
  readonly subresource?: "status";
}

/** Options of `delete`. */
export interface DeleteOptions extends WriteOptions {
  /** Delete only if the object still has this uid / resourceVersion, else `Conflict`. */
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
}

/** What a backend can do beyond the contract, declared rather than sniffed. */
export interface BackendCapabilities {
  /** Where the store lives, for people: `memory`, `sqlite`, `postgres`, `kubernetes`. */
  readonly name: string;
  /** Survives a restart of the process. */
  readonly durable: boolean;
  /**
   * The store keeps Kubernetes' namespace lifecycle itself (a Kubernetes API server): clients
   * write into namespaces as they are, and a missing one is refused by the store. When false,
   * the typed client creates a namespace on the first write into it. @default false
   */
  readonly keepsNamespaces?: boolean;
}

/**
 * The storage-and-watch contract; see the module documentation for its guarantees. Every
 * method takes the {@link AnyKind} it acts on; backends validate writes with its schemas.
 */
export interface Backend {
  readonly capabilities: BackendCapabilities;
  get(kind: AnyKind, key: ObjectKey): Promise<StoredObject>;
  list(kind: AnyKind, options?: ListOptions): Promise<ObjectList>;
  watch(kind: AnyKind, options?: WatchOptions): Watch;
  create(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject>;
  update(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject>;
  updateStatus(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject>;
  patch(kind: AnyKind, key: ObjectKey, patch: Patch, options?: PatchOptions): Promise<StoredObject>;
  /** Returns the object as deleted, or, with finalizers present, as marked for deletion. */
  delete(kind: AnyKind, key: ObjectKey, options?: DeleteOptions): Promise<StoredObject>;
  /** Ends every watch and releases resources; later calls fail. */
  close(): Promise<void>;
}
