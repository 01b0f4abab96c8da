/**
 * `SqliteCommitter`: the durable store's commits on a worker thread, so that SQLite's fsync never
 * stalls the event loop (with `synchronous=FULL` a commit waits for the disk: milliseconds, in
 * which no timer, request or watch of the process would run).
 *
 * The store opens, migrates and loads its database on the main thread, as it always did, and
 * then hands it over: it closes its connection and the worker opens its own, takes SQLite's
 * exclusive lock at once (a write) and holds it until the store closes. Between the two, another
 * process could open the directory: if it holds the lock, this store's opening fails, saying the
 * directory is in use; if it got in and out (and wrote), the worker finds the store's revision
 * or schema no longer what was loaded, and this opening fails the same way, rather than go on
 * from a stale load. Never both.
 *
 * Commits: the changes made while a commit is in flight are sent as the next, in one
 * transaction, once it is done — one batch at a time, so that batches grow while the disk is
 * busy (group commit) rather than queueing one fsync each. A commit's promise resolves once the
 * worker says it is durable. A failed commit fails every later one too (the store refuses
 * everything from then on: see `durable-backend.ts`). The worker keeps the process alive only
 * while a commit is in flight: an idle store does not, and a writer awaiting its commit is never
 * left behind by an exiting process.
 */
import { createRequire } from "node:module";
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";

/** One change as the worker writes it: the object's key and JSON (`null`: removed). */
export interface CommitRow {
  readonly kind: string;
  /** The kind's identity as JSON, the first time the store writes the kind. */
  readonly identity: string | undefined;
  readonly namespace: string;
  readonly name: string;
  readonly json: string | null;
}

/**
 * What the worker runs: CommonJS, given the driver's path, the file and the durability. Replies:
 * `{opened}` or `{error}` once, then `{seq}` or `{seq, error}` per commit, `{closed}` at the end.
 */
const workerSource = `
const { workerData } = require("node:worker_threads");
const Driver = require(workerData.driver);
const { file, durability, port, signal, loaded } = workerData;
const flag = new Int32Array(signal);
const failure = (error) => ({ message: String((error && error.message) || error), code: error && error.code });
let db;
let commit;
try {
  db = new Driver(file, { timeout: 0 });
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = " + durability);
  // A write takes the exclusive lock, held until close.
  db.prepare("UPDATE meta SET value = value WHERE key = 'revision'").run();
  const now = db.prepare("SELECT key, value FROM meta WHERE key IN ('revision', 'schema') ORDER BY key").all()
    .map((row) => row.key + "=" + row.value).join(",");
  if (now !== loaded) {
    const error = new Error("another process opened the store and changed it while this one was opening it (" + now + ", loaded " + loaded + ")");
    error.code = "SQLITE_BUSY";
    throw error;
  }
  const put = db.prepare("INSERT OR REPLACE INTO objects (kind, namespace, name, object) VALUES (?, ?, ?, ?)");
  const remove = db.prepare("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?");
  const kind = db.prepare("INSERT OR REPLACE INTO kinds (id, identity) VALUES (?, ?)");
  const revision = db.prepare("UPDATE meta SET value = ? WHERE key = 'revision'");
  // rows: [kind, identity or null, namespace, name, JSON or null (removed)] one after another.
  commit = db.transaction((rows, last) => {
    for (let i = 0; i < rows.length; i += 5) {
      if (rows[i + 1] !== null) kind.run(rows[i], rows[i + 1]);
      if (rows[i + 4] === null) remove.run(rows[i], rows[i + 2], rows[i + 3]);
      else put.run(rows[i], rows[i + 2], rows[i + 3], rows[i + 4]);
    }
    revision.run(String(last));
  });
  port.postMessage({ opened: true });
} catch (error) {
  if (db !== undefined && db.open) db.close();
  port.postMessage({ error: failure(error) });
  port.close();
}
Atomics.store(flag, 0, 1);
Atomics.notify(flag, 0);
if (commit !== undefined)
  port.on("message", (message) => {
    if (message.close) {
      db.close();
      port.postMessage({ closed: true });
      port.close();
      return;
    }
    if (message.fillDisk) {
      db.pragma("max_page_count = " + db.pragma("page_count", { simple: true }));
      return;
    }
    try {
      commit(message.rows, message.revision);
      port.postMessage({ seq: message.seq });
    } catch (error) {
      port.postMessage({ seq: message.seq, error: failure(error) });
    }
  });
`;

