/**
 * The PostgreSQL backend: the Backend contract over tables in one schema, for several processes
 * and machines sharing one store.
 *
 * Revisions. One global counter in a one-row table, incremented with `UPDATE … RETURNING` as the
 * first statement of every write transaction. The row lock it takes is held until the
 * transaction ends, so the next writer gets the next revision only after this one committed:
 * revision order is commit order, and a reader that sees revision n sees every revision below
 * it — a watcher reading "changes after n" never skips one that commits late. Rejected: a
 * SEQUENCE. `nextval` is not transactional, so a transaction holding revision 10 can commit after
 * one holding 11; a watcher that read up to 11 in between would never see 10. The price of the
 * lock is that writes to one store are serialized — for a control plane's write rates, fine.
 *
 * Watches read the `changes` table after their last revision: woken by `LISTEN/NOTIFY` (the
 * notification only says which kind changed; the table is the truth), with a periodic catch-up
 * read in case a notification is lost, and re-`LISTEN` after a dropped connection. History is
 * kept for `historyLimit` revisions; a watch resuming from before that gets `Expired` (410). A
 * watch reads one batch ahead of its consumer, never the whole history into memory.
 *
 * Lists read one snapshot; a `continue` page reads the state at its first page's revision by
 * combining current objects with the latest change at or below that revision of each key that
 * changed since.
 *
 * Connections. A connection that dies (a restart, a terminated backend) fails what it was doing
 * with ServiceUnavailable (503), never the process: every client the backend checks out or
 * creates has an `error` listener, and a dead one is discarded, so the pool connects afresh.
 *
 * Text. `jsonb` cannot hold U+0000: a write holding it is `Invalid` (422), naming the field;
 * lone surrogates never reach it (`seal` makes them U+FFFD in every store).
 */
