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
 * Writes are the store engine's (`backend/store-engine.ts`), garbage collection included. The
 * writes a process makes while the previous batch commits share one SQL transaction (group
 * commit, `postgres-batch.ts`): four round trips per batch, however many writes it carries.
 *
 * Watches read the `changes` table after their last revision: woken by `LISTEN/NOTIFY` (the
 * notification only says which kind changed; the table is the truth), with a periodic catch-up
 * read in case a notification is lost, and re-`LISTEN` after a dropped connection. History is
 * kept for `historyLimit` revisions; a watch resuming from before that gets `Expired` (410). A
 * watch reads one batch ahead of its consumer, never the whole history into memory. The catch-up
 * and pruning timers, the reconnect backoff and bookmarks run on the injected `Clock`.
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
  ListOptions,
  ObjectList,
  StoredObject,
  Watch,
  WatchOptions,
} from "../backend/backend.js";
import { continueExpired } from "../backend/continue-token.js";
import { subjectOf } from "../backend/error-subject.js";
import { listPage, listQuery, listRevision, matchesQuery } from "../backend/list-query.js";
import { NewerSchemaError } from "../backend/migrations.js";
import { defaultMaxObjectBytes } from "../backend/object-rules.js";
import type { Steps } from "../backend/steps.js";
import { StoreEngine, TransactionalBackend } from "../backend/store-engine.js";
import type { StoreTransaction, WriteTarget } from "../backend/store-transaction.js";
import { WatchChannel } from "../backend/watch-channel.js";
import { watchQuery } from "../backend/watch-query.js";
import { ApiError, expired, notFound } from "../model/api-error.js";
import { type Clock, sleep, systemClock, type Timer } from "../model/clock.js";
import { type AnyKind, kindId } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import { migrate } from "./migrate.js";
import { withPoolClient } from "./pool-client.js";
import {
  type BatchStatements,
  batchStatements,
  maxBatchWrites,
  type QueuedWrite,
  runBatch,
  type Tables,
} from "./postgres-batch.js";
import { batchSize, type ChangeBatch, type ChangeLog, PostgresWatch } from "./postgres-watch.js";
import { frozen, text } from "./storable.js";
import { asStoreError } from "./store-error.js";

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
  /**
   * The time source of the catch-up and pruning timers, the reconnect backoff, watch bookmarks
   * and timestamps. @default systemClock
   */
  readonly clock?: Clock;
}

type Queryable = Pick<PoolClient, "query">;
type PgModule = typeof import("pg");

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
  if (error instanceof ApiError || error instanceof NewerSchemaError) return error;
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

/** Runs `callback` every `ms` on `clock`, until the returned timer is cancelled. */
function every(clock: Clock, ms: number, callback: () => void): Timer {
  let timer: Timer;
  let cancelled = false;
  const arm = () => {
    timer = clock.setTimer(ms, () => {
      if (cancelled) return;
      arm();
      callback();
    });
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      timer.cancel();
    },
  };
}

/** See the module comment. Made by {@link connectPostgres}. */
export class PostgresBackend extends TransactionalBackend implements Backend, ChangeLog {
  readonly capabilities: BackendCapabilities = { name: "postgres", durable: true };
  private readonly t: Tables;
  private readonly statements: BatchStatements;
  readonly channel: string;
  readonly clock: Clock;
  private closed = false;
  /** Aborts when the backend closes: ends the reconnect loop's waits. */
  private readonly closing = new AbortController();
  private readonly watches = new Set<PostgresWatch>();
  /** Watches still reading the revision they start from (see `settled`). */
  private readonly starting = new Set<Promise<unknown>>();
  private listener: PgClient | undefined;
  private pollTimer: Timer | undefined;
  private pruneTimer: Timer | undefined;
  protected readonly engine: StoreEngine;

  constructor(
    private readonly pg: PgModule,
    private readonly pool: Pool,
    private readonly ownsPool: boolean,
    readonly schema: string,
    private readonly settings: Settings,
  ) {
    super();
    this.statements = batchStatements(schema);
    this.t = this.statements.t;
    this.channel = `setpoint_${schema}`;
    this.clock = settings.clock;
    this.engine = new StoreEngine(
      {
        checkOpen: () => this.checkOpen(),
        read: (kind, key) => this.read(kind, key),
        transact: (steps, target) => this.transact(steps, target),
      },
      { clock: settings.clock, maxObjectBytes: settings.maxObjectBytes },
    );
  }

  // --- notifications -------------------------------------------------------------------------

  /** Opens the LISTEN connection and the catch-up and pruning timers. */
  async startListening(): Promise<void> {
    await this.listen();
    this.pollTimer = every(this.clock, this.settings.pollIntervalMs, () => {
      for (const watch of this.watches) watch.poke();
    });
    this.pruneTimer = every(this.clock, 60_000, () => void this.prune().catch(() => {}));
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
        await sleep(this.clock, delay, this.closing.signal);
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
    const object = await this.read(kind, key);
    if (object === undefined) throw notFound(subjectOf(kind, key.name));
    return object;
  }

