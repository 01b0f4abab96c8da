/**
 * Group commit for the PostgreSQL store: the writes a process makes while another batch holds
 * the revision lock share one SQL transaction, as the embedded store's writes share one SQLite
 * commit.
 *
 * One batch is four round trips, however many writes it carries:
 *
 * 1. `BEGIN` and `SELECT … FOR UPDATE` of the revision row (one simple query): the lock every
 *    writer of the store, in every process, takes first — revision order is commit order.
 * 2. The objects (and fencing Leases) the writes will read, in one query, read after the lock
 *    is held, so they are the committed state no other writer can change until this commits.
 * 3. The writes run one after another, in JavaScript, over that state and the changes of the
 *    writes before them in the batch ({@link BatchTransaction}): reads of what a write's target
 *    did not name (garbage collection's lookups, generated names) go to the database and are
 *    merged with the batch's changes. Each write takes the next revisions, as it would alone.
 *    Then every change is written by one statement: the change log rows, the objects' final
 *    states, their owner rows, the kinds, the counter and a notification per kind.
 * 4. `COMMIT`. Only then does any writer of the batch hear its outcome.
 *
 * A write that fails — Conflict, Invalid, a lost fence, NotFound — leaves no trace in the batch
 * (its changes are undone, the revisions it took are handed out again) and never fails the
 * others. A failure of the database itself (a statement's error) rolls the batch back, and each
 * of its writes runs again in a batch of its own, so that one write's problem is its own; the
 * connection lost before `COMMIT` fails them all with ServiceUnavailable (nothing was made), and
 * lost during `COMMIT` with the message that the write may or may not have been made.
 *
 * A batch takes at most {@link maxBatchWrites} writes, and stops taking more once it holds
 * {@link maxBatchBytes} of changes: the rest wait for the next.
 */
import type { PoolClient } from "pg";
import type { StoredObject } from "../backend/backend.js";
import { leaseKindId } from "../backend/fence.js";
import { identityOf, type KindIdentity, standIn } from "../backend/kind-identity.js";
import { rememberPartSizes } from "../backend/seal.js";
import { type Maybe, runAsync, type Steps } from "../backend/steps.js";
import type {
  Change,
  Dependent,
  NameSet,
  OwnerLookup,
  StoreTransaction,
  WriteTarget,
} from "../backend/store-transaction.js";
import { ApiError } from "../model/api-error.js";
import { type AnyKind, kindId } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import { frozen, storableJson, text } from "./storable.js";
import { asStoreError } from "./store-error.js";

/** The store's tables, qualified by its schema. */
export interface Tables {
  readonly revision: string;
  readonly kinds: string;
  readonly objects: string;
  readonly changes: string;
  readonly owners: string;
}

/** The tables of the store in `schema`. */
export function tablesOf(schema: string): Tables {
  const q = `"${schema}"`;
  return {
    revision: `${q}.revision`,
    kinds: `${q}.kinds`,
    objects: `${q}.objects`,
    changes: `${q}.changes`,
    owners: `${q}.owners`,
  };
}

/** The most writes one batch carries. */
export const maxBatchWrites = 128;
/** A batch takes no more writes once its changes' JSON is this large (bytes, about). */
export const maxBatchBytes = 8 * 1024 * 1024;

/**
 * The batch's one write (see {@link Batch.write}). Parameters: `$1` the changes, a JSON array of
 * `{revision, kind, namespace, name, type, object, previous_labels}` in revision order (each
 * object's final state is its latest change); `$2` the kinds, `[{id, identity, last_change}]`;
 * `$3` the last revision; `$4` the notification channel; `$5` the objects whose owner rows are
 * replaced, `[{kind, namespace, name}]`, and `$6` their new rows, `[{owner_uid, kind, namespace,
 * name}]` (only objects that had or have owner references: the others have no rows).
 */