import type { Client as PgClient, Pool, PoolClient } from "pg";
import type {
  Backend,
  BackendCapabilities,
  DeleteOptions,
  ListOptions,
  ObjectList,
  Patch,
  PatchOptions,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from "../backend/backend.js";
import { identityOf, type KindIdentity, standIn } from "../backend/kind-identity.js";
import { eventFor, type WatchFilter } from "../backend/memory/memory-watch.js";
import {
  applyBody,
  checkFence,
  continueExpired,
  decodeContinue,
  defaultMaxObjectBytes,
  encodeContinue,
  leaseKindId,
  type PreparedWrite,
  parseRevision,
  planCreate,
  planDelete,
  planUpdate,
  planUpdateStatus,
  preparePatch,
  prepareWrite,
  rememberPartSizes,
  subjectOf,
  tooLargeResourceVersion,
  type WriteContext,
  type WriteKind,
  type WritePlan,
} from "../backend/object-rules.js";
import { ApiError, badRequest, conflict, expired, invalid, notFound } from "../model/api-error.js";
import { deepEqual } from "../model/json.js";
import { type AnyKind, groupOf, kindId } from "../model/kind.js";
import {
  deepFreeze,
  type Frozen,
  type ObjectKey,
  type OwnerReference,
  type ResourceInput,
} from "../model/resource.js";
import { toFieldSelector, toLabelSelector } from "../model/selector.js";
import { type Clock, systemClock } from "../queue/clock.js";
import { migrate } from "./migrate.js";

/** Options of {@link connectPostgres}. */
export interface PostgresOptions {
  /**
   * A connection string, or a `pg` Pool to share (then `close()` leaves it open, and errors of
   * its idle clients — a restart of the server — are for its owner to hear with
   * `pool.on("error")`, as pg asks; the backend hears those of the clients it checks out).
   */
  readonly postgres: string | Pool;
  /** The schema of the store's tables: several control planes can share one database. @default "setpoint" */
  readonly schema?: string;
  /**
   * How many revisions of history are kept for watches to resume from; a watch resuming from
   * further back gets `Expired` (410) and relists. The history is on disk (PostgreSQL compresses
   * large values), pruned every minute, so it is bounded by count alone, unlike the memory
   * store's (`historyBytes`): what a process holds in memory of it is a watch's read-ahead, a
   * batch or so of 500 changes. @default 100_000
   */
  readonly historyLimit?: number;
  /** The largest object accepted, in bytes of JSON. @default 1_572_864 (1.5 MiB, as etcd) */
  readonly maxObjectBytes?: number;
  /** How often watches read the change log even without a notification. @default 1_000 */
  readonly pollIntervalMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

type Queryable = Pick<PoolClient, "query">;
type PgModule = typeof import("pg");

/** How many changes a watch reads at once; it holds a batch and a half unread at most. */
const batchSize = 500;

async function loadDriver(): Promise<PgModule> {
  try {
    const module = (await import("pg")) as PgModule & { default?: PgModule };
    return module.default ?? module;
  } catch (error) {
    throw new Error(
      `the PostgreSQL backend needs the pg package (npm install pg), which did not load: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

const schemaPattern = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * Connects to PostgreSQL, creates or upgrades the store's schema, and returns the Backend.
 *
 * @example
 * ```ts
 * const backend = await connectPostgres({ postgres: "postgres://localhost/app", schema: "shop" });
 * const plane = createControlPlane({ backend });
 * ```
 */
export async function connectPostgres(options: PostgresOptions): Promise<PostgresBackend> {
  const schema = options.schema ?? "setpoint";
  if (!schemaPattern.test(schema))
    throw new RangeError(
      `schema "${schema}" must be lower-case letters, digits and underscores (at most 41), starting with a letter or underscore`,
    );
  const historyLimit = options.historyLimit ?? 100_000;
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1)
    throw new RangeError(`historyLimit (${historyLimit}) must be a positive integer`);
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  if (!(pollIntervalMs > 0))
    throw new RangeError(`pollIntervalMs (${pollIntervalMs}) must be positive`);
  const pg = await loadDriver();
  const owned = typeof options.postgres === "string";
  const pool =
    typeof options.postgres === "string"
      ? new pg.Pool({ connectionString: options.postgres, max: 10 })
      : options.postgres;
  // An idle client's error (the server went away) must not crash the process: the next query
  // reconnects or fails with an error of its own.
  if (owned) pool.on("error", () => {});
  try {
    await migrate(pool, schema);
  } catch (error) {
    if (owned) await pool.end().catch(() => {});
    throw connectError(error, addressOf(pool));
  }
  const backend = new PostgresBackend(pg, pool, owned, schema, {
    historyLimit,
    maxObjectBytes: options.maxObjectBytes ?? defaultMaxObjectBytes,
    pollIntervalMs,
    clock: options.clock ?? systemClock,
  });
  await backend.startListening();
  return backend;
}

/** `host:port` of the server a pool connects to, as far as its options say. */
function addressOf(pool: Pool): string {
  const options = (
    pool as { options?: { connectionString?: string; host?: string; port?: number } }
  ).options;
  let host = options?.host;
  let port = options?.port;
  if (options?.connectionString !== undefined) {
    try {
      const url = new URL(options.connectionString);
      host = decodeURIComponent(url.hostname) || host;
      port = url.port === "" ? port : Number(url.port);
    } catch {
      // Not a URL (a libpq key=value string): the driver's own message says enough.
    }
  }
  return `${host || "localhost"}:${port ?? 5432}`;
}

function connectError(error: unknown, address: string): Error {
  if (error instanceof ApiError || (error as Error).message?.startsWith("the store in schema"))
    return error as Error;
  const code = (error as { code?: string }).code;
  const reason =
    code === "ECONNREFUSED"
      ? "nothing listens there (ECONNREFUSED)"
      : code === "ENOTFOUND"
        ? "no such host (ENOTFOUND)"
        : code === "28P01" || code === "28000"
          ? "authentication failed"
          : code === "3D000"
            ? "the database does not exist"
            : (error as Error).message || String(code ?? error);
  return new ApiError(
    "ServiceUnavailable",
    `cannot connect to PostgreSQL at ${address}: ${reason}`,
    { cause: error },
  );
}

interface Settings {
  readonly historyLimit: number;
  readonly maxObjectBytes: number;
  readonly pollIntervalMs: number;
  readonly clock: Clock;
}

/** A row's object, as stores hand objects out: frozen. */
function frozen(object: unknown): StoredObject {
  return deepFreeze(object as StoredObject);
}

/** See the module comment. Made by {@link connectPostgres}. */
export class PostgresBackend implements Backend {
  readonly capabilities: BackendCapabilities = { name: "postgres", durable: true };
  private readonly t: Record<"revision" | "kinds" | "objects" | "changes" | "owners", string>;
  readonly channel: string;
  private closed = false;
  private readonly watches = new Set<PostgresWatch>();
  /** Watches still reading the revision they start from (see `settled`). */
  private readonly starting = new Set<Promise<unknown>>();
  private listener: PgClient | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pg: PgModule,
    private readonly pool: Pool,
    private readonly ownsPool: boolean,
    readonly schema: string,
    private readonly settings: Settings,
  ) {
    const q = `"${schema}"`;
    this.t = {
      revision: `${q}.revision`,
      kinds: `${q}.kinds`,
      objects: `${q}.objects`,
      changes: `${q}.changes`,
      owners: `${q}.owners`,
    };
    this.channel = `setpoint_${schema}`;
  }

  // --- notifications -------------------------------------------------------------------------

  /** Opens the LISTEN connection and the catch-up and pruning timers. */
  async startListening(): Promise<void> {
    await this.listen();
    this.pollTimer = setInterval(() => {
      for (const watch of this.watches) watch.poke();
    }, this.settings.pollIntervalMs);
    this.pollTimer.unref();
    this.pruneTimer = setInterval(() => void this.prune().catch(() => {}), 60_000);
    this.pruneTimer.unref();
  }

  /**
   * Connects the LISTEN connection. When an established one drops, one reconnect loop tries
   * again (backing off from 0.5 s to 5 s) and, once listening, catches every watch up. A failed
   * attempt only fails: the loop that made it decides what next (one loop, never a retry per
   * failure — those would multiply while the server is down).
   */
  private async listen(): Promise<void> {
    const client = new this.pg.Client(this.pool.options);
    client.on("notification", (message) => {
      for (const watch of this.watches) if (watch.kindId === message.payload) watch.poke();
    });
    client.on("error", () => {});
    client.on("end", () => {
      if (this.listener !== client) return; // an attempt that failed, or an old connection
      this.listener = undefined;
      void this.reconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
  }

  private reconnecting = false;

  private async reconnect(): Promise<void> {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    try {
      for (let delay = 500; !this.closed; delay = Math.min(delay * 2, 5_000)) {
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        if (this.closed) return;
        try {
          await this.listen();
          // Listening again: read whatever was missed meanwhile.
          for (const watch of this.watches) watch.poke();
          return;
        } catch {
          // Still down: wait longer.
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  // --- reads ---------------------------------------------------------------------------------

  async get(kind: AnyKind, key: ObjectKey): Promise<StoredObject> {
    this.checkOpen();
    const { rows } = await this.query(
      `SELECT object FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [kindId(kind), text(key.namespace ?? ""), text(key.name)],
    );
    if (rows.length === 0) throw notFound(subjectOf(kind, key.name));
    return frozen(rows[0].object);
  }

  async list(kind: AnyKind, options: ListOptions = {}): Promise<ObjectList> {
    this.checkOpen();
    const id = kindId(kind);
    const labels =
      options.labelSelector === undefined ? undefined : toLabelSelector(options.labelSelector);
    const fields =
      options.fieldSelector === undefined ? undefined : toFieldSelector(options.fieldSelector);
    const limit = options.limit ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 0)
      throw badRequest(`limit (${limit}) must be a non-negative integer`);
    const namespace =
      options.namespace === ""
        ? undefined
        : (options.namespace ?? fields?.exact("metadata.namespace"));
    const token =
      options.continue === undefined || options.continue === ""
        ? undefined
        : decodeContinue(options.continue);

    return this.withClient(async (client) => {
      // One snapshot for this page: the revision and the rows agree.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      try {
        const { rows: revisionRows } = await client.query(
          `SELECT r.value, r.compacted, k.last_change FROM ${this.t.revision} r
             LEFT JOIN ${this.t.kinds} k ON k.id = $1 WHERE r.id = 1`,
          [id],
        );
        const { value, compacted, last_change } = revisionRows[0];
        const current = Number(value);
        const revision = token?.rv ?? current;
        if (
          token !== undefined &&
          // Before the kept history and changed since, or beyond this store's revision (a
          // list begun on another store, or before the database was restored from a backup).
          ((revision < Number(compacted) && Number(last_change ?? 0) > revision) ||
            revision > current)
        )
          throw continueExpired();
        const items: StoredObject[] = [];
        let after = token === undefined ? undefined : { ns: token.ns ?? "", name: token.name };
        if (after === undefined && namespace !== undefined) after = { ns: namespace, name: "" };
        const batch = limit > 0 ? Math.min(limit + 1, 500) : 500;
        let more = false;
        scan: for (;;) {
          const rows = await this.stateAt(client, id, revision, after, batch, token === undefined);
          for (const object of rows) {
            const meta = object.metadata;
            if (namespace !== undefined && (meta.namespace ?? "") !== namespace) break scan;
            after = { ns: meta.namespace ?? "", name: meta.name };
            if (labels !== undefined && !labels.matches(meta.labels)) continue;
            if (fields !== undefined && !fields.matches(meta)) continue;
            if (limit > 0 && items.length === limit) {
              more = true;
              break scan;
            }
            items.push(object);
          }
          if (rows.length < batch) break;
        }
        const last = items[items.length - 1]?.metadata;
        return {
          items,
          resourceVersion: String(revision),
          ...(more && last !== undefined
            ? {
                continue: encodeContinue({
                  rv: revision,
                  ns: last.namespace ?? "",
                  name: last.name,
                }),
              }
            : {}),
        };
      } finally {
        await client.query("COMMIT");
      }
    });
  }

  /**
   * Up to `limit` objects of a kind as they were at `revision`, in key order after `after`. With
   * `current` (the revision is the snapshot's own), the objects table alone; otherwise objects
   * unchanged since, plus the latest change at or below it of each key changed since.
   */
  private async stateAt(
    client: Queryable,
    id: string,
    revision: number,
    after: { ns: string; name: string } | undefined,
    limit: number,
    current: boolean,
  ): Promise<StoredObject[]> {
    const ns = after?.ns ?? "";
    const name = after?.name ?? "";
    const strict = after === undefined ? ">=" : ">";
    const sql = current
      ? `SELECT object FROM ${this.t.objects}
          WHERE kind = $1 AND (namespace, name) ${strict} ($2, $3)
          ORDER BY namespace, name LIMIT $4`
      : `SELECT object FROM (
           SELECT namespace, name, object FROM ${this.t.objects}
            WHERE kind = $1 AND revision <= $5 AND (namespace, name) ${strict} ($2, $3)
           UNION ALL
           SELECT namespace, name, object FROM (
             SELECT DISTINCT ON (namespace, name) namespace, name, type, object FROM ${this.t.changes}
              WHERE kind = $1 AND revision <= $5 AND (namespace, name) ${strict} ($2, $3)
                AND (namespace, name) IN (
                  SELECT namespace, name FROM ${this.t.changes} WHERE kind = $1 AND revision > $5)
              ORDER BY namespace, name, revision DESC
           ) latest WHERE type <> 'DELETED'
         ) state ORDER BY namespace, name LIMIT $4`;
    const params: unknown[] = [id, text(ns), text(name), limit];
    if (!current) params.push(revision);
    const { rows } = await client.query(sql, params);
    return rows.map((row: { object: unknown }) => frozen(row.object));
  }

  watch(kind: AnyKind, options: WatchOptions = {}): Watch {
    const labels =
      options.labelSelector === undefined ? undefined : toLabelSelector(options.labelSelector);
    const fields =
      options.fieldSelector === undefined ? undefined : toFieldSelector(options.fieldSelector);
    const interval = options.bookmarkIntervalMs ?? 60_000;
    const watch = new PostgresWatch(
      this,
      kindId(kind),
      { namespace: options.namespace === "" ? undefined : options.namespace, labels, fields },
      options.allowBookmarks ? interval : undefined,
      options.signal,
    );
    this.watches.add(watch);
    try {
      this.checkOpen();
      if (!(interval > 0))
        throw new RangeError(`bookmarkIntervalMs (${interval}) must be positive`);
      const from =
        options.resourceVersion === undefined || options.resourceVersion === ""
          ? undefined
          : parseRevision(options.resourceVersion);
      const started = watch.start(from, options.resourceVersion);
      if (from === undefined) {
        const entry: Promise<unknown> = started.finally(() => this.starting.delete(entry));
        this.starting.add(entry);
      }
    } catch (error) {
      watch.fail(error);
    }
    return watch;
  }

  /** @internal the store's current revision. */
  async currentRevision(): Promise<number> {
    const { rows } = await this.query(`SELECT value FROM ${this.t.revision} WHERE id = 1`);
    return Number(rows[0].value);
  }

  /**
   * Writes wait while a watch of this backend is reading the revision it starts from: a write
   * made after `watch()` returned must come after that revision, or the watch would miss it.
   */
  private async settled(): Promise<void> {
    if (this.starting.size > 0) await Promise.all(this.starting);
  }

  /** @internal the watch's read: changes of a kind after `revision`, and where history starts. */
  async changesAfter(
    id: string,
    revision: number,
    namespace: string | undefined,
  ): Promise<{
    current: number;
    compacted: number;
    changes: { revision: number; type: string; object: StoredObject; previousLabels: unknown }[];
  }> {
    // One statement, one snapshot: the counter and the changes agree.
    const { rows } = await this.query(
      `SELECT r.value, r.compacted, c.revision, c.type, c.object, c.previous_labels
         FROM ${this.t.revision} r
         LEFT JOIN LATERAL (
           SELECT revision, type, object, previous_labels FROM ${this.t.changes}
            WHERE kind = $1 AND revision > $2
              AND ($3::text IS NULL OR namespace = $3)
            ORDER BY revision LIMIT ${batchSize}
         ) c ON true
        WHERE r.id = 1`,
      [
        id,
        Math.min(revision, Number.MAX_SAFE_INTEGER),
        namespace === undefined ? null : text(namespace),
      ],
    );
    const first = rows[0];
    return {
      current: Number(first.value),
      compacted: Number(first.compacted),
      changes: rows
        .filter((row: { revision: unknown }) => row.revision !== null)
        .map(
          (row: { revision: string; type: string; object: unknown; previous_labels: unknown }) => ({
            revision: Number(row.revision),
            type: row.type,
            object: frozen(row.object),
            previousLabels: row.previous_labels ?? undefined,
          }),
        ),
    };
  }

  /** @internal */
  forget(watch: PostgresWatch): void {
    this.watches.delete(watch);
  }

  // --- writes --------------------------------------------------------------------------------

  create(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "create", options);
  }

  update(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "update", options);
  }

  updateStatus(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.write(kind, object, "status", options);
  }

  private async write(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    what: WriteKind,
    options: WriteOptions,
  ): Promise<StoredObject> {
    this.checkOpen();
    await this.settled();
    const prepared = prepareWrite(kind, object, what);
    const write: PreparedWrite = prepared instanceof Promise ? await prepared : prepared;
    return this.transact(async (tx) => {
      const existing = await tx.read(kind, write.key);
      switch (what) {
        case "create": {
          const taken =
            write.generateName === undefined
              ? new Set<string>()
              : await tx.namesStartingWith(kind, write.key.namespace, write.generateName);
          return tx.commit(
            kind,
            planCreate(write, existing, tx.context, (name) => taken.has(name)),
            options,
            undefined,
          );
        }
        case "update":
          return tx.commit(kind, planUpdate(write, existing, tx.context), options, existing);
        case "status":
          return tx.commit(kind, planUpdateStatus(write, existing, tx.context), options, existing);
      }
    });
  }

  async patch(
    kind: AnyKind,
    key: ObjectKey,
    patch: Patch,
    options: PatchOptions = {},
  ): Promise<StoredObject> {
    this.checkOpen();
    await this.settled();
    const status = options.subresource === "status";
    // Kubernetes' GuaranteedUpdate: apply the patch to what is stored, again if it changed meanwhile.
    for (let attempt = 0; ; attempt++) {
      let existing: StoredObject | undefined;
      try {
        existing = await this.get(kind, key);
      } catch (error) {
        if (!ApiError.is(error, "NotFound")) throw error;
      }
      if (existing === undefined) {
        if (patch.type !== "apply" || status) throw notFound(subjectOf(kind, key.name));
        try {
          return await this.create(kind, applyBody(kind, key, patch.patch), options);
        } catch (error) {
          // Created by someone else meanwhile: patch that instead.
          if (ApiError.is(error, "AlreadyExists") && attempt < 100) continue;
          throw error;
        }
      }
      const prepared = preparePatch(kind, key, existing, patch, status);
      const write = prepared instanceof Promise ? await prepared : prepared;
      const result = await this.transact(async (tx) => {
        const current = await tx.read(kind, key);
        if (current?.metadata.resourceVersion !== existing.metadata.resourceVersion)
          return undefined;
        const plan = status
          ? planUpdateStatus(write, current, tx.context)
          : planUpdate(write, current, tx.context);
        return tx.commit(kind, plan, options, current);
      });
      if (result !== undefined) return result;
      if (attempt >= 100)
        throw conflict(
          subjectOf(kind, key.name),
          "the object kept changing while the patch was applied; try again",
        );
    }
  }

  async delete(kind: AnyKind, key: ObjectKey, options: DeleteOptions = {}): Promise<StoredObject> {
    this.checkOpen();
    await this.settled();
    return this.transact(async (tx) => {
      const existing = await tx.read(kind, key);
      return tx.commit(
        kind,
        planDelete(kind, key, existing, options.preconditions, tx.context),
        options,
        existing,
      );
    });
  }

  /**
   * Runs `body` in a write transaction that holds the next revision. A transaction that made no
   * change (a no-op write, a dry run, a failed check) rolls back: no revision is spent.
   */
  private async transact<T>(body: (tx: WriteTransaction) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query("BEGIN");
      let committing = false;
      try {
        const { rows } = await client.query(
          `UPDATE ${this.t.revision} SET value = value + 1 WHERE id = 1 RETURNING value`,
        );
        const tx = new WriteTransaction(this, client, Number(rows[0].value), {
          resourceVersion: String(rows[0].value),
          wallNow: this.settings.clock.wallNow(),
          maxObjectBytes: this.settings.maxObjectBytes,
        });
        const result = await body(tx);
        committing = tx.changed;
        await client.query(tx.changed ? "COMMIT" : "ROLLBACK");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        const failure = asStoreError(error);
        // The connection went while COMMIT was on its way: whether it was made, only a read
        // can tell (as a timeout of Kubernetes' leaves a write undecided).
        if (committing && ApiError.is(failure, "ServiceUnavailable"))
          throw new ApiError(
            "ServiceUnavailable",
            `the connection to PostgreSQL was lost while the write was committed, so it may have been made or not; read it back before writing again (${(error as Error).message})`,
            { cause: error },
          );
        throw failure;
      }
    });
  }

  /** @internal table names, for the write transaction. */
  get tables() {
    return this.t;
  }

  // --- history -------------------------------------------------------------------------------

  /**
   * Drops the change history up to the current revision, as etcd's compaction does: watches
   * resuming from before now, and `continue` tokens of lists since changed, get `Expired`.
   * A test hook for forcing relists; the store also compacts itself to `historyLimit`.
   */
  async compact(): Promise<void> {
    const { rows } = await this.query(`SELECT value FROM ${this.t.revision} WHERE id = 1`);
    await this.compactTo(Number(rows[0].value));
  }

  private async prune(): Promise<void> {
    if (this.closed) return;
    const { rows } = await this.query(
      `SELECT value, compacted FROM ${this.t.revision} WHERE id = 1`,
    );
    const to = Number(rows[0].value) - this.settings.historyLimit;
    if (to > Number(rows[0].compacted)) await this.compactTo(to);
  }

  /**
   * Below the compaction point a key keeps only its latest change, and only if it is not a
   * deletion: what a list's later pages need to see the state at their first page's revision.
   */
  private async compactTo(revision: number): Promise<void> {
    await this.withClient(async (client) => {
      await client.query("BEGIN");
      try {
        await client.query(
          `UPDATE ${this.t.revision} SET compacted = GREATEST(compacted, $1) WHERE id = 1`,
          [revision],
        );
        await client.query(
          `DELETE FROM ${this.t.changes} c WHERE c.revision <= $1 AND (c.type = 'DELETED' OR EXISTS (
             SELECT 1 FROM ${this.t.changes} l WHERE l.kind = c.kind AND l.namespace = c.namespace
               AND l.name = c.name AND l.revision > c.revision AND l.revision <= $1))`,
          [revision],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    });
  }

  // --- plumbing ------------------------------------------------------------------------------

  private async query(sql: string, params: unknown[] = []) {
    try {
      return await this.pool.query(sql, params);
    } catch (error) {
      throw asStoreError(error);
    }
  }

  /**
   * Runs `body` with a client of the pool to itself (a transaction's). pg emits `error` on a
   * client whose connection dies while it is checked out (a restart of the server, a terminated
   * backend): unheard, that event would end the process. It is heard here, the query in flight
   * (or the next) fails with an error of its own, which the caller gets as ServiceUnavailable, and
   * the client is discarded rather than returned to the pool, which opens a new connection when
   * next asked for one: that is the reconnect.
   */
  private async withClient<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw asStoreError(error);
    }
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost = error;
    };
    client.on("error", onError);
    try {
      return await body(client);
    } catch (error) {
      throw asStoreError(error);
    } finally {
      client.off("error", onError);
      client.release(lost);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ApiError("ServiceUnavailable", "the PostgreSQL backend is closed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.pruneTimer);
    for (const watch of [...this.watches]) watch.close();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
    if (this.ownsPool) await this.pool.end().catch(() => {});
  }
}

