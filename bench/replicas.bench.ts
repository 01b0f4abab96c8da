/**
 * Replicas on PostgreSQL, as real processes (test/fixtures/replica.ts), on a throwaway server:
 * - failover: three leader-elected replicas, the leader killed with SIGKILL 20 times (a fresh
 *   replica replaces each one killed); time from the kill until another replica holds the Lease;
 * - sharded reconcile throughput: 1, 2 and 3 replicas sharing 12 shards; reconciles/s of 3,000
 *   changed keys (each reconcile logs itself and writes status), from the first change to the
 *   last status written.
 * Lease 3 s, renew deadline 2 s, retry 0.5 s, as in the tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { connectPostgres } from "../src/postgres/index.js";
import { startTestPostgres } from "../src/testing/postgres.js";
import { createWidgets, reconcileLogSql, Widget } from "../test/fixtures/replica-kinds.js";
import { percentile, table } from "./report.js";

const script = fileURLToPath(new URL("../test/fixtures/replica.ts", import.meta.url));

function replica(
  url: string,
  schema: string,
  identity: string,
  mode: string,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", script, url, schema, identity, "0", mode],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}`)));
  });
}

async function prepare(url: string, schema: string) {
  const backend = await connectPostgres({ postgres: url, schema });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  await db.query(reconcileLogSql(schema));
  return { backend, db };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` every `ms` until it gives something. */
async function until<T>(read: () => Promise<T | undefined>, ms: number): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await sleep(ms);
  }
}

async function failover(url: string): Promise<number[]> {
  const { backend, db } = await prepare(url, "failover");
  const holder = async () =>
    (
      await db.query(
        `SELECT object->'spec'->>'holderIdentity' AS h FROM failover.objects WHERE kind = 'coordination.k8s.io/Lease'`,
      )
    ).rows[0]?.h as string | undefined;
  const live = new Map<string, ChildProcess>();
  let made = 0;
  const add = async () => {
    const identity = `replica-${made++}`;
    live.set(identity, await replica(url, "failover", identity, "leader"));
  };
  await Promise.all([add(), add(), add()]);
  const times: number[] = [];
  try {
    for (let kill = 0; kill < 20; kill++) {
      const leader = await until(async () => {
        const h = await holder();
        return h !== undefined && live.has(h) ? h : undefined;
      }, 20);
      live.get(leader)!.kill("SIGKILL");
      live.delete(leader);
      const killedAt = performance.now();
      const replacement = add();
      await until(async () => {
        const h = await holder();
        return h !== undefined && h !== leader ? h : undefined;
      }, 10);
      times.push(performance.now() - killedAt);
      await replacement;
    }
  } finally {
    for (const child of live.values()) child.kill("SIGKILL");
    await backend.close();
    await db.end();
  }
  return times.sort((a, b) => a - b);
}

async function shardedThroughput(url: string, replicas: number): Promise<number> {
  const schema = `sharded_${replicas}`;
  const { backend, db } = await prepare(url, schema);
  const keys = 3_000;
  const children: ChildProcess[] = [];
  try {
    await createWidgets(backend, keys);
    for (let r = 0; r < replicas; r++)
      children.push(await replica(url, schema, `replica-${r}`, "shards"));
    // Shards placed and the first pass done: every key reconciled at its current spec.
    const done = async () => {
      const { rows } = await db.query(
        `SELECT count(*)::int AS c FROM "${schema}".objects WHERE kind = 'example.setpoint.dev/Widget'
           AND (object->'status'->>'seen')::int = (object->'spec'->>'n')::int`,
      );
      return rows[0].c === keys;
    };
    while (!(await done())) await sleep(100);
    await sleep(4_000); // let the fair share settle (members announce, extras are handed back)
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < keys; i = next++)
          await backend.patch(
            Widget,
            { namespace: "shop", name: `w${i}` },
            {
              type: "merge",
              patch: { spec: { n: -i - 1 } },
            },
          );
      }),
    );
    while (!(await done())) await sleep(20);
    return (keys / (performance.now() - started)) * 1000;
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await backend.close();
    await db.end();
  }
}

export async function replicaBenchmarks(): Promise<void> {
  const server = await startTestPostgres();
  try {
    const times = await failover(server.url);
    table(
      "Failover on PostgreSQL: 20 leader kills (SIGKILL), until another replica holds the Lease (lease 3 s, retry 0.5 s)",
      ["p50", "p99", "max"],
      [
        [
          `${percentile(times, 50).toFixed(0)} ms`,
          `${percentile(times, 99).toFixed(0)} ms`,
          `${times.at(-1)!.toFixed(0)} ms`,
        ],
      ],
    );
    const rows: string[][] = [];
    let one = 0;
    for (const replicas of [1, 2, 3]) {
      const rate = await shardedThroughput(server.url, replicas);
      if (replicas === 1) one = rate;
      rows.push([
        String(replicas),
        `${Math.round(rate).toLocaleString("en-US")}/s`,
        `${(rate / one).toFixed(2)}×`,
      ]);
    }
    table(
      "Sharded reconciles on PostgreSQL: 3,000 changed keys, 12 shards (each reconcile logs itself and writes status)",
      ["replicas", "reconciles/s", "÷ one replica"],
      rows,
    );
  } finally {
    await server.stop();
  }
}