export function writeStatement(t: Tables): string {
  return `WITH batch AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(revision bigint, kind text, namespace text,
         name text, type text, object jsonb, previous_labels jsonb)
     ), logged AS (
       INSERT INTO ${t.changes} (revision, kind, namespace, name, type, object, previous_labels)
       SELECT revision, kind, namespace, name, type, object, previous_labels FROM batch
     ), latest AS (
       SELECT DISTINCT ON (kind, namespace, name) * FROM batch
        ORDER BY kind, namespace, name, revision DESC
     ), gone AS (
       DELETE FROM ${t.objects} o USING latest l
        WHERE l.type = 'DELETED' AND o.kind = l.kind AND o.namespace = l.namespace AND o.name = l.name
     ), put AS (
       INSERT INTO ${t.objects} (kind, namespace, name, uid, revision, object)
       SELECT kind, namespace, name, object->'metadata'->>'uid', revision, object FROM latest
        WHERE type <> 'DELETED'
       ON CONFLICT (kind, namespace, name) DO UPDATE
         SET uid = EXCLUDED.uid, revision = EXCLUDED.revision, object = EXCLUDED.object
     ), unowned AS (
       DELETE FROM ${t.owners} o USING jsonb_to_recordset($5::jsonb) AS d(kind text, namespace text, name text)
        WHERE o.kind = d.kind AND o.namespace = d.namespace AND o.name = d.name
     ), owned AS (
       INSERT INTO ${t.owners} (owner_uid, kind, namespace, name)
       SELECT owner_uid, kind, namespace, name FROM jsonb_to_recordset($6::jsonb)
         AS r(owner_uid text, kind text, namespace text, name text)
     ), known AS (
       INSERT INTO ${t.kinds} (id, identity, last_change)
       SELECT id, identity, last_change FROM jsonb_to_recordset($2::jsonb)
         AS k(id text, identity jsonb, last_change bigint)
       ON CONFLICT (id) DO UPDATE SET last_change = EXCLUDED.last_change
     ), counted AS (
       UPDATE ${t.revision} SET value = $3 WHERE id = 1
     )
     SELECT pg_notify($4, id) FROM jsonb_to_recordset($2::jsonb) AS k(id text)`;
}

/** The batch's read of its writes' targets: `$1`, `$2`, `$3` their kinds, namespaces, names. */
export function prefetchStatement(t: Tables): string {
  return `SELECT o.kind, o.namespace, o.name, o.object FROM ${t.objects} o
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(kind, namespace, name)
      ON o.kind = k.kind AND o.namespace = k.namespace AND o.name = k.name`;
}

/**
 * A batch's statements for the store in `schema`, made once. The first round trip is two
 * statements in one simple query — `BEGIN`, then the lock (its value is the second result). The
 * write is named: prepared once per connection, then only bound and run (planning it anew cost
 * 0.6 ms a batch). The read is planned each time, for the number of keys it is given: a plan
 * made once for any number (a prepared statement's generic plan) scanned the whole table.
 */
export interface BatchStatements {
  readonly t: Tables;
  readonly lock: string;
  readonly prefetch: string;
  readonly write: { readonly name: string; readonly text: string };
}

export function batchStatements(schema: string): BatchStatements {
  const t = tablesOf(schema);
  return {
    t,
    lock: `BEGIN; SELECT value FROM ${t.revision} WHERE id = 1 FOR UPDATE`,
    prefetch: prefetchStatement(t),
    write: { name: `setpoint_write_${schema}`, text: writeStatement(t) },
  };
}

/** One write waiting for a batch. */
export interface QueuedWrite {
  readonly steps: (tx: StoreTransaction) => Steps<unknown>;
  readonly target: WriteTarget | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** Runs in a batch of its own: its last batch failed in the database. */
  solo: boolean;
}

type Queryable = Pick<PoolClient, "query">;

/** The key of an object in the batch's maps. */
function keyOf(id: string, namespace: string | undefined, name: string): string {
  return `${id}\u0000${namespace ?? ""}\u0000${name}`;
}

