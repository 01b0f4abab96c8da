/**
 * The embedded durable store: the memory engine over a SQLite log (better-sqlite3, WAL mode).
 *
 * Reads and watches run at memory speed from the in-memory engine; every change is also written
 * to SQLite, and a writer's promise resolves only once its change is committed. Commits run on a
 * thread of their own (`sqlite-committer.ts`), so an fsync never stalls the event loop: the
 * database is opened, migrated and loaded here, then handed over. Concurrent writes share one
 * transaction (group commit): the changes made while a commit is in flight go together in the
 * next, so throughput does not collapse to one fsync per write.
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
import { SqliteCommitter } from "./sqlite-committer.js";

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

/**
 * Loads the optional driver; {@link SqliteMissingError} if it is missing, or if it is a version
 * this Node.js cannot run: better-sqlite3 13 needs Node.js 22 (on 20 it crashes the process).
 */
function loadDriver(): typeof BetterSqlite3 {
  const require = createRequire(import.meta.url);
  let version: string | undefined;
  try {
    version = (require("better-sqlite3/package.json") as { version: string }).version;
  } catch {
    // Missing: said below.
  }
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  if (version !== undefined && Number(version.split(".")[0]) >= 13 && nodeMajor < 22)
    throw new SqliteMissingError(
      `better-sqlite3 ${version} needs Node.js 22 or newer, and this is ${process.version}: on Node.js 20 install better-sqlite3 12 (npm install better-sqlite3@^12), or use Node.js 22 or 24`,
    );
  try {
    return require("better-sqlite3");
  } catch (error) {
    throw new SqliteMissingError(
      `the durable store needs better-sqlite3 (npm install better-sqlite3 — on Node.js 20, better-sqlite3@^12), which did not load: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The SQLite side: opens, migrates and loads the store, then commits changes in groups. */
class SqliteJournal implements Journal {
  private readonly db: Database;
  private readonly file: string;
  private readonly knownKinds = new Set<string>();
  /** Commits, once the store is loaded and handed over (see `sqlite-committer.ts`). */
  private committer: SqliteCommitter | undefined;

  constructor(
    readonly dataDir: string,
    private readonly durability: "full" | "normal",
  ) {
    const Driver = loadDriver();
    if (existsSync(dataDir) && !statSync(dataDir).isDirectory())
      throw new TypeError(`dataDir ${dataDir} is a file, not a directory: name a directory`);
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, "setpoint.db");
    this.file = file;
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
    for (const row of this.db.prepare("SELECT id FROM kinds").all() as { id: string }[])
      this.knownKinds.add(row.id);
  }

  /**
   * Hands the database over to the commit thread, once the store is loaded: closes this
   * connection, and the thread opens its own and takes the lock (see `sqlite-committer.ts`).
   */
  handOver(): void {
    // What was loaded: the commit thread opens only a database still in this state.
    const loaded = this.db
      .prepare("SELECT key, value FROM meta WHERE key IN ('revision', 'schema') ORDER BY key")
      .all() as { key: string; value: string }[];
    this.db.close();
    try {
      this.committer = new SqliteCommitter(
        this.file,
        this.durability === "normal" ? "NORMAL" : "FULL",
        loaded.map((row) => `${row.key}=${row.value}`).join(","),
      );
    } catch (error) {
      throw openError(this.file, error);
    }
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
    const id = kindId(change.kind);
    let identity: string | undefined;
    if (!this.knownKinds.has(id)) {
      identity = JSON.stringify(identityOf(change.kind));
      this.knownKinds.add(id);
    }
    const { namespace = "", name } = change.object.metadata;
    this.committer!.record(
      {
        kind: id,
        identity,
        namespace,
        name,
        json: change.removed ? null : JSON.stringify(change.object),
      },
      change.revision,
    );
  }

  sync(): Promise<void> {
    return this.committer!.sync();
  }

  /** Caps the database at the pages it has: a commit needing more fails as on a full disk. */
  fillDisk(): void {
    this.committer!.fillDisk();
  }

  /** Commits what is pending, then closes the database (releasing the lock). */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
    await this.committer?.close();
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
      journal.handOver();
    } catch (error) {
      void journal.close();
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
    await this.sqlite.close();
  }
}
