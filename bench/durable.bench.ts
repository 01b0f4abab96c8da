/**
 * The embedded durable store: writes/s with one writer (each write waits for its own commit, one
 * transaction per write) against 64 concurrent writers (their writes share transactions: group
 * commit), at both durability levels, beside raw better-sqlite3 inserts of the same JSON — one
 * per transaction and 100 per transaction — in the same WAL setup.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type BetterSqlite3 from "better-sqlite3";
import { DurableBackend } from "../src/index.js";
import { BenchWidget, benchWidget } from "./objects.js";
import { rate, table } from "./report.js";

function withDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "bench-durable-"));
  return run(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/**
 * Creates `count` objects with `writers` writers at once; returns the elapsed ms and the event
 * loop's delay p99 meanwhile (how long a timer or a request could wait behind the store).
 */
function storeWrites(durability: "full" | "normal", count: number, writers: number) {
  return withDir(async (dataDir) => {
    const backend = new DurableBackend({ dataDir, durability });
    let next = 0;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = next++; i < count; i = next++)
          await backend.create(BenchWidget, benchWidget(i));
      }),
    );
    const ms = performance.now() - started;
    delay.disable();
    await backend.close();
    return { ms, delayP99: delay.percentile(99) / 1e6 };
  });
}

/** Raw inserts of the same JSON, `perTransaction` per transaction; returns the elapsed ms. */
function rawWrites(durability: "full" | "normal", count: number, perTransaction: number) {
  return withDir(async (dir) => {
    const Database = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
    const db = new Database(join(dir, "raw.db"));
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${durability === "full" ? "FULL" : "NORMAL"}`);
    db.exec(
      "CREATE TABLE objects (namespace TEXT, name TEXT, object TEXT, PRIMARY KEY (namespace, name)) WITHOUT ROWID",
    );
    const insert = db.prepare("INSERT INTO objects VALUES (?, ?, ?)");
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const object = benchWidget(i);
        insert.run(object.metadata.namespace, object.metadata.name, JSON.stringify(object));
      }
    });
    const started = performance.now();
    for (let i = 0; i < count; i += perTransaction) batch(i, Math.min(count, i + perTransaction));
    const ms = performance.now() - started;
    db.close();
    return ms;
  });
}

export async function durableBenchmarks(): Promise<void> {
  const rows: string[][] = [];
  for (const durability of ["full", "normal"] as const) {
    const sequential = 3_000;
    const concurrent = 30_000;
    const one = await storeWrites(durability, sequential, 1);
    const grouped = await storeWrites(durability, concurrent, 64);
    const rawOne = await rawWrites(durability, sequential, 1);
    const rawHundred = await rawWrites(durability, concurrent, 100);
    rows.push(
      [
        durability,
        "setpoint, 1 writer (a transaction per write)",
        rate(sequential, one.ms),
        `${one.delayP99.toFixed(1)} ms`,
      ],
      [
        durability,
        "setpoint, 64 writers (group commit)",
        rate(concurrent, grouped.ms),
        `${grouped.delayP99.toFixed(1)} ms`,
      ],
      [durability, "raw better-sqlite3, 1 insert per transaction", rate(sequential, rawOne), ""],
      [
        durability,
        "raw better-sqlite3, 100 inserts per transaction",
        rate(concurrent, rawHundred),
        "",
      ],
    );
  }
  table(
    "Durable store: creates/s, acknowledged once committed (SQLite WAL)",
    ["durability", "writer", "writes/s", "event loop delay p99"],
    rows,
  );
}