/**
 * PostgreSQL's errors as the Backend contract's: connection trouble is retryable
 * (ServiceUnavailable) — the driver's own errors (no code: a connection terminated, a client not
 * queryable), the socket's (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, `ETIMEDOUT`…), and PostgreSQL's
 * classes 08 (connection exception), 53 (insufficient resources: too many connections, disk
 * full) and 57 (operator intervention: the server shutting down or starting, a terminated
 * backend). Client input is kept from reaching PostgreSQL in forms it refuses (`storableJson`,
 * `text`), so anything else is InternalError.
 */
function asStoreError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: string }).code;
  if (
    code === undefined ||
    /^E(?!RR_)[A-Z_]+$/.test(code) ||
    code.startsWith("08") ||
    code.startsWith("53") ||
    code.startsWith("57")
  )
    return new ApiError(
      "ServiceUnavailable",
      `PostgreSQL is unreachable: ${(error as Error).message}`,
      { cause: error },
    );
  if (code === "40001" || code === "40P01")
    return new ApiError(
      "Conflict",
      `PostgreSQL aborted the transaction: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  return new ApiError("InternalError", `PostgreSQL: ${(error as Error).message}`, { cause: error });
}

/**
 * `value` as a parameter PostgreSQL's `text` takes: U+0000, which it cannot hold, becomes
 * U+FFFD. Used for names and namespaces a caller looks up — no stored one holds either
 * character (they are DNS names), so such a lookup finds nothing, as on the other stores,
 * instead of failing with PostgreSQL's "invalid byte sequence" (500).
 */
function text(value: string): string {
  return value.includes("\u0000") ? value.replaceAll("\u0000", "\ufffd") : value;
}

/** `\u0000` in JSON text from `JSON.stringify` (not the text `\u0000` itself: `\\u0000`). */
const nulEscape = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * The JSON PostgreSQL stores for `object`, which must hold no U+0000: `jsonb` (text in
 * PostgreSQL) cannot. Kubernetes and setpoint's other stores accept the character; here it is
 * `Invalid` (422), naming the field, rather than PostgreSQL's "unsupported Unicode escape
 * sequence" as an InternalError (500). Lone surrogates, which `jsonb` refuses too, never get
 * here: `seal` made them U+FFFD, as Kubernetes' JSON decoder does.
 */
function storableJson(kind: AnyKind, object: StoredObject): string {
  const json = JSON.stringify(object);
  if (json.includes("\\u0000") && nulEscape.test(json)) {
    throw invalid(subjectOf(kind, object.metadata.name), [
      {
        field: pathOfNul(object, "") ?? "<root>",
        reason: "FieldValueInvalid",
        message:
          "Invalid value: PostgreSQL cannot store U+0000 (NUL) in a string or key (setpoint's other stores and Kubernetes accept it; this one cannot)",
      },
    ]);
  }
  return json;
}

/** The field path of the first string or key holding U+0000 in `value`, if any. */
function pathOfNul(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path || "<root>" : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOfNul(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = /^[A-Za-z_$][\w$-]*$/.test(key)
      ? path === ""
        ? key
        : `${path}.${key}`
      : `${path}[${JSON.stringify(key)}]`;
    if (key.includes("\u0000")) return at;
    const found = pathOfNul(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** One write transaction: reads under it, and the commit of planned changes with their GC. */
class WriteTransaction {
  changed = false;
  private revision: number;

  constructor(
    private readonly backend: PostgresBackend,
    private readonly client: PoolClient,
    revision: number,
    public context: WriteContext,
  ) {
    this.revision = revision;
  }

  /** The stored object, as the write's previous version: its parts' sizes remembered. */
  async read(kind: AnyKind, key: ObjectKey): Promise<StoredObject | undefined> {
    const { rows } = await this.client.query(
      `SELECT object FROM ${this.backend.tables.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [kindId(kind), text(key.namespace ?? ""), text(key.name)],
    );
    if (rows.length === 0) return undefined;
    const object = frozen(rows[0].object);
    // Not made by `seal`: a write sharing its parts must still count them against the limit.
    rememberPartSizes(object);
    return object;
  }

  async namesStartingWith(
    kind: AnyKind,
    namespace: string | undefined,
    prefix: string,
  ): Promise<Set<string>> {
    const { rows } = await this.client.query(
      `SELECT name FROM ${this.backend.tables.objects} WHERE kind = $1 AND namespace = $2 AND starts_with(name, $3)`,
      [kindId(kind), namespace ?? "", prefix],
    );
    return new Set(rows.map((row: { name: string }) => row.name));
  }

  /** Writes a planned change (and the garbage collection a removal starts). */
  async commit(
    kind: AnyKind,
    plan: WritePlan,
    options: WriteOptions,
    previous: StoredObject | undefined,
  ): Promise<StoredObject> {
    if (options.fence !== undefined) {
      // Under the revision lock: no Lease update can slip in between this check and the write.
      const { lease } = options.fence;
      const { rows } = await this.client.query(
        `SELECT object FROM ${this.backend.tables.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
        [leaseKindId, text(lease.namespace ?? ""), text(lease.name)],
      );
      checkFence(rows[0]?.object, options.fence);
    }
    if (plan.action === "none") return plan.object;
    if (options.dryRun) {
      // Refused as the write itself would be.
      if (plan.action === "put") storableJson(kind, plan.object);
      return plan.object;
    }
    await this.apply(kind, plan, previous);
    if (plan.action === "remove") await this.collectDependentsOf(plan.object.metadata.uid);
    else await this.collectIfOrphaned(kind, plan.object, previous);
    return plan.object;
  }

  /** The next revision within this transaction (garbage collection makes several). */
  private async nextContext(): Promise<WriteContext> {
    if (!this.changed) return this.context;
    const { rows } = await this.client.query(
      `UPDATE ${this.backend.tables.revision} SET value = value + 1 WHERE id = 1 RETURNING value`,
    );
    this.revision = Number(rows[0].value);
    this.context = { ...this.context, resourceVersion: String(this.revision) };
    return this.context;
  }

  private async apply(
    kind: AnyKind,
    plan: Exclude<WritePlan, { action: "none" }>,
    previous: StoredObject | undefined,
  ): Promise<void> {
    const t = this.backend.tables;
    const { object } = plan;
    const id = kindId(kind);
    const namespace = object.metadata.namespace ?? "";
    const name = object.metadata.name;
    const revision = this.revision;
    const json = storableJson(kind, object);
    this.changed = true;
    await this.client.query(
      `INSERT INTO ${t.kinds} (id, identity, last_change) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_change = EXCLUDED.last_change`,
      [id, JSON.stringify(identityOf(kind)), revision],
    );
    if (plan.action === "put") {
      await this.client.query(
        `INSERT INTO ${t.objects} (kind, namespace, name, uid, revision, object) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kind, namespace, name) DO UPDATE SET uid = EXCLUDED.uid, revision = EXCLUDED.revision, object = EXCLUDED.object`,
        [id, namespace, name, object.metadata.uid, revision, json],
      );
    } else {
      await this.client.query(
        `DELETE FROM ${t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
        [id, namespace, name],
      );
    }
    const before = previous?.metadata.ownerReferences ?? [];
    const after = plan.action === "put" ? (object.metadata.ownerReferences ?? []) : [];
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
    const previousLabels = previous?.metadata.labels;
    await this.client.query(
      `INSERT INTO ${t.changes} (revision, kind, namespace, name, type, object, previous_labels)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        revision,
        id,
        namespace,
        name,
        plan.action === "remove" ? "DELETED" : previous === undefined ? "ADDED" : "MODIFIED",
        json,
        deepEqual(previousLabels, object.metadata.labels)
          ? null
          : JSON.stringify(previousLabels ?? {}),
      ],
    );
    // Delivered on commit, and only then.
    await this.client.query("SELECT pg_notify($1, $2)", [this.backend.channel, id]);
  }

  /** Background garbage collection after the object with `uid` went, within this transaction. */
  private async collectDependentsOf(uid: string): Promise<void> {
    const t = this.backend.tables;
    const gone = [uid];
    while (gone.length > 0) {
      const ownerUid = gone.pop()!;
      const { rows } = await this.client.query(
        `SELECT o.kind, o.namespace, o.name, k.identity FROM ${t.owners} o JOIN ${t.kinds} k ON k.id = o.kind
          WHERE o.owner_uid = $1`,
        [ownerUid],
      );
      for (const row of rows as {
        kind: string;
        namespace: string;
        name: string;
        identity: KindIdentity;
      }[]) {
        const kind = standIn(row.identity);
        const key =
          row.namespace === "" ? { name: row.name } : { namespace: row.namespace, name: row.name };
        const dependent = await this.read(kind, key);
        if (dependent === undefined) continue;
        // The owner that went was deleted in this transaction: it counts only if unresolvable.
        let owned = false;
        for (const ref of dependent.metadata.ownerReferences ?? [])
          if (await this.ownerExists(ref, dependent)) {
            owned = true;
            break;
          }
        if (owned) continue;
        const plan = planDelete(kind, key, dependent, undefined, await this.nextContext());
        if (plan.action === "none") continue;
        await this.apply(kind, plan, dependent);
        if (plan.action === "remove") gone.push(plan.object.metadata.uid);
      }
    }
  }

  /**
   * Kubernetes' collector also deletes a dependent written after its owners went: an object
   * whose `ownerReferences` this write set or changed, and none of whose owners exists, is
   * deleted (or, with finalizers, marked) at the next revision of this transaction. Under the
   * revision lock, an owner's delete and this write are serialized: whichever commits second
   * sees the other — the delete collects this dependent, or this write finds the owner gone.
   */
  private async collectIfOrphaned(
    kind: AnyKind,
    object: StoredObject,
    previous: StoredObject | undefined,
  ): Promise<void> {
    const refs = object.metadata.ownerReferences;
    // `seal` shares equal references with the previous version: a new array means a change.
    if (refs === undefined || refs === previous?.metadata.ownerReferences) return;
    for (const ref of refs) if (await this.ownerExists(ref, object)) return;
    const { namespace, name } = object.metadata;
    const key = namespace === undefined ? { name } : { namespace, name };
    const plan = planDelete(kind, key, object, undefined, await this.nextContext());
    if (plan.action === "none") return;
    await this.apply(kind, plan, object);
    if (plan.action === "remove") await this.collectDependentsOf(plan.object.metadata.uid);
  }

  /**
   * Whether an object of the reference's kind, name and uid exists — in the dependent's
   * namespace when the owner's kind is namespaced — as Kubernetes' collector looks an owner up.
   * An owner of a kind this store has never held counts as present, as in the memory store, and
   * so does a namespaced owner of a cluster-scoped dependent: Kubernetes finds that reference
   * unresolvable (an `OwnerRefInvalidNamespace` event) and never collects the dependent for it.
   */
  private async ownerExists(
    ref: Frozen<OwnerReference>,
    dependent: StoredObject,
  ): Promise<boolean> {
    const t = this.backend.tables;
    const { rows } = await this.client.query(
      `SELECT k.id IS NOT NULL AS known, k.identity->>'scope' = 'Namespaced' AS namespaced, EXISTS (
         SELECT 1 FROM ${t.objects} o
          WHERE o.uid = $1 AND o.kind = $2 AND o.name = $3
            AND o.namespace = CASE WHEN k.identity->>'scope' = 'Namespaced' THEN $4 ELSE '' END
       ) AS present
       FROM (SELECT 1) one LEFT JOIN ${t.kinds} k ON k.id = $2`,
      [
        ref.uid,
        `${groupOf(ref.apiVersion)}/${ref.kind}`,
        ref.name,
        dependent.metadata.namespace ?? "",
      ],
    );
    const { known, namespaced, present } = rows[0];
    return present || !known || (namespaced === true && dependent.metadata.namespace === undefined);
  }
}

const done: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A watch of one kind: reads the change log after its last revision whenever poked (a
 * notification, the catch-up timer), buffers what it read, and hands it out in order.
 *
 * It reads ahead of its consumer by about a batch: a batch is read only while fewer than half a
 * batch of events wait in the buffer, and the consumer taking them starts the next. A watch
 * resuming from far back in a long history (100,000 revisions by default, of objects up to
 * 1.5 MiB) holds a batch and a half of events in memory at most, not the history.
 */
class PostgresWatch implements Watch {
  private readonly buffer: WatchEvent[] = [];
  private cursor: number | undefined;
  /** Set when reading stopped because the consumer has a batch to take first. */
  private stalled = false;
  private reading = false;
  private again = false;
  private closed = false;
  private error: unknown;
  private waiting:
    | { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void }
    | undefined;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private lastDelivery = Date.now();
  private readonly onAbort = () => this.close();

  constructor(
    private readonly backend: PostgresBackend,
    readonly kindId: string,
    private readonly filter: WatchFilter,
    private readonly bookmarkIntervalMs: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener("abort", this.onAbort, { once: true });
    if (signal?.aborted) this.close();
  }

  /** The first read waits for this: the starting revision is known. */
  private ready: Promise<void> = Promise.resolve();

  /** The `resourceVersion` the watch was asked to start from, for errors about it. */
  private asked: string | undefined;

  /** Starts from `revision`, or from the current one; resolves once the start is known. */
  start(revision: number | undefined, asked?: string): Promise<void> {
    this.cursor = revision;
    this.asked = asked;
    if (revision === undefined)
      this.ready = this.backend.currentRevision().then(
        (current) => {
          this.cursor = current;
        },
        (error) => this.fail(error),
      );
    this.poke();
    if (this.bookmarkIntervalMs !== undefined) {
      this.bookmarkTimer = setInterval(
        () => {
          if (
            this.waiting !== undefined &&
            this.cursor !== undefined &&
            Date.now() - this.lastDelivery >= this.bookmarkIntervalMs!
          ) {
            this.lastDelivery = Date.now();
            this.deliver({ type: "BOOKMARK", resourceVersion: String(this.cursor) });
          }
        },
        Math.max(10, this.bookmarkIntervalMs / 2),
      );
      this.bookmarkTimer.unref();
    }
    return this.ready;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Reads what is new; one read at a time, again at once if poked meanwhile. */
  poke(): void {
    if (this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.read().finally(() => {
      this.reading = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.poke();
      }
    });
  }

  private async read(): Promise<void> {
    await this.ready;
    try {
      // Unset only when reading the starting revision failed: the watch has failed then.
      while (this.cursor !== undefined) {
        if (this.buffer.length >= batchSize / 2) {
          this.stalled = true; // `take()` reads on once the consumer took these
          return;
        }
        const { current, compacted, changes } = await this.backend.changesAfter(
          this.kindId,
          this.cursor,
          this.filter.namespace,
        );
        if (this.closed) return;
        // Beyond the store's revision (a resume point from before a restore of the database, or
        // from another store): nothing here is the change after it, so relist.
        if (this.cursor > current) {
          this.fail(tooLargeResourceVersion(this.asked ?? this.cursor, current));
          return;
        }
        this.asked = undefined;
        if (this.cursor < compacted)
          throw expired(`too old resource version: ${this.cursor} (${compacted})`);
        for (const change of changes) {
          this.cursor = change.revision;
          const event = eventFor(
            {
              type: change.type as "ADDED" | "MODIFIED" | "DELETED",
              object: change.object,
              previousLabels: change.previousLabels as Record<string, string> | undefined,
            },
            this.filter,
          );
          if (event !== undefined) this.deliver(event);
        }
        if (changes.length < batchSize) {
          // Everything up to the snapshot's revision is read: a bookmark may carry it.
          this.cursor = Math.max(this.cursor, current);
          return;
        }
      }
    } catch (error) {
      // A failed read is retried by the next poke, unless the history is gone.
      if (ApiError.isGone(error)) this.fail(error);
    }
  }

  private deliver(event: WatchEvent): void {
    if (this.closed) return;
    if (event.type !== "BOOKMARK") this.lastDelivery = Date.now();
    if (this.waiting !== undefined) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ done: false, value: event });
    } else this.buffer.push(event);
  }

  /** The next buffered event; reading goes on once few are left. */
  private take(): WatchEvent | undefined {
    const event = this.buffer.shift();
    if (this.stalled && this.buffer.length < batchSize / 2) {
      this.stalled = false;
      this.poke();
    }
    return event;
  }

  poll(): WatchEvent | undefined {
    return this.take();
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const event = this.take();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.closed) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.close();
    return Promise.resolve(done);
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    this.end();
    if (this.waiting !== undefined) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      this.error = undefined;
      reject(error);
    }
  }

  close(): void {
    if (this.closed) return;
    this.end();
    if (this.waiting !== undefined) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(done);
    }
  }

  private end(): void {
    this.closed = true;
    clearInterval(this.bookmarkTimer);
    this.signal?.removeEventListener("abort", this.onAbort);
    this.backend.forget(this);
  }
}
