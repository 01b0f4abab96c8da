/**
 * The embedded durable store: the memory engine over a SQLite log (better-sqlite3, WAL mode).
 *
 * Reads and watches run at memory speed from the in-memory engine; every change is also written
 * to SQLite, and a writer's promise resolves only once its change is committed. Concurrent
 * writes share one transaction (group commit): changes made in the same turn of the event loop
 * are flushed together on the next, so throughput does not collapse to one fsync per write.
 * Nothing is handed out before it is durable: watches deliver a change once it is, and a read
 * (`get`, `list`) of a kind with a change still being committed answers once that commit is done.
 *
 * What is kept: the current objects and the store's revision. History is not: after a restart a
 * watch resuming from before it gets `Expired` (410) and relists, as after etcd's compaction.
 * The SQLite schema is migrated by the numbered SQL files in `migrations/` (see `../migrations.ts`).
 *
 * One process per data directory: the store holds SQLite's exclusive lock while open, and a
 * second opener is refused with a clear error. A commit that fails (disk full, I/O error) leaves
 * the store refusing every call — writes, reads and new watches, with `ServiceUnavailable` (503);
 * open watches end with that error — since memory then holds changes the disk does not, and
 * nothing more is written to the disk. Reopening loads what was acknowledged.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { type AnyKind, kindId } from "../../model/kind.js";
import { deepFreeze } from "../../model/resource.js";
import type { BackendCapabilities, StoredObject } from "../backend.js";
import { identityOf, standIn } from "../kind-identity.js";
import {
  type Journal,
  type JournalChange,
  MemoryBackend,
  type MemoryBackendOptions,
} from "../memory/memory-backend.js";
import { migrationsAfter, readMigrations } from "../migrations.js";

/** Options of {@link DurableBackend}. */
export interface DurableBackendOptions extends MemoryBackendOptions {
  /** The directory of the store (made if missing); it holds `setpoint.db` and its WAL. */
  readonly dataDir: string;
  /**
   * When a write is acknowledged. `"full"`: once it is on disk, surviving a power loss
   * (SQLite `synchronous=FULL`). `"normal"`: once the operating system has it, surviving a
   * crash of the process but not of the machine (`synchronous=NORMAL`), and faster.
   * @default "full"
   */
  readonly durability?: "full" | "normal";
}

/** The store's numbered migrations (see `../migrations.ts`); the schema version is `meta.schema`. */
const migrations = new URL("./migrations/", import.meta.url);

type Database = BetterSqlite3.Database;

/**
 * The optional dependency better-sqlite3 did not load: the durable store cannot open. Not
 * retryable: install it (`npm install better-sqlite3@^12`), or use another store.
 */
export class SqliteMissingError extends Error {
  override readonly name = "SqliteMissingError";
  /** What callers that cannot import this class test for. */
  readonly code = "SETPOINT_NO_SQLITE";
}

