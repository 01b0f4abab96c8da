/**
 * The store engine: every write of every setpoint store — memory, durable, PostgreSQL — written
 * once, over the store's {@link StoreTransaction}.
 *
 * A write is checked and normalized (`prepareWrite`, which may await the kind's validator), then
 * runs as one transaction of the store: read the stored object, take the next revision, plan the
 * result (`plan*`: create, update, no-op, mark deleting, remove), check the fence, and — unless it
 * is a no-op or a dry run — apply it and collect garbage in the same transaction. A patch is read,
 * applied and prepared outside, and committed only against the version it read (Kubernetes'
 * GuaranteedUpdate: again on a newer version, up to {@link maxPatchAttempts} times).
 *
 * Guarantees, for every store:
 * - A write is atomic: its checks and its changes, garbage collection included, are one
 *   transaction. Over a synchronous store (memory) nothing awaits between the check and the
 *   commit; over PostgreSQL it all holds the revision row lock.
 * - A fence is checked in that transaction, so no Lease change slips in between.
 * - A dry run checks everything a write would, the store's own limits included, and changes
 *   nothing; a no-op write makes no revision and no event.
 * - Garbage collection follows Kubernetes' collector (see {@link StoreEngine}).
 */
import { ApiError, conflict, notFound } from "../model/api-error.js";
import type { Clock } from "../model/clock.js";
import { deepEqual } from "../model/json.js";
import { type AnyKind, groupOf } from "../model/kind.js";
import type { Frozen, ObjectKey, OwnerReference, ResourceInput } from "../model/resource.js";
import type { DeleteOptions, Patch, PatchOptions, StoredObject, WriteOptions } from "./backend.js";
import { subjectOf } from "./error-subject.js";
import { checkFence } from "./fence.js";
import {
  applyBody,
  type PreparedWrite,
  planCreate,
  planDelete,
  planUpdate,
  planUpdateStatus,
  preparePatch,
  prepareWrite,
  timestamp,
  type WriteContext,
  type WriteKind,
  type WritePlan,
} from "./object-rules.js";
import type { Steps } from "./steps.js";
import type {
  Change,
  Dependent,
  NameSet,
  OwnerLookup,
  StoreTransaction,
  TransactionalStore,
  WriteTarget,
} from "./store-transaction.js";

/** How many times a patch is applied to a newer version before it gives up with Conflict. */
export const maxPatchAttempts = 100;

/** What the engine needs besides the store. */
export interface StoreEngineSettings {
  /** Timestamps (`wallNow`) and generated names and uids (`random`, when it has one). */
  readonly clock: Clock;
  /** The largest object accepted, in bytes of JSON. */
  readonly maxObjectBytes: number;
}

const noNames: NameSet = { has: () => false };

/** Plans an update of the object, or (`status`) of its status subresource. */
function planReplace(
  write: PreparedWrite,
  existing: StoredObject | undefined,
  context: WriteContext,
  status: boolean,
): WritePlan {
  return status ? planUpdateStatus(write, existing, context) : planUpdate(write, existing, context);
}

/**
 * The writes of the Backend contract over a {@link TransactionalStore}; a store's `create`,
 * `update`, `updateStatus`, `patch` and `delete` are these.
 *
 * Garbage collection runs in the transaction of the write that makes it due: the delete that
 * removes an owner deletes (or, with finalizers, marks) every dependent whose owners are all gone,
 * at the following revisions; and a create or update whose `ownerReferences` name only owners that
 * are gone — a controller acting on a stale cache — is followed at once by the deletion (or
 * marking) of the object it wrote: the writer gets the object as written, watches see ADDED (or
 * MODIFIED) and then DELETED, as Kubernetes' collector would do a moment later. An owner is
 * present when an object of its kind, name and uid exists (in the dependent's namespace, for a
 * namespaced owner); an owner of a kind the store has never held counts as present, and so does a
 * namespaced owner of a cluster-scoped dependent (unresolvable to Kubernetes' collector). Dangling
 * references to owners that are gone are not removed from dependents that still have a live owner.
 */
export class StoreEngine {
  /** The clock's random source, for generated names and uids (a simulation seeds it). */
  private readonly random: (() => number) | undefined;