/** What the batch knows of one object: as committed, and as the batch's writes left it. */
interface Entry {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  /** The kind, once a write of the batch changed the object (for its scope and identity). */
  kind: AnyKind | undefined;
  /** The object as committed, when the batch began. */
  readonly base: StoredObject | undefined;
  /** The object now, in the batch; `undefined` if there is none. */
  current: StoredObject | undefined;
  /** Whether a write of the batch changed it. */
  touched: boolean;
}

/** One change as the batch writes it, its object's JSON made (and checked) when applied. */
interface LoggedChange {
  readonly change: Change;
  readonly id: string;
  readonly json: string;
}

/** An entry's state before a write first changed it: what undoing the write restores. */
interface Undo {
  readonly entry: Entry;
  readonly kind: AnyKind | undefined;
  readonly current: StoredObject | undefined;
  readonly touched: boolean;
}

/** A database statement of the batch failed: the batch is rolled back (see the module comment). */
class BatchBroken extends Error {
  constructor(readonly failure: unknown) {
    super("the batch failed in the database");
  }
}

/**
 * One batch, between the lock and the commit: the state its writes read and change, and the
 * changes to write; and the {@link StoreTransaction} of each write, as they run one at a time.
 * Made by {@link runBatch}.
 */
class Batch implements StoreTransaction {
  private readonly entries = new Map<string, Entry>();
  /** Entries a write changed, in order (for merging database reads with the batch). */
  private readonly touched: Entry[] = [];
  readonly changes: LoggedChange[] = [];
  /** The last revision a change took: the counter's value once the batch commits. */
  last: number;
  bytes = 0;
  /** Set by a database statement that failed: the transaction is aborted. */
  broken: unknown;
  /** The current write's undo log, while one runs. */
  private undo: Undo[] = [];

  private readonly t: Tables;

  constructor(
    private readonly client: Queryable,
    private readonly statements: BatchStatements,
    revision: number,
  ) {
    this.t = statements.t;
    this.last = revision;
  }

  /** Runs a database statement of the batch: a failure breaks it. */
  async query(sql: string | { name: string; text: string }, params: unknown[]) {
    if (this.broken !== undefined) throw new BatchBroken(this.broken);
    try {
      return await (typeof sql === "string"
        ? this.client.query(sql, params)
        : this.client.query({ ...sql, values: params }));
    } catch (error) {
      this.broken = error;
      throw new BatchBroken(error);
    }
  }

  /** Reads the writes' targets (objects and fencing Leases) in one query. */
  async prefetch(targets: readonly (WriteTarget | undefined)[]): Promise<void> {
    const ids: string[] = [];
    const namespaces: string[] = [];
    const names: string[] = [];
    const wanted = new Set<string>();
    const want = (id: string, key: ObjectKey) => {
      const namespace = text(key.namespace ?? "");
      const name = text(key.name);
      const k = keyOf(id, namespace, name);
      if (wanted.has(k)) return;
      wanted.add(k);
      ids.push(id);
      namespaces.push(namespace);
      names.push(name);
    };
    for (const target of targets) {
      if (target === undefined) continue;
      want(kindId(target.kind), target.key);
      if (target.fence !== undefined) want(leaseKindId, target.fence);
    }
    if (ids.length === 0) return;
    const { rows } = await this.query(this.statements.prefetch, [ids, namespaces, names]);
    for (const row of rows as { kind: string; namespace: string; name: string; object: unknown }[])
      this.remember(row.kind, row.namespace, row.name, frozen(row.object));
    // What was asked for and not found is known to be absent.
    for (let i = 0; i < ids.length; i++)
      if (!this.entries.has(keyOf(ids[i]!, namespaces[i], names[i]!)))
        this.remember(ids[i]!, namespaces[i]!, names[i]!, undefined);
  }

  /** Records `object` as the committed state at a key (`undefined`: none there). */
  private remember(
    id: string,
    namespace: string,
    name: string,
    object: StoredObject | undefined,
  ): Entry {
    const entry: Entry = {
      id,
      namespace,
      name,
      kind: undefined,
      base: object,
      current: object,
      touched: false,
    };
    this.entries.set(keyOf(id, namespace, name), entry);
    return entry;
  }