  /** The object stored at `key`, outside any transaction. */
  private async read(kind: AnyKind, key: ObjectKey): Promise<StoredObject | undefined> {
    const { rows } = await this.query(
      `SELECT object FROM ${this.t.objects} WHERE kind = $1 AND namespace = $2 AND name = $3`,
      [kindId(kind), text(key.namespace ?? ""), text(key.name)],
    );
    return rows.length === 0 ? undefined : frozen(rows[0].object);
  }

  async list(kind: AnyKind, options: ListOptions = {}): Promise<ObjectList> {
    this.checkOpen();
    const id = kindId(kind);
    const query = listQuery(options);
    const { limit, namespace, token } = query;

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
        const asked = listRevision(query, current);
        // A read at a past revision needs the changes since; compaction keeps, below its point,
        // only the latest change of each key changed since (what this read needs at the point).
        if (asked < Number(compacted) && Number(last_change ?? 0) > asked)
          throw expired(
            `the resourceVersion ${asked} is too old to be read exactly (compacted at ${compacted})`,
          );
        const revision = token?.rv ?? asked;
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
          const rows = await this.stateAt(
            client,
            id,
            revision,
            after,
            batch,
            revision === current || Number(last_change ?? 0) <= revision,
          );
          for (const object of rows) {
            const meta = object.metadata;
            if (namespace !== undefined && (meta.namespace ?? "") !== namespace) break scan;
            after = { ns: meta.namespace ?? "", name: meta.name };
            if (!matchesQuery(query, meta)) continue;
            if (limit > 0 && items.length === limit) {
              more = true;
              break scan;
            }
            items.push(object);
          }
          if (rows.length < batch) break;
        }
        return listPage(items, revision, more);
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
    try {
      this.checkOpen();
      const { filter, from, bookmarkIntervalMs } = watchQuery(options);
      const watch = new PostgresWatch(
        this,
        kindId(kind),
        filter,
        bookmarkIntervalMs,
        options.signal,
        (ended) => this.watches.delete(ended),
      );
      if (watch.channel.isEnded) return watch.channel;
      this.watches.add(watch);
      const started = watch.start(from, options.resourceVersion);
      if (from === undefined) {
        const entry: Promise<unknown> = started.finally(() => this.starting.delete(entry));
        this.starting.add(entry);
      }
      return watch.channel;
    } catch (error) {
      return WatchChannel.failed(error);
    }
  }

  /** The store's current revision. */
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

  /** A watch's read: changes of a kind after `revision`, and where history starts. */
  async changesAfter(
    id: string,
    revision: number,
    namespace: string | undefined,
  ): Promise<ChangeBatch> {
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
          (row: {
            revision: string;
            type: "ADDED" | "MODIFIED" | "DELETED";
            object: unknown;
            previous_labels: Record<string, string> | null;
          }) => ({
            revision: Number(row.revision),
            type: row.type,
            object: frozen(row.object),
            previousLabels: row.previous_labels ?? undefined,
          }),
        ),
    };
  }

  /** Writes waiting for the next batch, in the order they were made. */
  private queue: QueuedWrite[] = [];
  /** Whether a batch is being gathered or committed: at most one per backend at a time. */
  private committing = false;

  /**
   * Queues a write's steps for the next batch (`postgres-batch.ts`): concurrent writes share one
   * transaction holding the revision lock. A lone write starts its batch at once.
   */
  private transact<T>(
    steps: (tx: StoreTransaction) => Steps<T>,
    target: WriteTarget | undefined,
  ): Promise<T> {
    this.checkOpen();
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        steps,
        target,
        resolve: resolve as (value: unknown) => void,
        reject,
        solo: false,
      });
      if (!this.committing) void this.commitQueued();
    });
  }

  /** Runs batches while writes wait. */
  private async commitQueued(): Promise<void> {
    this.committing = true;
    try {
      while (this.queue.length > 0) {
        await this.settled();
        if (this.closed) {
          const closed = new ApiError("ServiceUnavailable", "the PostgreSQL backend is closed");
          for (const write of this.queue.splice(0)) write.reject(closed);
          return;
        }
        try {
          await this.withClient(async (client) => {
            const { later, again } = await runBatch(client, this.statements, this.channel, () =>
              this.queue[0]!.solo
                ? this.queue.splice(0, 1)
                : this.queue.splice(0, Math.min(maxBatchWrites, this.soloAt())),
            );
            this.queue.unshift(...again, ...later);
          });
        } catch (error) {
          // No connection, or no lock: every waiting write hears why.
          for (const write of this.queue.splice(0)) write.reject(error);
        }
      }
    } finally {
      this.committing = false;
    }
  }

  /** How many writes from the front of the queue may share a batch: up to the first solo one. */
  private soloAt(): number {
    const at = this.queue.findIndex((write) => write.solo);
    return at === -1 ? this.queue.length : at;
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

  /** Runs `body` with a client of the pool (see `withPoolClient`); errors as the store's. */
  private async withClient<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    try {
      return await withPoolClient(this.pool, body);
    } catch (error) {
      throw asStoreError(error);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ApiError("ServiceUnavailable", "the PostgreSQL backend is closed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.pollTimer?.cancel();
    this.pruneTimer?.cancel();
    for (const watch of [...this.watches]) watch.channel.close();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
    if (this.ownsPool) await this.pool.end().catch(() => {});
  }
}
