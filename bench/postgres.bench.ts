/**
 * The PostgreSQL backend against raw `pg` running the same SQL by hand, on a throwaway
 * PostgreSQL 15 started here (fsync off, as the tests'):
 * - creates/s with 1, 16 and 64 writers in one process: setpoint; raw pg doing the batched SQL
 *   setpoint's group commit does (lock, read the targets, one write statement, commit) with the
 *   same batching; and raw pg with one transaction of five statements per write, the shape
 *   setpoint's writes had before group commit. The raw writers' notifications are listened for,
 *   as setpoint's are by its backend;
 * - creates/s with 1, 2 and 3 writing processes of 64 writers each, sharing one store;
 * - write→watch latency at a steady 200 writes/s.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { connectPostgres } from "../src/postgres/index.js";
import {
  type BatchStatements,
  batchStatements,
  maxBatchWrites,
  tablesOf,
} from "../src/postgres/postgres-batch.js";
import { startTestPostgres } from "../src/testing/postgres.js";
import { BenchWidget, benchWidget } from "./objects.js";
import { percentile, rate, table } from "./report.js";

/** Runs `write(0…count-1)` with `writers` concurrent writers; returns the elapsed ms. */
export async function concurrently(
  count: number,
  writers: number,
  write: (i: number) => Promise<unknown>,
) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = next++; i < count; i = next++) await write(i);
    }),
  );
  return performance.now() - started;
}

const kindId = "bench.setpoint.dev/Widget";

/** The object a raw writer stores: the input with what the store adds, no validation. */
function stored(i: number, revision: number, prefix: string) {
  const object = benchWidget(i, prefix);
  return {
    apiVersion: BenchWidget.apiVersion,
    kind: "Widget",
    ...object,
    metadata: { ...object.metadata, uid: crypto.randomUUID(), resourceVersion: String(revision) },
  };
}

/** Before group commit: one transaction of five statements per write, by hand. */
async function rawCreate(pool: pg.Pool, schema: string, i: number, prefix: string) {
  const t = tablesOf(schema);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(
      `UPDATE ${t.revision} SET value = value + 1 WHERE id = 1 RETURNING value`,
    );
    const revision = Number(rows[0].value);
    const object = stored(i, revision, prefix);
    const json = JSON.stringify(object);
    const { namespace, name } = object.metadata;
    await client.query(
      `INSERT INTO ${t.kinds} (id, identity, last_change) VALUES ($1, '{}', $2)
       ON CONFLICT (id) DO UPDATE SET last_change = EXCLUDED.last_change`,
      [kindId, revision],
    );
    await client.query(
      `INSERT INTO ${t.objects} (kind, namespace, name, uid, revision, object) VALUES ($1, $2, $3, $4, $5, $6)`,
      [kindId, namespace, name, object.metadata.uid, revision, json],
    );
    await client.query(
      `INSERT INTO ${t.changes} (revision, kind, namespace, name, type, object) VALUES ($1, $2, $3, $4, 'ADDED', $5)`,
      [revision, kindId, namespace, name, json],
    );
    await client.query("SELECT pg_notify($1, $2)", [`setpoint_${schema}`, kindId]);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

/**
 * Group commit by hand: the writes queued while a batch commits form the next, run as setpoint's
 * batch is (the same four statements), without its engine.
 */
class RawBatches {
  private queue: { i: number; prefix: string; done: () => void }[] = [];
  private running = false;
  private readonly statements: BatchStatements;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.statements = batchStatements(schema);
  }

  create(i: number, prefix: string): Promise<void> {
    return new Promise((done) => {
      this.queue.push({ i, prefix, done });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const client = await this.pool.connect();
      try {
        const { lock, prefetch, write } = this.statements;
        const [, locked] = (await client.query(lock)) as unknown as [
          unknown,
          { rows: { value: string }[] },
        ];
        // Taken once the lock is held, as setpoint's batch: what came meanwhile joins.
        const batch = this.queue.splice(0, maxBatchWrites);
        let revision = Number(locked.rows[0]!.value);
        const objects = batch.map(({ i, prefix }) => stored(i, ++revision, prefix));
        await client.query(prefetch, [
          objects.map(() => kindId),
          objects.map((object) => object.metadata.namespace),
          objects.map((object) => object.metadata.name),
        ]);
        const changes = objects.map((object) => ({
          revision: Number(object.metadata.resourceVersion),
          kind: kindId,
          namespace: object.metadata.namespace,
          name: object.metadata.name,
          type: "ADDED",
          object,
          previous_labels: null,
        }));
        await client.query({
          ...write,
          values: [
            JSON.stringify(changes),
            JSON.stringify([{ id: kindId, identity: {}, last_change: revision }]),
            revision,
            `setpoint_${this.schema}`,
            "[]",
            "[]",
          ],
        });
        await client.query("COMMIT");
        for (const { done } of batch) done();
      } finally {
        client.release();
      }
    }
    this.running = false;
  }
}

/** A fresh store schema, made by the backend's migrations, for a raw writer. */
async function rawSchema(url: string, schema: string): Promise<void> {
  await (await connectPostgres({ postgres: url, schema })).close();
}

/**
 * A connection listening on the stores' notification channels, as setpoint's backend does for
 * its watches: the raw writers are measured with PostgreSQL delivering their notifications too
 * (5–10% of a lone writer's rate).
 */
async function listen(url: string, schemas: string[]): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  client.on("notification", () => {});
  for (const schema of schemas) await client.query(`LISTEN "setpoint_${schema}"`);
  return client;
}