/** An error the worker reported, as an Error with SQLite's code. */
function errorOf(reported: { message: string; code?: string }): Error {
  return Object.assign(new Error(reported.message), { code: reported.code });
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Commits batches of rows on a worker thread (see the module comment). */
export class SqliteCommitter {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** Rows waiting for the next commit, five values each (a flat array clones fastest). */
  private rows: (string | null)[] = [];
  private revision = 0;
  private waiting: Waiter[] = [];
  /** The commit in flight: its sequence number and who waits for it. */
  private inFlight: { readonly seq: number; readonly waiters: Waiter[] } | undefined;
  private seq = 0;
  private failure: { readonly error: unknown } | undefined;
  private closed: Promise<void> | undefined;
  private exited = false;

  /**
   * Starts the worker on `file` and waits (blocking, as the store's constructor is synchronous)
   * until it holds the database; throws what opening it threw.
   *
   * @param loaded the store's `revision` and `schema` as loaded (`revision=N,schema=M`): the
   * worker refuses a database that is no longer in that state
   */
  constructor(file: string, durability: "FULL" | "NORMAL", loaded: string) {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    this.worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        file,
        durability,
        loaded,
        port: port2,
        signal,
      },
      transferList: [port2],
    });
    this.port = port1;
    const flag = new Int32Array(signal);
    // Opening takes milliseconds; a minute means the worker could not start at all.
    if (Atomics.wait(flag, 0, 0, 60_000) === "timed-out") {
      void this.worker.terminate();
      throw new Error(`the durable store's worker did not open ${file} within a minute`);
    }
    const reply = receiveMessageOnPort(port1)?.message as
      | { opened: true }
      | { error: { message: string; code?: string } }
      | undefined;
    if (reply === undefined || "error" in reply) {
      void this.worker.terminate();
      throw reply === undefined
        ? new Error(`the durable store's worker ended while opening ${file}`)
        : errorOf(reply.error);
    }
    this.port.on("message", (message) => this.heard(message));
    // A worker that dies (it should not) fails the commit in flight and every later one.
    this.worker.on("error", () => {});
    this.worker.on("exit", () => {
      this.exited = true;
      if (this.closed === undefined)
        this.fail(new Error("the durable store's commit thread ended unexpectedly"));
    });
    this.idle();
  }

  /** Adds a change to the next commit. */
  record(row: CommitRow, revision: number): void {
    this.rows.push(row.kind, row.identity ?? null, row.namespace, row.name, row.json);
    this.revision = revision;
  }

  /** Resolves once every row recorded so far is durable. */
  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.inFlight === undefined) this.send();
    });
  }

  /** Caps the database at the pages it has: a commit needing more fails as on a full disk. */
  fillDisk(): void {
    this.port.postMessage({ fillDisk: true });
  }

  /** Commits what is recorded, waits for every commit, then closes the database. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.inFlight !== undefined || this.rows.length > 0) await this.sync().catch(() => {});
      if (this.exited) return;
      this.worker.ref();
      const done = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
      this.port.postMessage({ close: true });
      await done;
    })();
    return this.closed;
  }

  /** Sends what is recorded as one commit (or, with nothing recorded, answers its waiters). */
  private send(): void {
    const waiters = this.waiting;
    this.waiting = [];
    if (this.rows.length === 0) {
      for (const waiter of waiters) waiter.resolve();
      return;
    }
    const rows = this.rows;
    this.rows = [];
    const seq = ++this.seq;
    this.inFlight = { seq, waiters };
    // A writer waits for this: the process must not exit before it is answered.
    this.worker.ref();
    this.port.ref();
    this.port.postMessage({ seq, rows, revision: this.revision });
  }

  private heard(message: { seq?: number; error?: { message: string; code?: string } }): void {
    const inFlight = this.inFlight;
    if (message.seq === undefined || inFlight === undefined || message.seq !== inFlight.seq) return;
    if (message.error !== undefined) {
      this.fail(errorOf(message.error));
      return;
    }
    this.inFlight = undefined;
    for (const waiter of inFlight.waiters) waiter.resolve();
    if (this.waiting.length > 0) this.send();
    else this.idle();
  }

  /** Memory holds changes the disk does not: nothing recorded after may reach the disk. */
  private fail(error: Error): void {
    this.failure ??= { error };
    this.rows = [];
    const waiters = [...(this.inFlight?.waiters ?? []), ...this.waiting.splice(0)];
    this.inFlight = undefined;
    for (const waiter of waiters) waiter.reject(this.failure.error);
    this.idle();
  }

  /** Nothing in flight: the worker does not keep the process alive. */
  private idle(): void {
    this.worker.unref();
    this.port.unref();
  }
}
