import { createRequire } from "node:module";
import type sortedBtree from "sorted-btree";
import { ApiError, notFound } from "../../model/api-error.js";
import { type Clock, systemClock } from "../../model/clock.js";
import { type AnyKind, kindId } from "../../model/kind.js";
import type { Frozen, ObjectKey, OwnerReference } from "../../model/resource.js";
import type {
  Backend,
  BackendCapabilities,
  ListOptions,
  ObjectList,
  StoredObject,
  Watch,
  WatchOptions,
} from "../backend.js";
import { continueExpired } from "../continue-token.js";
import { subjectOf } from "../error-subject.js";
import { leaseKindId } from "../fence.js";
import { listPage, listQuery, listRevision, matchesQuery } from "../list-query.js";
import { defaultMaxObjectBytes } from "../object-rules.js";
import { tooLargeResourceVersion } from "../revision.js";
import { rememberPartSizes } from "../seal.js";
import { runSync, type Steps } from "../steps.js";
import { StoreEngine, TransactionalBackend } from "../store-engine.js";
import type { Change, StoreTransaction } from "../store-transaction.js";
import { WatchChannel } from "../watch-channel.js";
import { watchQuery } from "../watch-query.js";
import { EventLog } from "./event-log.js";
import { MemoryWatch, type WatchSource } from "./memory-watch.js";

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * How many changes of each kind are kept for watches to resume from; a watch resuming from
   * further back gets `Expired` (410) and must relist. @default 10_000
   */
  readonly historyLimit?: number;
  /**
   * How many bytes of each kind's changes are kept for watches to resume from (and lists at a
   * past revision to read), besides `historyLimit`; the oldest go first, the latest change is
   * always kept, and a watch resuming from before what is kept gets `Expired` (410) and relists.
   * Each change counts the JSON size of the object it carries, as estimated while checking
   * `maxObjectBytes` (no extra serialization; parts under 1 KiB that a change shares with the
   * version before are not counted again), twice for an update, which keeps the version it
   * replaced (as Kubernetes' watch cache keeps `prevObject`). It bounds what history holds in memory when objects are large (10,000
   * changes of 50 KB objects would be 500 MB); with objects of 3 KB or less the count binds
   * first. Per kind, like `historyLimit`, so a busy kind never cuts a quiet kind's history short.
   * @default 33_554_432 (32 MiB)
   */
  readonly historyBytes?: number;
  /**
   * How many bytes of changes the store keeps for watches over every kind together, counted as
   * `historyBytes` counts them. Kinds can be made at run time (a CRD through `setpoint serve`),
   * so the per-kind bounds alone do not bound the store: 16 kinds of 1.4 MB updates held 531 MB.
   * Over it, the oldest changes of the kind holding the most history bytes go first (each kind
   * keeps its latest change); a watch resuming from before what is kept gets `Expired` (410).
   * @default 268_435_456 (256 MiB)
   */
  readonly totalHistoryBytes?: number;
  /** The largest object accepted, in bytes of JSON. @default 1_572_864 (1.5 MiB, as etcd) */
  readonly maxObjectBytes?: number;
  /**
   * How long the snapshot behind a list's `continue` token is kept. Later, a token is served
   * from the kind's history (its current state with the changes since undone, as a list at a
   * past `resourceVersion` is); once the history no longer holds every change since the token's
   * revision, the token gets `Expired` (410), as Kubernetes answers a token past etcd's
   * compaction. @default 300_000 (5 minutes, etcd's compaction)
   */
  readonly continueTtlMs?: number;
  /**
   * How many snapshots behind `continue` tokens each kind keeps at most. A paginated list keeps
   * the kind's state for its later pages (one snapshot per state of the kind: lists of an
   * unchanged kind share it), and a snapshot holds every object version it saw until it goes;
   * beyond this many, the oldest goes, and its tokens are served from the history while it
   * holds every change since, then get `Expired` (410), as Kubernetes answers a token past
   * etcd's compaction. Clients then list again.
   * @default 16
   */
  readonly maxContinueSnapshots?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Where a MemoryBackend makes its changes durable: the embedded durable store's log. Changes are
 * recorded in revision order as they are made; `sync()` resolves once every change recorded
 * before the call is durable. Until then the writer's promise waits, and neither watches nor
 * reads hand the change out. A `sync()` that rejects leaves the store failed: every later call
 * (reads and watches too) is refused and open watches end with an error, since memory then holds
 * changes the disk does not. A journal whose commit failed must fail every later `sync()` too,
 * and write nothing more.
 */
