/**
 * Replicas on PostgreSQL, as real processes (test/fixtures/replica.ts), on a throwaway server:
 * - failover: three leader-elected replicas, the leader killed with SIGKILL 20 times (a fresh
 *   replica replaces each one killed); time from the kill until another replica holds the Lease;
 * - sharded reconcile throughput: 1, 2 and 3 replicas sharing 12 shards; reconciles/s of 3,000
 *   changed keys (each reconcile writes status; in a second table it first awaits 20 ms of
 *   simulated I/O), with each replica's and PostgreSQL's CPU over the pass (from /proc: where the
 *   time goes), from the first change to the last status written, as a watch sees it.
 * Lease 3 s, renew deadline 2 s, retry 0.5 s, as in the tests.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
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
  reconcileMs = 0,
  logged = true,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      "--conditions=source",
      "--import",
      "tsx",
      script,
      url,
      schema,
      identity,
      String(reconcileMs),
      mode,
      ...(logged ? [] : ["unlogged"]),
    ],
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

/** CPU seconds (user + system) the processes `pids` have used, from /proc (Linux). */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / 100;
}

/** The processes of the user PostgreSQL runs as (the benchmark's throwaway server). */
function postgresPids(): number[] {
  try {
    return execFileSync("ps", ["-u", "postgres", "-o", "pid="], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map(Number);
  } catch {
    return [];
  }
}

interface Throughput {
  readonly rate: number;
  /** CPU seconds of each replica, and of PostgreSQL, over the measured pass. */
  readonly replicaCpu: readonly number[];
  readonly postgresCpu: number;
  readonly seconds: number;
}

async function shardedThroughput(
  url: string,
  replicas: number,
  reconcileMs = 0,
): Promise<Throughput> {
  const schema = `sharded_${replicas}_${reconcileMs}`;
  const { backend, db } = await prepare(url, schema);
  const keys = 3_000;
  const children: ChildProcess[] = [];
  try {
    await createWidgets(backend, keys);
    for (let r = 0; r < replicas; r++)
      children.push(await replica(url, schema, `replica-${r}`, "shards", reconcileMs, false));
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
    const pids = children.map((child) => child.pid!);
    const replicaCpuBefore = pids.map((pid) => cpuSeconds([pid]));
    const postgresBefore = cpuSeconds(postgresPids());
    // The pass ends when every key's status has seen its new spec, as a watch tells (not a scan
    // of the table: that would be PostgreSQL's CPU too).
    const watch = backend.watch(Widget, {
      resourceVersion: String(await backend.currentRevision()),
    });
    const caughtUp = (async () => {
      const seen = new Set<string>();
      for await (const event of watch) {
        if (event.type === "BOOKMARK" || event.type === "DELETED") continue;
        const { spec, status, metadata } = event.object as unknown as {
          spec: { n: number };
          status?: { seen?: number };
          metadata: { name: string };
        };
        if (spec.n < 0 && status?.seen === spec.n) seen.add(metadata.name);
        if (seen.size === keys) return;
      }
    })();
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
    await caughtUp;
    watch.close();
    const seconds = (performance.now() - started) / 1000;
    return {
      rate: keys / seconds,
      replicaCpu: pids.map((pid, i) => cpuSeconds([pid]) - replicaCpuBefore[i]!),
      postgresCpu: cpuSeconds(postgresPids()) - postgresBefore,
      seconds,
    };
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
    for (const reconcileMs of [0, 20]) {
      const rows: string[][] = [];
      let one = 0;
      for (const replicas of [1, 2, 3]) {
        const run = await shardedThroughput(server.url, replicas, reconcileMs);
        if (replicas === 1) one = run.rate;
        // Where the time goes: each replica's CPU and PostgreSQL's, as a share of the pass.
        const share = (cpu: number) => `${Math.round((100 * cpu) / run.seconds)}%`;
        rows.push([
          String(replicas),
          `${Math.round(run.rate).toLocaleString("en-US")}/s`,
          `${(run.rate / one).toFixed(2)}×`,
          run.replicaCpu.map(share).join(" + "),
          share(run.postgresCpu),
        ]);
      }
      table(
        `Sharded reconciles on PostgreSQL: 3,000 changed keys, 12 shards, concurrency 16 per replica; each reconcile ${reconcileMs === 0 ? "writes status" : `awaits ${reconcileMs} ms of I/O, writes status`} (2 cores: CPU shares are of one core)`,
        ["replicas", "reconciles/s", "÷ one replica", "CPU of each replica", "PostgreSQL's CPU"],
        rows,
      );
    }
  } finally {
    await server.stop();
  }
}