  // --- the StoreTransaction of the write running now ---

  read(kind: AnyKind, key: ObjectKey): Maybe<StoredObject | undefined> {
    const object = this.readAt(kindId(kind), key);
    // Not made by `seal`: a write sharing its parts must still count them against the limit.
    if (object instanceof Promise)
      return object.then((read) => {
        if (read !== undefined) rememberPartSizes(read);
        return read;
      });
    if (object !== undefined) rememberPartSizes(object);
    return object;
  }

  /** Under the revision lock: no Lease update can slip in between this read and the write. */
  lease(key: ObjectKey): Maybe<StoredObject | undefined> {
    return this.readAt(leaseKindId, key);
  }

  nextRevision(): number {
    return this.last + 1;
  }

  checkStorable(kind: AnyKind, object: StoredObject): void {
    storableJson(kind, object);
  }

  /** The object at `key` in the batch: from what it knows, or read (one round trip). */
  private readAt(id: string, key: ObjectKey): Maybe<StoredObject | undefined> {
    const namespace = text(key.namespace ?? "");
    const name = text(key.name);
    const entry = this.entries.get(keyOf(id, namespace, name));
    if (entry !== undefined) return entry.current;
    return this.query(
      `SELECT object FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [id, namespace, name],
    ).then(({ rows }) => {
      return this.remember(
        id,
        namespace,
        name,
        rows.length === 0 ? undefined : frozen(rows[0].object),
      ).current;
    });
  }

  /** Begins a write: what it changes is logged, to be undone if it fails. */
  begin(): { last: number; changes: number; bytes: number } {
    this.undo = [];
    return { last: this.last, changes: this.changes.length, bytes: this.bytes };
  }

  /** Undoes the write begun at `mark`: the batch is as before it. */
  rollback(mark: { last: number; changes: number; bytes: number }): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { entry, kind, current, touched } = this.undo[i]!;
      entry.kind = kind;
      entry.current = current;
      if (!touched) {
        entry.touched = false;
        this.touched.splice(this.touched.lastIndexOf(entry), 1);
      }
    }
    this.undo = [];
    this.last = mark.last;
    this.changes.length = mark.changes;
    this.bytes = mark.bytes;
  }

  /** Keeps a change: the object's state in the batch, and the row for the change log. */
  apply(change: Change): void {
    if (change.revision !== this.last + 1)
      throw new Error(`a change at revision ${change.revision} after ${this.last}`);
    const id = kindId(change.kind);
    // Checked (and made) now: a write the store cannot hold fails alone, not the batch.
    const json = storableJson(change.kind, change.object);
    const { namespace, name } = change.object.metadata;
    const entry =
      this.entries.get(keyOf(id, namespace, name)) ??
      this.remember(id, namespace ?? "", name, change.previous);
    this.undo.push({ entry, kind: entry.kind, current: entry.current, touched: entry.touched });
    if (!entry.touched) {
      entry.touched = true;
      this.touched.push(entry);
    }
    entry.kind = change.kind;
    entry.current = change.type === "DELETED" ? undefined : change.object;
    this.changes.push({ change, id, json });
    this.bytes += json.length;
    this.last = change.revision;
  }

  /** The names of a kind in a namespace starting with `prefix`: the database's and the batch's. */
  async namesWithPrefix(
    kind: AnyKind,
    inNamespace: string | undefined,
    prefix: string,
  ): Promise<NameSet> {
    const id = kindId(kind);
    const namespace = inNamespace ?? "";
    const { rows } = await this.query(
      `SELECT name FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND starts_with(name, $3)`,
      [id, text(namespace), text(prefix)],
    );
    const names = new Set(rows.map((row: { name: string }) => row.name));
    for (const entry of this.touched)
      if (entry.id === id && entry.namespace === namespace && entry.name.startsWith(prefix)) {
        if (entry.current === undefined) names.delete(entry.name);
        else names.add(entry.name);
      }
    return names;
  }

  /** The objects naming `uid` as an owner: the database's, as the batch's writes left them. */
  async dependentsOf(uid: string): Promise<Dependent[]> {
    const { rows } = await this.query(
      `SELECT o.kind AS id, o.namespace, o.name, k.identity FROM ${this.t.owners} o
         JOIN ${this.t.kinds} k ON k.id = o.kind WHERE o.owner_uid = $1`,
      [uid],
    );
    const found = new Map<string, Dependent>();
    for (const row of rows as {
      id: string;
      namespace: string;
      name: string;
      identity: KindIdentity;
    }[])
      found.set(keyOf(row.id, row.namespace, row.name), {
        kind: standIn(row.identity),
        key:
          row.namespace === "" ? { name: row.name } : { namespace: row.namespace, name: row.name },
      });
    for (const entry of this.touched) {
      const k = keyOf(entry.id, entry.namespace, entry.name);
      found.delete(k);
      const refs = entry.current?.metadata.ownerReferences;
      if (refs?.some((ref) => ref.uid === uid))
        found.set(k, {
          kind: entry.kind!,
          key:
            entry.namespace === ""
              ? { name: entry.name }
              : { namespace: entry.namespace, name: entry.name },
        });
    }
    return [...found.values()];
  }

  /** See {@link StoreTransaction.findOwner}: the batch's kinds and objects first. */
  async findOwner(id: string, name: string, namespace: string | undefined): Promise<OwnerLookup> {
    const kind = this.touched.find((entry) => entry.id === id)?.kind;
    if (kind !== undefined) {
      const namespaced = kind.scope === "Namespaced";
      const owner = await this.readAt(
        id,
        namespaced ? { namespace: namespace ?? "", name } : { name },
      );
      return { namespaced, uid: owner?.metadata.uid };
    }
    const t = this.t;
    const { rows } = await this.query(
      `SELECT k.id IS NOT NULL AS known, k.identity->>'scope' = 'Namespaced' AS namespaced, (
         SELECT o.uid FROM ${t.objects} o
          WHERE o.kind = $1 AND o.name = $2
            AND o.namespace = CASE WHEN k.identity->>'scope' = 'Namespaced' THEN $3 ELSE '' END
       ) AS uid
       FROM (SELECT 1) one LEFT JOIN ${t.kinds} k ON k.id = $1`,
      [id, text(name), text(namespace ?? "")],
    );
    const { known, namespaced, uid } = rows[0];
    if (!known) return undefined;
    // The owner may be an object the batch changed (a kind it read but did not write).
    const entry = this.entries.get(keyOf(id, namespaced ? (namespace ?? "") : "", name));
    if (entry?.touched)
      return { namespaced: namespaced === true, uid: entry.current?.metadata.uid };
    return { namespaced: namespaced === true, uid: uid ?? undefined };
  }

  /**
   * Writes every change of the batch in one statement: the change log, each object's final
   * state and owner rows, the kinds' latest changes, the counter, and one notification per kind
   * (delivered on commit).
   */
  async write(channel: string): Promise<void> {
    const kinds = new Map<string, { id: string; identity: KindIdentity; last_change: number }>();
    const rows: string[] = [];
    for (const { change, id, json } of this.changes) {
      kinds.set(id, { id, identity: identityOf(change.kind), last_change: change.revision });
      const { namespace, name } = change.object.metadata;
      rows.push(
        `{"revision":${change.revision},"kind":${JSON.stringify(id)},"namespace":${JSON.stringify(namespace ?? "")},"name":${JSON.stringify(name)},"type":"${change.type}","object":${json},"previous_labels":${change.previousLabels === undefined ? "null" : JSON.stringify(change.previousLabels)}}`,
      );
    }
    // Owner rows are replaced for the objects that had or have owner references.
    const unowned: { kind: string; namespace: string; name: string }[] = [];
    const owned: { owner_uid: string; kind: string; namespace: string; name: string }[] = [];
    for (const { id, namespace, name, base, current } of this.touched) {
      const after = current?.metadata.ownerReferences ?? [];
      if ((base?.metadata.ownerReferences ?? []).length === 0 && after.length === 0) continue;
      unowned.push({ kind: id, namespace, name });
      // One row per owner: references may repeat a uid, and the table has no key to refuse it.
      for (const uid of new Set(after.map((ref) => ref.uid)))
        owned.push({ owner_uid: uid, kind: id, namespace, name });
    }
    await this.query(this.statements.write, [
      `[${rows.join(",")}]`,
      JSON.stringify([...kinds.values()]),
      this.last,
      channel,
      JSON.stringify(unowned),
      JSON.stringify(owned),
    ]);
  }
}

/** The outcome of one write in a batch, told to its writer once the batch is decided. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Runs a batch on `client` (see the module comment): the writes `take` gives once the lock is
 * held, so that those made while it was awaited join. Returns the writes it did not get to (over
 * {@link maxBatchBytes}), and those to run again, each alone, after a database failure; every
 * other write has heard its outcome.
 */
export async function runBatch(
  client: Queryable,
  statements: BatchStatements,
  channel: string,
  take: () => QueuedWrite[],
): Promise<{ later: QueuedWrite[]; again: QueuedWrite[] }> {
  let committing = false;
  let batch: Batch | undefined;
  const outcomes: Outcome[] = [];
  let writes: QueuedWrite[] = [];
  try {
    const [, locked] = (await client.query(statements.lock)) as unknown as [
      unknown,
      { rows: { value: string }[] },
    ];
    writes = take();
    batch = new Batch(client, statements, Number(locked.rows[0]!.value));
    await batch.prefetch(writes.map((write) => write.target));
    for (const write of writes) {
      if (batch.bytes >= maxBatchBytes) break;
      const mark = batch.begin();
      try {
        outcomes.push({ ok: true, value: await runAsync(write.steps(batch)) });
      } catch (error) {
        if (error instanceof BatchBroken) throw error;
        batch.rollback(mark);
        outcomes.push({ ok: false, error: asStoreError(error) });
      }
    }
    if (batch.changes.length > 0) {
      await batch.write(channel);
      committing = true;
      await client.query("COMMIT");
    } else await client.query("ROLLBACK");
  } catch (thrown) {
    const error = thrown instanceof BatchBroken ? thrown.failure : thrown;
    await client.query("ROLLBACK").catch(() => {});
    const failure = asStoreError(error);
    // The lock was not had: the writes still wait, and their owner tells them.
    if (writes.length === 0) throw failure;
    if (committing && ApiError.is(failure, "ServiceUnavailable")) {
      // The connection went while COMMIT was on its way: whether it was made, only a read can
      // tell (as a timeout of Kubernetes' leaves a write undecided).
      const undecided = new ApiError(
        "ServiceUnavailable",
        `the connection to PostgreSQL was lost while the write was committed, so it may have been made or not; read it back before writing again (${(error as Error).message})`,
        { cause: error },
      );
      // A write that failed in the batch was not made either way: it hears its own failure.
      for (let i = 0; i < outcomes.length; i++) {
        const outcome = outcomes[i]!;
        writes[i]!.reject(outcome.ok ? undecided : outcome.error);
      }
      return { later: writes.slice(outcomes.length), again: [] };
    }
    if (ApiError.is(failure, "ServiceUnavailable") || writes.length === 1 || writes[0]!.solo) {
      for (const write of writes) write.reject(failure);
      return { later: [], again: [] };
    }
    // One write's statement (or the batch's) failed: each runs again alone, to find whose.
    for (const write of writes) write.solo = true;
    return { later: [], again: writes };
  }
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i]!;
    if (outcome.ok) writes[i]!.resolve(outcome.value);
    else writes[i]!.reject(outcome.error);
  }
  return { later: writes.slice(outcomes.length), again: [] };
}