export interface Journal {
  record(change: JournalChange): void;
  sync(): Promise<void>;
}

/** One change, as a Journal records it. */
export interface JournalChange {
  readonly kind: AnyKind;
  readonly revision: number;
  /** The object as stored; for a removal, as it was when removed. */
  readonly object: StoredObject;
  readonly removed: boolean;
}

// sorted-btree is CommonJS compiled from TypeScript; loaders disagree on what its default import
// is, so take the class from `require` the same way everywhere.
const BTree: (typeof sortedBtree)["default"] = createRequire(import.meta.url)(
  "sorted-btree",
).default;
type BTree<K, V> = InstanceType<typeof BTree<K, V>>;

type Key = { readonly namespace?: string | undefined; readonly name: string };

function compareKeys(a: Key, b: Key): number {
  const an = a.namespace ?? "";
  const bn = b.namespace ?? "";
  if (an !== bn) return an < bn ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** One kind's objects in key order, its history, and its waiting watches. */
class Table implements WatchSource {
  /** The kind: a stand-in made from stored identity until the kind itself is first used. */
  kind: AnyKind;
  /** Keyed by each object's own `metadata`, so no key strings are held. */
  tree = new BTree<Key, StoredObject>(undefined, compareKeys);
  waiters = new Set<MemoryWatch>();
  /** The other set `wakeWaiters` swaps in, so that waking allocates nothing. */
  private spareWaiters = new Set<MemoryWatch>();
  readonly watches = new Set<MemoryWatch>();
  /** The revision of this kind's latest change. */
  lastChange = 0;
  /**
   * Copy-on-write snapshots behind `continue` tokens, by the revision of the kind's latest change
   * when taken (one per state of the kind), oldest first.
   */
  readonly snapshots = new Map<number, { tree: BTree<Key, StoredObject>; takenAt: number }>();
  readonly log: EventLog;

  constructor(
    kind: AnyKind,
    history: { readonly limit: number; readonly bytes: number },
    private readonly backend: MemoryBackend,
    readonly clock: Clock,
  ) {
    this.kind = kind;
    this.log = new EventLog(history.limit, history.bytes);
  }

  currentRevision(): number {
    return this.backend.visibleRevision;
  }

  /** Wakes the watches waiting for a change; a watch that finds none waits (and registers) again. */
  wakeWaiters(): void {
    if (this.waiters.size === 0) return;
    // A woken watch that finds nothing registers again, in the fresh set.
    const woken = this.waiters;
    this.waiters = this.spareWaiters;
    for (const watch of woken) watch.wakeUp();
    woken.clear();
    this.spareWaiters = woken;
  }
}

/**
 * The in-memory store: every Backend rule, at memory speed, for tests, demos and one process.
 *
 * Objects are kept as compact frozen snapshots in a B+ tree per kind (ordered for pagination,
 * copy-on-write for consistent `continue` pages, at most `maxContinueSnapshots` per kind); each
 * kind keeps a history bounded by count and bytes, and every kind's together by
 * `totalHistoryBytes`, that watches read as cursors. Writes are atomic: a write's checks and its
 * commit run without an `await` between them.
 *
 * Writes are the {@link StoreEngine}'s, over a synchronous {@link StoreTransaction}: garbage
 * collection runs in the same atomic step as the write that makes it due.
 *
 * A write is complete when its promise resolves (without a journal, when the call returns): there
 * is no commit that can fail after the fact, so nothing written is ever taken back.
 *
 * @example
 * ```ts
 * const plane = createControlPlane({ backend: new MemoryBackend({ historyLimit: 1000 }) });
 * ```
 */
export class MemoryBackend extends TransactionalBackend implements Backend {
  readonly capabilities: BackendCapabilities = { name: "memory", durable: false };
  /**
   * Starts at 1, not 0: to Kubernetes clients, resourceVersion "0" means "any version", so an
   * empty store must not hand it out (a watch from it, through `setpoint serve`, would be read
   * as "list everything, then watch").
   */
  private currentRevision = 1;
  private readonly tables = new Map<string, Table>();
  /** The table of each kind object seen, to skip building its id on every call. */
  private readonly tableOfKind = new WeakMap<AnyKind, Table>();
  /** Dependents by owner uid: table and key of each object whose ownerReferences name it. */
  private readonly dependents = new Map<string, Map<string, { table: Table; key: Key }>>();
  private closed = false;
  /** Set when the journal failed: memory then holds changes the disk does not. */
  private failure: unknown;
  /** The latest revision watches may see: the latest durable one, with a journal. */
  private durableRevision = 1;
  /** History before this revision is not kept (a restored store starts here). */
  private historyStart = 0;
  /** Tables changed since the last sync, whose watches wake when it completes. */
  private readonly unsynced = new Set<Table>();
  private readonly history: { readonly limit: number; readonly bytes: number };
  private readonly totalHistoryBytes: number;
  /** The bytes of every kind's history, as their logs count them. */
  private historyBytesKept = 0;
  private readonly continueTtlMs: number;
  private readonly maxContinueSnapshots: number;
  private readonly clock: Clock;
  protected readonly engine: StoreEngine;

  /**
   * @param journal the embedded durable store's hook (see {@link Journal}); memory alone without
   */
  constructor(
    options: MemoryBackendOptions = {},
    private readonly journal?: Journal,
  ) {
    super();
    const {
      historyLimit = 10_000,
      historyBytes = 32 * 1024 * 1024,
      totalHistoryBytes = 256 * 1024 * 1024,
      maxObjectBytes = defaultMaxObjectBytes,
      continueTtlMs = 300_000,
      maxContinueSnapshots = 16,
    } = options;
    if (!Number.isSafeInteger(historyLimit) || historyLimit < 1) {
      throw new RangeError(`historyLimit (${historyLimit}) must be a positive integer`);
    }
    if (!(historyBytes > 0))
      throw new RangeError(`historyBytes (${historyBytes}) must be positive`);
    if (!(totalHistoryBytes > 0))
      throw new RangeError(`totalHistoryBytes (${totalHistoryBytes}) must be positive`);
    if (!Number.isSafeInteger(maxContinueSnapshots) || maxContinueSnapshots < 1)
      throw new RangeError(
        `maxContinueSnapshots (${maxContinueSnapshots}) must be a positive integer`,
      );
    if (!(maxObjectBytes > 0))
      throw new RangeError(`maxObjectBytes (${maxObjectBytes}) must be positive`);
    if (!(continueTtlMs >= 0))
      throw new RangeError(`continueTtlMs (${continueTtlMs}) must not be negative`);
    this.history = { limit: historyLimit, bytes: historyBytes };
    this.totalHistoryBytes = totalHistoryBytes;
    this.continueTtlMs = continueTtlMs;
    this.maxContinueSnapshots = maxContinueSnapshots;
    this.clock = options.clock ?? systemClock;
    this.engine = new StoreEngine(
      {
        checkOpen: () => this.checkOpen(),
        read: (kind, key) => this.table(kind).tree.get(key),
        transact: (steps) => this.transact(steps),
      },
      { clock: this.clock, maxObjectBytes },
    );
  }

  /** The store's latest revision. */
  get revision(): number {
    return this.currentRevision;
  }

  /** The latest revision watches see: with a journal, the latest durable one. */
  get visibleRevision(): number {
    return this.journal === undefined ? this.currentRevision : this.durableRevision;
  }

  /**
   * Loads a stored state: `kinds` are the kinds the store has held (with objects or not: an owner
   * of one of them that is gone is known to be gone), `objects` become the contents, `revision`
   * the current revision, and no history before it is kept (a watch resuming from earlier gets
   * `Expired` and relists). Only on an empty store, before any other call.
   */
  protected restore(
    kinds: Iterable<AnyKind>,
    objects: Iterable<{ kind: AnyKind; object: StoredObject }>,
    revision: number,
  ): void {
    if (this.tables.size > 0 || this.currentRevision !== 1)
      throw new Error("restore() needs an empty store");
    this.currentRevision = revision;
    this.durableRevision = revision;
    this.historyStart = revision;
    for (const kind of kinds) this.tableOf(kind, false);
    for (const { kind, object } of objects) {
      // Not made by `seal`: a later write sharing its parts must still count them.
      rememberPartSizes(object);
      const table = this.tableOf(kind, false);
      const key = object.metadata as Key;
      table.tree.set(key, object);
      this.indexOwners(table, key, undefined, object.metadata.ownerReferences);
      table.lastChange = Math.max(table.lastChange, Number(object.metadata.resourceVersion));
    }
  }

  /**
   * Drops the kept history of every kind, as etcd's compaction does: watches resuming from
   * before now, and `continue` tokens of lists since changed, get `Expired` (410). A test hook
   * for forcing relists.
   */
  compact(): void {
    for (const table of this.tables.values()) {
      table.log.compact(this.currentRevision);
      table.snapshots.clear();
    }
    this.historyBytesKept = 0;
  }

  /**
   * The bytes of watch history the store keeps over every kind, as `totalHistoryBytes` counts
   * them: for tests and metrics.
   */
  get keptHistoryBytes(): number {
    return this.historyBytesKept;
  }

  /**
   * How many snapshots behind `continue` tokens the store keeps for `kind` (at most
   * `maxContinueSnapshots`): for tests and metrics.
   */
  keptSnapshots(kind: AnyKind): number {
    return this.tables.get(kindId(kind))?.snapshots.size ?? 0;
  }

  async get(kind: AnyKind, key: ObjectKey): Promise<StoredObject> {
    this.checkHealthy();
    const table = this.table(kind);
    const object = table.tree.get(key);
    if (this.journal !== undefined && table.lastChange > this.durableRevision)
      await this.whenDurable();
    if (object === undefined) throw notFound(subjectOf(kind, key.name));
    return object;
  }

  async list(kind: AnyKind, options: ListOptions = {}): Promise<ObjectList> {
    this.checkHealthy();
    const table = this.table(kind);
    const page = this.readPage(table, options);
    if (this.journal !== undefined && table.lastChange > this.durableRevision)
      await this.whenDurable();
    return page;
  }

  /** One page of a list, read at once (no await: the page is one snapshot). */
  private readPage(table: Table, options: ListOptions): ObjectList {
    const query = listQuery(options);
    const { limit, namespace, token } = query;
    let revision = listRevision(query, this.currentRevision);
    let tree = revision === this.currentRevision ? table.tree : this.stateAt(table, revision);
    let after: Key | undefined;
    if (token !== undefined) {
      // From beyond this store's revision: a list begun before a restart, or on another store.
      if (token.rv > this.currentRevision) throw continueExpired();
      revision = token.rv;
      tree = this.snapshotAt(table, token.rv);
      after =
        token.ns === undefined ? { name: token.name } : { namespace: token.ns, name: token.name };
    }

    const items: StoredObject[] = [];
    let more = false;
    const start: Key | undefined =
      after ?? (namespace === undefined ? undefined : { namespace, name: "" });
    tree.forRange(start ?? (tree.minKey() as Key), tree.maxKey() as Key, true, (key, object) => {
      if (tree.size === 0) return { break: true };
      if (after !== undefined && compareKeys(key, after) === 0) return;
      if (namespace !== undefined && (key.namespace ?? "") !== namespace) return { break: true };
      if (!matchesQuery(query, object.metadata)) return;
      if (limit > 0 && items.length === limit) {
        more = true;
        return { break: true };
      }
      items.push(object);
    });
    // Read from the live tree: later pages need the kind's state now, whatever comes next. A
    // first page renews a snapshot it shares; a later page keeps the time its list began.
    if (more && tree === table.tree) this.keepSnapshot(table, token === undefined);
    return listPage(items, revision, more);
  }

  watch(kind: AnyKind, options: WatchOptions = {}): Watch {
    try {
      this.checkHealthy();
      const table = this.table(kind);
      const { filter, from, bookmarkIntervalMs } = watchQuery(options);
      // A revision this store has not reached names no point in its history (a client resuming
      // from before a restart, when revisions began again): relist, as on Kubernetes.
      if (from !== undefined && from > this.currentRevision)
        throw tooLargeResourceVersion(options.resourceVersion!, this.currentRevision);
      const seq = from === undefined ? table.log.end : table.log.seqAfter(from);
      return new MemoryWatch(table, filter, seq, bookmarkIntervalMs, options.signal).channel;
    } catch (err) {
      return WatchChannel.failed(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const table of this.tables.values()) {
      for (const watch of table.watches) watch.channel.close();
      table.watches.clear();
    }
  }

  private checkOpen(): void {
    this.checkHealthy();
    if (this.closed) throw new ApiError("ServiceUnavailable", "the memory backend is closed");
  }

  /** Refuses every call once the journal failed: memory then holds changes the disk does not. */
  private checkHealthy(): void {
    if (this.failure !== undefined) throw this.failedError();
  }

  private failedError(): ApiError {
    return new ApiError(
      "ServiceUnavailable",
      `the store failed to make a change durable and refuses further calls; reopen it (${(this.failure as Error).message ?? this.failure})`,
      { cause: this.failure },
    );
  }

  private table(kind: AnyKind): Table {
    return this.tableOfKind.get(kind) ?? this.tableOf(kind, true);
  }

  /** The table of `kind`'s `group/kind`, made if missing; `real` kinds replace stand-ins. */
  private tableOf(kind: AnyKind, real: boolean): Table {
    const id = kindId(kind);
    let table = this.tables.get(id);
    if (table === undefined) {
      table = new Table(kind, this.history, this, this.clock);
      if (this.historyStart > 0) table.log.compact(this.historyStart);
      this.tables.set(id, table);
    }
    if (real) {
      table.kind = kind;
      this.tableOfKind.set(kind, table);
    }
    return table;
  }

  /**
   * The memory store's transaction: synchronous, so that a write runs from its checks to its
   * commit (garbage collection included) without an `await`: nothing else happens in between.
   */
  private readonly tx: StoreTransaction = {
    read: (kind, key) => this.table(kind).tree.get(key),
    lease: (key) => this.tables.get(leaseKindId)?.tree.get(key),
    namesWithPrefix: (kind, namespace) => {
      const { tree } = this.table(kind);
      return { has: (name) => tree.has({ namespace, name }) };
    },
    nextRevision: () => this.currentRevision + 1,
    apply: (change) => this.apply(change),
    // A copy: collecting a dependent changes the index.
    dependentsOf: (uid) =>
      Array.from(this.dependents.get(uid)?.values() ?? [], ({ table, key }) => ({
        kind: table.kind,
        key,
      })),
    findOwner: (id, name, namespace) => {
      const table = this.tables.get(id);
      if (table === undefined) return undefined;
      const namespaced = table.kind.scope === "Namespaced";
      if (namespaced && namespace === undefined) return { namespaced, uid: undefined };
      const key = namespaced ? { namespace, name } : { name };
      return { namespaced, uid: table.tree.get(key)?.metadata.uid };
    },
  };

  /** Runs a write's steps at once, then answers once it is durable (with a journal). */
  private transact<T>(steps: (tx: StoreTransaction) => Steps<T>): Promise<T> {
    try {
      // The store may have failed or closed while the write was validated.
      this.checkOpen();
      const result = runSync(steps(this.tx));
      // Nothing written (a patch that found a newer version, to apply itself to that): no sync.
      return result === undefined ? Promise.resolve(result) : this.acknowledge(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The writer's answer: at once in memory; with a journal, once the changes made so far are
   * durable (then watches see them too). Several writers share one sync: group commit.
   */
  private acknowledge<T>(result: T): Promise<T> {
    if (this.journal === undefined || this.unsynced.size === 0) return Promise.resolve(result);
    return this.whenDurable().then(() => result);
  }

  /**
   * Resolves once every change made so far is durable; a failed sync fails the store (and this
   * promise, with ServiceUnavailable). Writers wait for it before they are answered, and reads
   * that saw a change not yet durable before they answer: nothing that may yet be lost is served.
   */
  private whenDurable(): Promise<void> {
    const revision = this.currentRevision;
    return this.journal!.sync().then(
      () => this.madeDurable(revision),
      (error: unknown) => {
        this.fail(error);
        throw new ApiError(
          "ServiceUnavailable",
          `the change could not be made durable: ${(error as Error).message ?? error}`,
          { cause: error },
        );
      },
    );
  }

  /** Every change up to `revision` is durable: watches may deliver it. */
  private madeDurable(revision: number): void {
    if (revision <= this.durableRevision) return;
    this.durableRevision = revision;
    for (const table of this.unsynced) {
      if (table.lastChange <= revision) this.unsynced.delete(table);
      table.wakeWaiters();
    }
  }

  /** The journal failed: refuse everything from now on, and end every watch with the error. */
  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    const failed = this.failedError();
    for (const table of this.tables.values()) {
      for (const watch of [...table.watches]) watch.channel.fail(failed);
      table.watches.clear();
    }
  }

  /** Keeps a change at its revision and wakes the kind's watches. */
  private apply(change: Change): void {
    const { object, previous, revision } = change;
    const table = this.table(change.kind);
    const removed = change.type === "DELETED";
    this.currentRevision = revision;
    const key = object.metadata as Key;
    if (removed) table.tree.delete(key);
    else table.tree.set(key, object);
    this.indexOwners(
      table,
      key,
      previous?.metadata.ownerReferences,
      removed ? undefined : object.metadata.ownerReferences,
    );
    const historyBefore = table.log.bytes;
    // The entry keeps what watches need, and the version it replaced, for lists at a past
    // revision (an update's counts twice: about its size again).
    table.log.append({
      type: change.type,
      revision,
      object,
      previous,
      previousLabels: change.previousLabels,
      bytes: change.type === "MODIFIED" ? 2 * change.bytes : change.bytes,
    });
    this.historyBytesKept += table.log.bytes - historyBefore;
    if (this.historyBytesKept > this.totalHistoryBytes) this.trimHistory();
    table.lastChange = revision;
    if (this.journal !== undefined) {
      this.journal.record({ kind: table.kind, revision, object, removed });
      this.unsynced.add(table);
      return;
    }
    table.wakeWaiters();
  }

  private indexOwners(
    table: Table,
    key: Key,
    before: readonly Frozen<OwnerReference>[] | undefined,
    after: readonly Frozen<OwnerReference>[] | undefined,
  ): void {
    if (before === undefined && after === undefined) return;
    const id = `${kindId(table.kind)}\u0000${key.namespace ?? ""}\u0000${key.name}`;
    for (const ref of before ?? []) {
      if (after?.some((r) => r.uid === ref.uid)) continue;
      const set = this.dependents.get(ref.uid);
      set?.delete(id);
      if (set?.size === 0) this.dependents.delete(ref.uid);
    }
    for (const ref of after ?? []) {
      let set = this.dependents.get(ref.uid);
      if (set === undefined) {
        set = new Map();
        this.dependents.set(ref.uid, set);
      }
      set.set(id, { table, key: { namespace: key.namespace, name: key.name } });
    }
  }

  /**
   * Keeps the kind's current state for the later pages of a list: one snapshot per state of the
   * kind (a list of a kind unchanged since the last one shares its snapshot, and with `renew`
   * starts its time again), at most `maxContinueSnapshots`, the oldest going first. Snapshots are
   * taken in the order of the states they keep, and renewed only while theirs is the kind's
   * state, so the map's order is both: the oldest snapshot is always of the oldest state, which
   * `snapshotAt` relies on.
   */
  private keepSnapshot(table: Table, renew: boolean): void {
    const now = this.clock.now();
    const { snapshots } = table;
    for (const [state, snapshot] of snapshots) {
      if (now - snapshot.takenAt > this.continueTtlMs) snapshots.delete(state);
    }
    const state = table.lastChange;
    const kept = snapshots.get(state);
    if (kept !== undefined && !renew) return;
    snapshots.delete(state);
    // A clone shares every node until one side writes: O(1) now, copy-on-write after.
    snapshots.set(state, { tree: kept?.tree ?? table.tree.clone(), takenAt: now });
    for (const oldest of snapshots.keys()) {
      if (snapshots.size <= this.maxContinueSnapshots) break;
      snapshots.delete(oldest);
    }
  }

  /**
   * The kind's objects as they were at store revision `revision`: the live tree if the kind has
   * not changed since, else the snapshot of the kind's latest state at or before it — the latest
   * snapshot of a state no later than `revision`. If that state's snapshot is gone (expired or
   * evicted), every older one is too, so none is found: `Expired`.
   */
  private snapshotAt(table: Table, revision: number): BTree<Key, StoredObject> {
    if (table.lastChange <= revision) return table.tree;
    let found: { tree: BTree<Key, StoredObject>; takenAt: number } | undefined;
    for (const [state, snapshot] of table.snapshots) if (state <= revision) found = snapshot;
    if (found !== undefined && this.clock.now() - found.takenAt <= this.continueTtlMs)
      return found.tree;
    // No snapshot (expired or evicted): the history may still hold the changes since.
    if (revision >= table.log.compactedRevision) return this.stateAt(table, revision);
    throw continueExpired();
  }

  /**
   * The kind's objects as they were at store revision `revision`, from its current state and
   * the changes since, undone newest first (each change keeps the version it replaced); a
   * copy-on-write clone, so it costs the changes undone. `Expired` (410) when changes after
   * `revision` may be gone from the history.
   */
  private stateAt(table: Table, revision: number): BTree<Key, StoredObject> {
    if (table.lastChange <= revision) return table.tree;
    const { log } = table;
    const first = log.seqAfter(revision);
    const tree = table.tree.clone();
    for (let seq = log.end - 1; seq >= first; seq--) {
      const { type, object, previous } = log.at(seq);
      const key = object.metadata as Key;
      if (type === "ADDED" || previous === undefined) tree.delete(key);
      else tree.set(key, previous);
      // (Every update and removal keeps its previous version; only a creation has none.)
    }
    return tree;
  }

  /**
   * Brings the history of every kind together under `totalHistoryBytes`: the oldest changes of
   * the kind holding the most history bytes go first, down to the next largest kind's bytes or
   * the bound; each kind keeps its latest change (as `historyBytes` keeps it). Rare, and the
   * number of kinds small: a scan per step.
   */
  private trimHistory(): void {
    while (this.historyBytesKept > this.totalHistoryBytes) {
      let largest: Table | undefined;
      let next = 0;
      for (const table of this.tables.values()) {
        if (table.log.size < 2) continue;
        if (largest === undefined || table.log.bytes > largest.log.bytes) {
          if (largest !== undefined) next = Math.max(next, largest.log.bytes);
          largest = table;
        } else next = Math.max(next, table.log.bytes);
      }
      if (largest === undefined) return; // every kind is down to its latest change
      const log = largest.log;
      do {
        const before = log.bytes;
        log.trimOldest();
        this.historyBytesKept -= before - log.bytes;
      } while (this.historyBytesKept > this.totalHistoryBytes && log.size > 1 && log.bytes >= next);
    }
  }
}
