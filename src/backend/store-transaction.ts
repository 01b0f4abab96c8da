/**
 * What a store implements to run setpoint's store engine (`store-engine.ts`): a handful of reads
 * and one change, inside one atomic write ({@link StoreTransaction}), and the way it opens that
 * write ({@link TransactionalStore}). Everything a write means — preconditions, generations,
 * finalizers, fencing, dry runs, garbage collection — is the engine's; a store only keeps
 * objects, hands out revisions and records changes for its watches.
 *
 * A transaction's methods answer at once (the memory store: the whole write runs without an
 * `await`, so it is atomic in one turn of the event loop) or with promises (PostgreSQL: one SQL
 * transaction holding the revision row lock, so revision order is commit order). See `steps.ts`.
 */
import type { AnyKind } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import type { StoredObject } from "./backend.js";
import type { Maybe, Steps } from "./steps.js";

/** One change a write makes, at its revision: what a store keeps and what its watches see. */
export interface Change {
  readonly kind: AnyKind;
  readonly revision: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  /** The object as stored; for a removal, as it was removed (at `revision`). */
  readonly object: StoredObject;
  /** The version it replaces, if any. */
  readonly previous: StoredObject | undefined;
  /** The labels before the change, when they differ from `object`'s (for selector watches). */
  readonly previousLabels: Readonly<Record<string, string>> | undefined;
  /** About the JSON size of `object`, as counted against the size limit. */
  readonly bytes: number;
}

/** An object whose `ownerReferences` name an owner: where garbage collection looks. */
export interface Dependent {
  readonly kind: AnyKind;
  readonly key: ObjectKey;
}

/**
 * What a store knows of the object an owner reference names: `undefined` when the store has
 * never held the owner's kind; otherwise the kind's scope and the uid of the object at the name
 * (`undefined` if there is none).
 */
export type OwnerLookup =
  | undefined
  | { readonly namespaced: boolean; readonly uid: string | undefined };

/** Names in use, as a generated name is checked against them. */
export interface NameSet {
  has(name: string): boolean;
}

/**
 * One atomic write's view of a store. Reads see the changes the transaction made; nothing is
 * seen by others (reads, watches) before the store's {@link TransactionalStore.transact} ends.
 */
export interface StoreTransaction {
  /** The object stored at `key`, if any. */
  read(kind: AnyKind, key: ObjectKey): Maybe<StoredObject | undefined>;
  /** The Lease a fence names, if it exists. */
  lease(key: ObjectKey): Maybe<StoredObject | undefined>;
  /** The names of `kind` in `namespace` that start with `prefix` (for `generateName`). */
  namesWithPrefix(kind: AnyKind, namespace: string | undefined, prefix: string): Maybe<NameSet>;
  /**
   * The revision the next change gets: the same until a change takes it, then the one after.
   */
  nextRevision(): Maybe<number>;
  /** Keeps `change` (stores or removes the object, indexes its owners) and records it for watches. */
  apply(change: Change): Maybe<void>;
  /** The objects whose `ownerReferences` name `uid`. */
  dependentsOf(uid: string): Maybe<Iterable<Dependent>>;
  /**
   * The owner of kind `kindId` (`group/Kind`) named `name`, looked up in `namespace` if its kind
   * is namespaced (`namespace` is the dependent's: `undefined` for a cluster-scoped one).
   */
  findOwner(kindId: string, name: string, namespace: string | undefined): Maybe<OwnerLookup>;
  /**
   * Refuses an object this store cannot hold, as `apply` would: a dry run checks it. Optional:
   * a store that holds everything `seal` makes has nothing to check.
   */
  checkStorable?(kind: AnyKind, object: StoredObject): void;
}

/**
 * What a write reads first: the object it writes and, for a fenced write, the Lease. A store
 * that reads ahead (PostgreSQL reads a batch's targets in one query) fetches them before the
 * write runs; the others ignore it.
 */
export interface WriteTarget {
  readonly kind: AnyKind;
  readonly key: ObjectKey;
  readonly fence?: ObjectKey;
}

/** A store the engine writes through. */
export interface TransactionalStore {
  /** Throws when the store refuses calls (closed, or failed). */
  checkOpen(): void;
  /** The object stored at `key` now, outside any write: what a patch is applied to. */
  read(kind: AnyKind, key: ObjectKey): Maybe<StoredObject | undefined>;
  /**
   * Runs `steps` as one atomic write and resolves to its result once the write is complete (for
   * a durable store, durable). A transaction that changed nothing leaves no trace. `target`
   * says what the steps read first (see {@link WriteTarget}).
   */
  transact<T>(steps: (tx: StoreTransaction) => Steps<T>, target?: WriteTarget): Promise<T>;
}