  constructor(
    private readonly store: TransactionalStore,
    private readonly settings: StoreEngineSettings,
  ) {
    this.random = settings.clock.random?.bind(settings.clock);
  }

  create(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "create", options);
  }

  update(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "update", options);
  }

  updateStatus(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "status", options);
  }

  /**
   * Checks, plans and commits a write; with a synchronous validator and store, all in one go. A
   * check that throws rejects instead: a Backend's methods answer with promises, and a
   * synchronous one commits before it returns. (Hot: no closure but the transaction's.)
   */
  private write(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    what: WriteKind,
    options: WriteOptions,
    managedFieldsFinal = false,
  ): Promise<StoredObject> {
    try {
      this.store.checkOpen();
      const prepared = prepareWrite(kind, object, what, options.fieldManager, managedFieldsFinal);
      return prepared instanceof Promise
        ? prepared.then((write) => this.commitPrepared(write, what, options))
        : this.commitPrepared(prepared, what, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private commitPrepared(
    write: PreparedWrite,
    what: WriteKind,
    options: WriteOptions,
  ): Promise<StoredObject> {
    return this.store.transact(
      (tx) => this.commitWrite(tx, write, what, options),
      target(write.kind, write.key, options),
    );
  }

  private *commitWrite(
    tx: StoreTransaction,
    write: PreparedWrite,
    what: WriteKind,
    options: WriteOptions,
  ): Steps<StoredObject> {
    const { kind, key } = write;
    const existing = (yield tx.read(kind, key)) as StoredObject | undefined;
    const context = this.context((yield tx.nextRevision()) as number);
    switch (what) {
      case "create": {
        const taken =
          write.generateName === undefined
            ? noNames
            : ((yield tx.namesWithPrefix(kind, key.namespace, write.generateName)) as NameSet);
        const plan = planCreate(write, existing, context, (name) => taken.has(name));
        return yield* this.commit(tx, kind, plan, options, undefined);
      }
      case "update":
      case "status": {
        const plan = planReplace(write, existing, context, what === "status");
        return yield* this.commit(tx, kind, plan, options, existing);
      }
    }
  }

  /**
   * Kubernetes' GuaranteedUpdate: the patch is applied to the stored version and prepared outside
   * the transaction (its validator may await), then committed only if that version is still the
   * stored one — else applied again to the newer one (a pinned resourceVersion then fails as
   * Conflict, as it should). An apply of a missing object creates it; if another writer created
   * it meanwhile, the patch is applied to theirs.
   */
  async patch(
    kind: AnyKind,
    key: ObjectKey,
    patch: Patch,
    options: PatchOptions = {},
  ): Promise<StoredObject> {
    const status = options.subresource === "status";
    for (let attempt = 0; ; attempt++) {
      // The store may close between attempts: say so, not what a closed pool answers.
      this.store.checkOpen();
      const read = this.store.read(kind, key);
      const existing = read instanceof Promise ? await read : read;
      if (existing === undefined) {
        if (patch.type !== "apply" || status) throw notFound(subjectOf(kind, key.name));
        try {
          // Its managed fields are the apply's: no Update entry on top.
          return await this.write(
            kind,
            applyBody(kind, key, patch, timestamp(this.settings.clock.wallNow())),
            "create",
            options,
            true,
          );
        } catch (error) {
          if (ApiError.is(error, "AlreadyExists") && attempt < maxPatchAttempts) continue;
          throw error;
        }
      }
      const prepared = preparePatch(
        kind,
        key,
        existing,
        patch,
        status,
        options.fieldManager,
        timestamp(this.settings.clock.wallNow()),
      );
      const write = prepared instanceof Promise ? await prepared : prepared;
      const result = await this.store.transact(
        (tx) => this.commitPatch(tx, key, write, existing, status, options),
        target(kind, key, options),
      );
      if (result !== undefined) return result;
      if (attempt >= maxPatchAttempts)
        throw conflict(
          subjectOf(kind, key.name),
          "the object kept changing while the patch was applied; try again",
        );
    }
  }

  /** Commits a prepared patch if `read` is still the stored version; `undefined` if not. */
  private *commitPatch(
    tx: StoreTransaction,
    key: ObjectKey,
    write: PreparedWrite,
    read: StoredObject,
    status: boolean,
    options: PatchOptions,
  ): Steps<StoredObject | undefined> {
    const current = (yield tx.read(write.kind, key)) as StoredObject | undefined;
    if (current?.metadata.resourceVersion !== read.metadata.resourceVersion) return undefined;
    const context = this.context((yield tx.nextRevision()) as number);
    const plan = planReplace(write, current, context, status);
    return yield* this.commit(tx, write.kind, plan, options, current);
  }

  delete(kind: AnyKind, key: ObjectKey, options: DeleteOptions = {}): Promise<StoredObject> {
    try {
      this.store.checkOpen();
      return this.store.transact(
        (tx) => this.commitDelete(tx, kind, key, options),
        target(kind, key, options),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private *commitDelete(
    tx: StoreTransaction,
    kind: AnyKind,
    key: ObjectKey,
    options: DeleteOptions,
  ): Steps<StoredObject> {
    const existing = (yield tx.read(kind, key)) as StoredObject | undefined;
    const context = this.context((yield tx.nextRevision()) as number);
    const plan = planDelete(kind, key, existing, options.preconditions, context);
    return yield* this.commit(tx, kind, plan, options, existing);
  }

  /** What a plan needs: the revision it writes at, the time, the limits. */
  private context(revision: number): WriteContext {
    return {
      resourceVersion: String(revision),
      wallNow: this.settings.clock.wallNow(),
      random: this.random,
      maxObjectBytes: this.settings.maxObjectBytes,
    };
  }

  /**
   * The commit sequence: the fence, then — unless nothing changes or it is a dry run — the
   * change and the garbage collection it makes due. Returns the object as the writer gets it.
   */
  private *commit(
    tx: StoreTransaction,
    kind: AnyKind,
    plan: WritePlan,
    options: WriteOptions,
    previous: StoredObject | undefined,
  ): Steps<StoredObject> {
    if (options.fence !== undefined)
      checkFence((yield tx.lease(options.fence.lease)) as StoredObject | undefined, options.fence);
    if (plan.action === "none") return plan.object;
    if (options.dryRun) {
      // Refused as the write itself would be.
      if (plan.action === "put") tx.checkStorable?.(kind, plan.object);
      return plan.object;
    }
    yield tx.apply(this.change(kind, plan, previous));
    if (plan.action === "remove") yield* this.collectDependentsOf(tx, plan.object.metadata.uid);
    else if (ownerReferencesChanged(plan.object, previous))
      yield* this.collectIfOrphaned(tx, kind, plan.object);
    return plan.object;
  }

  /** The change a plan makes, at the revision its object carries, as the store keeps it. */
  private change(
    kind: AnyKind,
    plan: Exclude<WritePlan, { action: "none" }>,
    previous: StoredObject | undefined,
  ): Change {
    const { object } = plan;
    const previousLabels = previous?.metadata.labels;
    return {
      kind,
      revision: Number(object.metadata.resourceVersion),
      type: plan.action === "remove" ? "DELETED" : previous === undefined ? "ADDED" : "MODIFIED",
      object,
      previous,
      previousLabels: deepEqual(previousLabels, object.metadata.labels)
        ? undefined
        : (previousLabels ?? {}),
      bytes: plan.bytes,
    };
  }

  /** Background garbage collection after the object with `uid` went. */
  private *collectDependentsOf(tx: StoreTransaction, uid: string): Steps<void> {
    const gone = [uid];
    while (gone.length > 0) {
      const ownerUid = gone.pop()!;
      for (const { kind, key } of (yield tx.dependentsOf(ownerUid)) as Iterable<Dependent>) {
        const dependent = (yield tx.read(kind, key)) as StoredObject | undefined;
        if (dependent === undefined) continue;
        // The owner that went is gone by now: it counts only if unresolvable.
        if (yield* this.hasOwner(tx, dependent)) continue;
        const plan = planDelete(
          kind,
          key,
          dependent,
          undefined,
          this.context((yield tx.nextRevision()) as number),
        );
        if (plan.action === "none") continue;
        yield tx.apply(this.change(kind, plan, dependent));
        if (plan.action === "remove") gone.push(plan.object.metadata.uid);
      }
    }
  }

  /**
   * Kubernetes' collector also deletes a dependent written after its owners went (it verifies
   * that every owner is absent): an object whose `ownerReferences` this write set or changed, and
   * none of whose owners exists, is deleted — or, with finalizers, marked — at the next revision,
   * in the same transaction. Unchanged references were checked when written, and owners going
   * since are the owners' deletes' business. Within one transaction an owner's delete and this
   * write are serialized: whichever commits second sees the other. Only for a write whose
   * references changed ({@link ownerReferencesChanged}).
   */
  private *collectIfOrphaned(
    tx: StoreTransaction,
    kind: AnyKind,
    object: StoredObject,
  ): Steps<void> {
    if (yield* this.hasOwner(tx, object)) return;
    const { namespace, name } = object.metadata;
    const key = namespace === undefined ? { name } : { namespace, name };
    const plan = planDelete(
      kind,
      key,
      object,
      undefined,
      this.context((yield tx.nextRevision()) as number),
    );
    if (plan.action === "none") return;
    yield tx.apply(this.change(kind, plan, object));
    if (plan.action === "remove") yield* this.collectDependentsOf(tx, plan.object.metadata.uid);
  }

  /** Whether any owner `dependent` names is present. */
  private *hasOwner(tx: StoreTransaction, dependent: StoredObject): Steps<boolean> {
    for (const ref of dependent.metadata.ownerReferences ?? [])
      if (yield* this.ownerPresent(tx, ref, dependent)) return true;
    return false;
  }

  /**
   * Whether the owner `ref` names is present for `dependent`, as Kubernetes' collector decides:
   * an object of its kind, name and uid exists — in the dependent's namespace, for a namespaced
   * kind. A kind the store has never held counts as present (there is nothing to look in), and
   * so does a namespaced owner of a cluster-scoped dependent: Kubernetes finds such a reference
   * unresolvable (an `OwnerRefInvalidNamespace` event) and never collects the dependent for it.
   */
  private *ownerPresent(
    tx: StoreTransaction,
    ref: Frozen<OwnerReference>,
    dependent: StoredObject,
  ): Steps<boolean> {
    const namespace = dependent.metadata.namespace;
    const owner = (yield tx.findOwner(
      `${groupOf(ref.apiVersion)}/${ref.kind}`,
      ref.name,
      namespace,
    )) as OwnerLookup;
    if (owner === undefined) return true;
    if (owner.namespaced && namespace === undefined) return true;
    return owner.uid === ref.uid;
  }
}

/** What a write reads first: its object, and its fence's Lease. */
function target(kind: AnyKind, key: ObjectKey, options: WriteOptions): WriteTarget {
  return { kind, key, fence: options.fence?.lease };
}

/**
 * Whether a write set or changed `object`'s `ownerReferences`. `seal` shares equal references
 * with the previous version, so a new array means a change.
 */
function ownerReferencesChanged(object: StoredObject, previous: StoredObject | undefined): boolean {
  const refs = object.metadata.ownerReferences;
  return refs !== undefined && refs !== previous?.metadata.ownerReferences;
}

/**
 * The base of a Backend whose writes are the {@link StoreEngine}'s: `create`, `update`,
 * `updateStatus`, `patch` and `delete`, over the engine the store makes with its transaction.
 */
export abstract class TransactionalBackend {
  protected abstract readonly engine: StoreEngine;

  create(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return this.engine.create(kind, object, options);
  }

  update(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return this.engine.update(kind, object, options);
  }

  updateStatus(kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) {
    return this.engine.updateStatus(kind, object, options);
  }

  patch(kind: AnyKind, key: ObjectKey, patch: Patch, options?: PatchOptions) {
    return this.engine.patch(kind, key, patch, options);
  }

  delete(kind: AnyKind, key: ObjectKey, options?: DeleteOptions) {
    return this.engine.delete(kind, key, options);
  }
}