/** Loads the optional driver; {@link SqliteMissingError} if it is missing. */
function loadDriver(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)("better-sqlite3");
  } catch (error) {
    throw new SqliteMissingError(
      `the durable store needs better-sqlite3 (npm install better-sqlite3@^12), which did not load: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The SQLite side: opens, migrates and loads the store, then commits changes in groups. */
class SqliteJournal implements Journal {
  private readonly db: Database;
  private pending: JournalChange[] = [];
  private waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private flushScheduled = false;
  /** Set when a commit failed: every later sync fails with it, and nothing more is written. */
  private failure: { readonly error: unknown } | undefined;
  private readonly knownKinds = new Set<string>();
  private readonly statements: {
    readonly put: BetterSqlite3.Statement;
    readonly remove: BetterSqlite3.Statement;
    readonly kind: BetterSqlite3.Statement;
    readonly revision: BetterSqlite3.Statement;
  };
  private readonly commit: (changes: readonly JournalChange[]) => void;

  constructor(
    readonly dataDir: string,
    durability: "full" | "normal",
  ) {
    const Driver = loadDriver();
    if (existsSync(dataDir) && !statSync(dataDir).isDirectory())
      throw new TypeError(`dataDir ${dataDir} is a file, not a directory: name a directory`);
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, "setpoint.db");
    try {
      this.db = new Driver(file, { timeout: 0 });
    } catch (error) {
      throw openError(file, error);
    }
    try {
      // Exclusive before WAL: the WAL index then lives in this process's memory, and the lock,
      // once taken by the first write below, is held until close.
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${durability === "normal" ? "NORMAL" : "FULL"}`);
      this.migrate(file);
    } catch (error) {
      this.db.close();
      throw openError(file, error);
    }
    this.statements = {
      put: this.db.prepare(
        "INSERT OR REPLACE INTO objects (kind, namespace, name, object) VALUES (?, ?, ?, ?)",
      ),
      remove: this.db.prepare("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?"),
      kind: this.db.prepare("INSERT OR REPLACE INTO kinds (id, identity) VALUES (?, ?)"),
      revision: this.db.prepare("UPDATE meta SET value = ? WHERE key = 'revision'"),
    };
    for (const row of this.db.prepare("SELECT id FROM kinds").all() as { id: string }[])
      this.knownKinds.add(row.id);
    this.commit = this.db.transaction((changes: readonly JournalChange[]) => {
      for (const change of changes) this.write(change);
      this.statements.revision.run(String(changes[changes.length - 1]!.revision));
    });
  }

  /**
   * Brings the schema to this code's version, in one transaction that also takes the lock:
   * `NewerSchemaError` (within the open error) for a store of a newer one, refused, not misread.
   */
  private migrate(file: string): void {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
        | { value: string }
        | undefined;
      const current = row === undefined ? 0 : Number(row.value);
      const pending = migrationsAfter(
        readMigrations(migrations),
        current,
        (version, latest) =>
          `the store in ${file} has schema version ${version}, newer than this setpoint knows (${latest}); upgrade setpoint`,
      );
      const record = this.db.prepare(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
      );
      for (const migration of pending) {
        this.db.exec(migration.sql);
        record.run(String(migration.version));
      }
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }

  get revision(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'revision'").get() as {
      value: string;
    };
    return Number(row.value);
  }

  /** A stand-in for every kind the store has held, by id. */
  kinds(): Map<string, AnyKind> {
    const kinds = new Map<string, AnyKind>();
    for (const row of this.db.prepare("SELECT id, identity FROM kinds").all() as {
      id: string;
      identity: string;
    }[])
      kinds.set(row.id, standIn(JSON.parse(row.identity)));
    return kinds;
  }

  /** Every stored object, with its kind from `kinds`. */
  *load(kinds: Map<string, AnyKind>): Generator<{ kind: AnyKind; object: StoredObject }> {
    for (const row of this.db.prepare("SELECT kind, object FROM objects").iterate() as Iterable<{
      kind: string;
      object: string;
    }>) {
      const kind = kinds.get(row.kind);
      if (kind === undefined)
        throw new Error(`the store has objects of an unknown kind ${row.kind}`);
      yield { kind, object: deepFreeze(JSON.parse(row.object)) as StoredObject };
    }
  }

  record(change: JournalChange): void {
    this.pending.push(change);
  }

  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // Everything recorded in this turn of the event loop goes into one transaction.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const changes = this.pending;
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    try {
      // After a failed commit the engine's memory holds changes the disk does not, and what is
      // recorded since may build on them: none of it may reach the disk.
      if (this.failure !== undefined) throw this.failure.error;
      if (changes.length > 0) this.commit(changes);
    } catch (error) {
      this.failure ??= { error };
      for (const waiter of waiting) waiter.reject(error);
      return;
    }
    for (const waiter of waiting) waiter.resolve();
  }

  /** Caps the database at the pages it has: a commit needing more fails as on a full disk. */
  fillDisk(): void {
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    this.db.pragma(`max_page_count = ${pages}`);
  }

  private write(change: JournalChange): void {
    const id = kindId(change.kind);
    if (!this.knownKinds.has(id)) {
      this.statements.kind.run(id, JSON.stringify(identityOf(change.kind)));
      this.knownKinds.add(id);
    }
    const { namespace = "", name } = change.object.metadata;
    if (change.removed) this.statements.remove.run(id, namespace, name);
    else this.statements.put.run(id, namespace, name, JSON.stringify(change.object));
  }

  /** Commits what is pending, then closes the database (releasing the lock). */
  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}

function openError(file: string, error: unknown): Error {
  const code = (error as { code?: string }).code;
  const why =
    code === "SQLITE_BUSY"
      ? "it is in use by another process (one process per data directory)"
      : code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT"
        ? `it is not a readable setpoint store (${(error as Error).message})`
        : (error as Error).message;
  return new Error(`cannot open the durable store ${file}: ${why}`, { cause: error });
}

/**
 * The embedded durable store (see the module comment): every acknowledged write survives a
 * restart, `kill -9` included. Needs the optional dependency better-sqlite3 (^12).
 *
 * @example
 * ```ts
 * const plane = createControlPlane({ dataDir: "./data" }); // same as:
 * const plane2 = createControlPlane({ backend: new DurableBackend({ dataDir: "./data" }) });
 * ```
 */
export class DurableBackend extends MemoryBackend {
  override readonly capabilities: BackendCapabilities;
  private readonly sqlite: SqliteJournal;

  constructor(options: DurableBackendOptions) {
    const { dataDir, durability = "full", ...memoryOptions } = options;
    if (typeof dataDir !== "string" || dataDir === "")
      throw new TypeError("dataDir must name a directory");
    if (durability !== "full" && durability !== "normal")
      throw new RangeError(
        `durability must be "full" or "normal", not ${JSON.stringify(durability)}`,
      );
    const journal = new SqliteJournal(dataDir, durability);
    try {
      super(memoryOptions, journal);
      const kinds = journal.kinds();
      this.restore(kinds.values(), journal.load(kinds), journal.revision);
    } catch (error) {
      journal.close();
      throw error;
    }
    this.sqlite = journal;
    this.capabilities = { name: "durable", durable: true };
  }

  /**
   * Makes the disk full for this store, as far as it can tell: SQLite may not grow the database
   * past the pages it has now, so the next commit that needs room fails ("database or disk is
   * full") and the store then refuses every call. A test hook for the failure path, as
   * `compact()` is for history; reopening the store lifts it.
   */
  fillDisk(): void {
    this.sqlite.fillDisk();
  }

  override async close(): Promise<void> {
    await super.close();
    this.sqlite.close();
  }
}
