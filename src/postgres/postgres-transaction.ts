/**
 * The PostgreSQL store's {@link StoreTransaction}: the store engine's reads and changes as SQL,
 * inside one transaction that holds the revision row (locked by its first statement, `UPDATE …
 * RETURNING` of the counter), so that revision order is commit order.
 */
import type { PoolClient } from "pg";
import type { StoredObject } from "../backend/backend.js";
import { leaseKindId } from "../backend/fence.js";
import { identityOf, type KindIdentity, standIn } from "../backend/kind-identity.js";
import { rememberPartSizes } from "../backend/seal.js";
import type {
  Change,
  Dependent,
  NameSet,
  OwnerLookup,
  StoreTransaction,
} from "../backend/store-transaction.js";
import { type AnyKind, kindId } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import { frozen, storableJson, text } from "./storable.js";

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

type Queryable = Pick<PoolClient, "query">;

/** The first statement of every write transaction: it takes the next revision, and the lock. */
export function takeRevision(client: Queryable, t: Tables): Promise<number> {
  return client
    .query(`UPDATE ${t.revision} SET value = value + 1 WHERE id = 1 RETURNING value`)
    .then(({ rows }) => Number(rows[0].value));
}

/** One write transaction of the PostgreSQL store, begun by its owner, which commits it. */
export class PostgresTransaction implements StoreTransaction {
  /** Whether a change was made: the owner commits, or rolls back (no revision spent). */
  changed = false;
  /** Whether a change took `revision`: the next one takes another. */
  private taken = false;

  /**
   * @param revision the revision the transaction's first statement took (see {@link takeRevision})
   * @param channel where changes are announced (`NOTIFY`), on commit
   */
  constructor(
    private readonly client: Queryable,
    private readonly t: Tables,
    private readonly channel: string,
    private revision: number,
  ) {}

  /** The stored object, as the write's previous version: its parts' sizes remembered. */
  async read(kind: AnyKind, key: ObjectKey): Promise<StoredObject | undefined> {
    const object = await this.readById(kindId(kind), key);
    // Not made by `seal`: a write sharing its parts must still count them against the limit.
    if (object !== undefined) rememberPartSizes(object);
    return object;
  }

  /** Under the revision lock: no Lease update can slip in between this read and the write. */
  lease(key: ObjectKey): Promise<StoredObject | undefined> {
    return this.readById(leaseKindId, key);
  }

  private async readById(id: string, key: ObjectKey): Promise<StoredObject | undefined> {
    const { rows } = await this.client.query(
      `SELECT object FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [id, text(key.namespace ?? ""), text(key.name)],
    );
    return rows.length === 0 ? undefined : frozen(rows[0].object);
  }

  async namesWithPrefix(
    kind: AnyKind,
    namespace: string | undefined,
    prefix: string,
  ): Promise<NameSet> {
    const { rows } = await this.client.query(
      `SELECT name FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND starts_with(name, $3)`,
      [kindId(kind), namespace ?? "", prefix],
    );
    return new Set(rows.map((row: { name: string }) => row.name));
  }

  /** Garbage collection makes several changes in one transaction, each at its own revision. */
  async nextRevision(): Promise<number> {
    if (this.taken) {
      this.revision = await takeRevision(this.client, this.t);
      this.taken = false;
    }
    return this.revision;
  }

  async apply(change: Change): Promise<void> {
    const t = this.t;
    const { kind, object, previous, revision } = change;
    const id = kindId(kind);
    const namespace = object.metadata.namespace ?? "";
    const name = object.metadata.name;
    const json = storableJson(kind, object);
    this.changed = true;
    this.taken = true;
    await this.client.query(
      `INSERT INTO ${t.kinds} (id, identity, last_change) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_change = EXCLUDED.last_change`,
      [id, JSON.stringify(identityOf(kind)), revision],
    );
    const removed = change.type === "DELETED";
    if (removed) {
      await this.client.query(
        `DELETE FROM ${t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
        [id, namespace, name],
      );
    } else {
      await this.client.query(
        `INSERT INTO ${t.objects} (kind, namespace, name, uid, revision, object) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kind, namespace, name) DO UPDATE SET uid = EXCLUDED.uid, revision = EXCLUDED.revision, object = EXCLUDED.object`,
        [id, namespace, name, object.metadata.uid, revision, json],
      );
    }
    const before = previous?.metadata.ownerReferences ?? [];
    const after = removed ? [] : (object.metadata.ownerReferences ?? []);
    if (before.length > 0 || after.length > 0) {
      await this.client.query(
        `DELETE FROM ${t.owners} WHERE kind = $1 AND namespace = $2 AND name = $3`,
        [id, namespace, name],
      );
      // One row per owner: references may repeat a uid, and the table has no key to refuse it.
      for (const uid of new Set(after.map((ref) => ref.uid)))
        await this.client.query(
          `INSERT INTO ${t.owners} (owner_uid, kind, namespace, name) VALUES ($1, $2, $3, $4)`,
          [uid, id, namespace, name],
        );
    }
    await this.client.query(
      `INSERT INTO ${t.changes} (revision, kind, namespace, name, type, object, previous_labels)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        revision,
        id,
        namespace,
        name,
        change.type,
        json,
        change.previousLabels === undefined ? null : JSON.stringify(change.previousLabels),
      ],
    );
    // Delivered on commit, and only then.
    await this.client.query("SELECT pg_notify($1, $2)", [this.channel, id]);
  }

  async dependentsOf(uid: string): Promise<Dependent[]> {
    const { rows } = await this.client.query(
      `SELECT o.namespace, o.name, k.identity FROM ${this.t.owners} o JOIN ${this.t.kinds} k ON k.id = o.kind
        WHERE o.owner_uid = $1`,
      [uid],
    );
    return (rows as { namespace: string; name: string; identity: KindIdentity }[]).map((row) => ({
      kind: standIn(row.identity),
      key: row.namespace === "" ? { name: row.name } : { namespace: row.namespace, name: row.name },
    }));
  }

  async findOwner(id: string, name: string, namespace: string | undefined): Promise<OwnerLookup> {
    const t = this.t;
    const { rows } = await this.client.query(
      `SELECT k.id IS NOT NULL AS known, k.identity->>'scope' = 'Namespaced' AS namespaced, (
         SELECT o.uid FROM ${t.objects} o
          WHERE o.kind = $1 AND o.name = $2
            AND o.namespace = CASE WHEN k.identity->>'scope' = 'Namespaced' THEN $3 ELSE '' END
       ) AS uid
       FROM (SELECT 1) one LEFT JOIN ${t.kinds} k ON k.id = $1`,
      [id, name, namespace ?? ""],
    );
    const { known, namespaced, uid } = rows[0];
    return known ? { namespaced: namespaced === true, uid: uid ?? undefined } : undefined;
  }

  checkStorable(kind: AnyKind, object: StoredObject): void {
    storableJson(kind, object);
  }
}