/** `processes` writing processes of 64 writers, `count` creates each; total creates/s. */
async function processes(url: string, processes: number, count: number): Promise<number> {
  const script = fileURLToPath(new URL("./postgres-writer-run.ts", import.meta.url));
  const schema = `bench_processes_${processes}`;
  const children = await Promise.all(
    Array.from({ length: processes }, async (_, p) => {
      const child = spawn(
        process.execPath,
        [
          "--conditions=source",
          "--import",
          "tsx",
          script,
          url,
          schema,
          `p${p}`,
          String(count),
          "64",
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      const exited = new Promise((done) => child.once("exit", done));
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const ready = await lines.next();
      if (ready.value !== "ready") throw new Error(`writer ${p} said ${ready.value}`);
      return { child, lines, exited };
    }),
  );
  const started = performance.now();
  for (const { child } of children) child.stdin!.end("go\n");
  await Promise.all(children.map(({ lines }) => lines.next()));
  const ms = performance.now() - started;
  await Promise.all(children.map(({ exited }) => exited));
  return (processes * count * 1000) / ms;
}

export async function postgresBenchmarks(): Promise<void> {
  const server = await startTestPostgres();
  try {
    const rows: string[][] = [];
    for (const writers of [1, 16, 64]) {
      // Rounds taking turns, after a warm-up of each: the machine's drift hits both alike.
      const count = writers === 1 ? 1_000 : 5_000;
      const backend = await connectPostgres({
        postgres: server.url,
        schema: `bench_sp_${writers}`,
      });
      const pool = new pg.Pool({ connectionString: server.url, max: 20 });
      await rawSchema(server.url, `bench_raw_${writers}`);
      await rawSchema(server.url, `bench_old_${writers}`);
      const raw = new RawBatches(pool, `bench_raw_${writers}`);
      const listener = await listen(server.url, [`bench_raw_${writers}`, `bench_old_${writers}`]);
      const oldCount = Math.min(count, 1_000);
      let setpointMs = 0;
      let rawMs = 0;
      let oldMs = 0;
      for (let round = 0; round <= 4; round++) {
        const prefix = `r${round}`;
        const n = round === 0 ? 200 : count;
        const s = await concurrently(n, writers, (i) =>
          backend.create(BenchWidget, benchWidget(i, prefix)),
        );
        const r = await concurrently(n, writers, (i) => raw.create(i, prefix));
        const o = await concurrently(round === 0 ? 200 : oldCount, writers, (i) =>
          rawCreate(pool, `bench_old_${writers}`, i, prefix),
        );
        if (round === 0) continue;
        setpointMs += s;
        rawMs += r;
        oldMs += o;
      }
      await backend.close();
      await listener.end();
      await pool.end();
      rows.push([
        String(writers),
        rate(4 * count, setpointMs),
        rate(4 * count, rawMs),
        `${(rawMs / setpointMs).toFixed(2)}×`,
        rate(4 * oldCount, oldMs),
      ]);
    }
    table(
      "PostgreSQL: creates/s in one process — setpoint (group commit) beside raw pg running the same batched SQL by hand, and raw pg with one transaction per write (the shape before group commit)",
      [
        "writers",
        "setpoint",
        "raw pg, batched",
        "setpoint ÷ raw",
        "raw pg, a transaction per write",
      ],
      rows,
    );

    const spread: string[][] = [];
    for (const count of [1, 2, 3])
      spread.push([
        String(count),
        `${Math.round(await processes(server.url, count, 10_000)).toLocaleString("en-US")}/s`,
      ]);
    table(
      "PostgreSQL: creates/s of 1, 2 and 3 writing processes sharing one store (64 writers each)",
      ["processes", "creates/s in all"],
      spread,
    );

    // Write→watch latency at a steady 200 writes/s, through LISTEN/NOTIFY.
    const backend = await connectPostgres({ postgres: server.url, schema: "bench_latency" });
    const watch = backend.watch(BenchWidget, {});
    const written = new Map<string, number>();
    const latencies: number[] = [];
    const total = 1_000;
    const received = (async () => {
      for await (const event of watch) {
        if (event.type === "BOOKMARK") continue;
        latencies.push(performance.now() - written.get(event.object.metadata.name)!);
        if (latencies.length === total) return;
      }
    })();
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const due = started + i * 5;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const object = benchWidget(i);
      written.set(object.metadata.name, performance.now());
      await backend.create(BenchWidget, object);
    }
    await received;
    watch.close();
    await backend.close();
    latencies.sort((a, b) => a - b);
    table(
      "PostgreSQL: write→watch latency at 200 writes/s (from the write's start to the watcher)",
      ["p50", "p99"],
      [
        [
          `${percentile(latencies, 50).toFixed(1)} ms`,
          `${percentile(latencies, 99).toFixed(1)} ms`,
        ],
      ],
    );
  } finally {
    await server.stop();
  }
}
