/**
 * The PostgreSQL backend against raw `pg` running the same SQL by hand (the write transaction of
 * the backend: revision, kind, object, change, notify), on a throwaway PostgreSQL 15 started here:
 * creates/s with 1 and 16 writers, and write→watch latency at a steady 200 writes/s.
 */
import pg from "pg";
import { connectPostgres } from "../src/postgres/index.js";
import { startTestPostgres } from "../src/testing/postgres.js";
import { BenchWidget, benchWidget } from "./objects.js";
import { percentile, rate, table } from "./report.js";

async function concurrently(
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

/** The backend's write transaction, by hand: no validation, no object rules. */
async function rawCreate(pool: pg.Pool, schema: string, i: number): Promise<void> {
  const s = `"${schema}"`;
  const object = benchWidget(i);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(
      `UPDATE ${s}.revision SET value = value + 1 WHERE id = 1 RETURNING value`,
    );
    const revision = rows[0].value;
    const stored = {
      apiVersion: BenchWidget.apiVersion,
      kind: "Widget",
      ...object,
      metadata: { ...object.metadata, uid: crypto.randomUUID(), resourceVersion: String(revision) },
    };
    await client.query(
      `INSERT INTO ${s}.kinds (id, identity, last_change) VALUES ($1, '{}', $2)
       ON CONFLICT (id) DO UPDATE SET last_change = EXCLUDED.last_change`,
      ["bench/Widget", revision],
    );
    await client.query(
      `INSERT INTO ${s}.objects (kind, namespace, name, uid, revision, object) VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        "bench/Widget",
        object.metadata.namespace,
        object.metadata.name,
        stored.metadata.uid,
        revision,
        JSON.stringify(stored),
      ],
    );
    await client.query(
      `INSERT INTO ${s}.changes (revision, kind, namespace, name, type, object) VALUES ($1, $2, $3, $4, 'ADDED', $5)`,
      [
        revision,
        "bench/Widget",
        object.metadata.namespace,
        object.metadata.name,
        JSON.stringify(stored),
      ],
    );
    await client.query("SELECT pg_notify($1, $2)", [`setpoint_${schema}`, "bench/Widget"]);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

export async function postgresBenchmarks(): Promise<void> {
  const server = await startTestPostgres();
  try {
    const rows: string[][] = [];
    for (const writers of [1, 16]) {
      const count = writers === 1 ? 2_000 : 10_000;
      const setpointSchema = `bench_sp_${writers}`;
      const backend = await connectPostgres({ postgres: server.url, schema: setpointSchema });
      const setpointMs = await concurrently(count, writers, (i) =>
        backend.create(BenchWidget, benchWidget(i)),
      );
      await backend.close();
      // The raw writer uses the same tables, made by the backend's migrations.
      const rawSchema = `bench_raw_${writers}`;
      await (await connectPostgres({ postgres: server.url, schema: rawSchema })).close();
      const pool = new pg.Pool({ connectionString: server.url, max: 20 });
      const rawMs = await concurrently(count, writers, (i) => rawCreate(pool, rawSchema, i));
      await pool.end();
      rows.push([
        String(writers),
        rate(count, setpointMs),
        rate(count, rawMs),
        `${(rawMs / setpointMs).toFixed(2)}×`,
      ]);
    }
    table(
      "PostgreSQL: creates/s, setpoint's backend beside raw pg running its write transaction by hand",
      ["writers", "setpoint", "raw pg", "setpoint ÷ raw"],
      rows,
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
