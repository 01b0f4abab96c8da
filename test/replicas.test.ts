/**
 * Real processes on PostgreSQL: three leader-elected replicas of one controller. The leader is
 * killed with SIGKILL mid-reconcile, or frozen with SIGSTOP past its lease and thawed; a
 * reconcile log written to PostgreSQL by every reconcile, and the store's own change log, show
 * what happened.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";

/** Every child process a test started, killed after the file so that none outlives a timed-out test. */
const children = new Set<ChildProcess>();
const spawnTracked = ((...args: never[]) => {
  const child = (spawn as (...a: never[]) => ChildProcess)(...args);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}) as typeof spawn;
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

import { connectPostgres } from "../src/postgres/index.js";
import { eventually, untilReached } from "../src/testing/eventually.js";
import { startTestPostgres } from "../src/testing/postgres.js";
import { createWidgets, reconcileLogSql, Widget } from "./fixtures/replica-kinds.js";

const url = inject("postgresUrl");
const replicaScript = fileURLToPath(new URL("./fixtures/replica.ts", import.meta.url));
const timing = { leaseDurationMs: 3_000, retryPeriodMs: 500 };

async function startReplicas(
  schema: string,
  count: number,
  reconcileMs: number,
  mode: "leader" | "shards" = "leader",
  server: string = url,
) {
  const replicas = new Map<string, ChildProcess>();
  for (let i = 0; i < count; i++) {
    const identity = `replica-${i}`;
    const child = spawnTracked(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        replicaScript,
        server,
        schema,
        identity,
        String(reconcileMs),
        mode,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    replicas.set(identity, child);
  }
  await Promise.all(
    [...replicas.values()].map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.stdout!.once("data", () => resolve());
          child.once("exit", (code) => reject(new Error(`a replica exited with ${code}`)));
        }),
    ),
  );
  return replicas;
}

async function leaderOf(db: pg.Client, schema: string): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT object->'spec'->>'holderIdentity' AS holder FROM "${schema}".objects WHERE kind = 'coordination.k8s.io/Lease'`,
  );
  return rows[0]?.holder || undefined;
}

/** The leader, once it holds the Lease and one of its reconciles has started and not ended. */
async function leaderMidReconcile(db: pg.Client, schema: string): Promise<string> {
  const leader = await eventually(
    async () => {
      const holder = await leaderOf(db, schema);
      expect(holder).toBeDefined();
      return holder!;
    },
    { timeoutMs: 15_000 },
  );
  await eventually(
    async () => {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM "${schema}".reconciles WHERE replica = $1 AND ended IS NULL`,
        [leader],
      );
      expect(rows[0].n).toBeGreaterThan(0);
    },
    { timeoutMs: 15_000 },
  );
  return leader;
}

/** Reconciles of one key by different replicas whose times overlap. */
async function overlaps(db: pg.Client, schema: string, deadAt: Map<string, Date>) {
  const { rows } = await db.query(
    `SELECT key, replica, started, ended FROM "${schema}".reconciles ORDER BY key, started`,
  );
  const byKey = new Map<string, { replica: string; started: number; ended: number }[]>();
  for (const row of rows as { key: string; replica: string; started: Date; ended: Date | null }[]) {
    // A reconcile of a killed replica ended, at the latest, when the replica died.
    const ended = row.ended ?? deadAt.get(row.replica) ?? new Date(8.64e15);
    const list = byKey.get(row.key) ?? [];
    list.push({ replica: row.replica, started: row.started.getTime(), ended: ended.getTime() });
    byKey.set(row.key, list);
  }
  const found: string[] = [];
  for (const [key, list] of byKey)
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++)
        if (
          list[i]!.replica !== list[j]!.replica &&
          list[i]!.started < list[j]!.ended &&
          list[j]!.started < list[i]!.ended
        )
          found.push(`${key}: ${list[i]!.replica} and ${list[j]!.replica}`);
  return found;
}

describe.skipIf(!url)("three leader-elected replicas on PostgreSQL", () => {
  it("survive a kill -9 of the leader mid-reconcile: a standby takes over in time, no key is reconciled twice at once, none is lost", async () => {
    const schema = `r_${randomBytes(5).toString("hex")}`;
    const backend = await connectPostgres({ postgres: url, schema });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(reconcileLogSql(schema));
    const replicas = await startReplicas(schema, 3, 300);
    const deadAt = new Map<string, Date>();
    try {
      for (let i = 0; i < 20; i++)
        await backend.create(Widget, {
          metadata: { name: `w${i}`, namespace: "shop" },
          spec: { n: i },
        });
      const leader = await leaderMidReconcile(db, schema);
      replicas.get(leader)!.kill("SIGKILL");
      const killedAt = new Date((await db.query("SELECT clock_timestamp() AS t")).rows[0].t);
      deadAt.set(leader, killedAt);
      // More work arrives while there is no leader.
      for (let i = 20; i < 30; i++)
        await backend.create(Widget, {
          metadata: { name: `w${i}`, namespace: "shop" },
          spec: { n: i },
        });

      const { rows: firstByNew } = await eventually(
        async () => {
          const result = await db.query(
            `SELECT replica, min(started) AS started FROM "${schema}".reconciles WHERE replica <> $1 GROUP BY replica`,
            [leader],
          );
          expect(result.rows.length).toBeGreaterThan(0);
          return result;
        },
        { timeoutMs: 20_000 },
      );
      const takeoverMs =
        Math.min(...firstByNew.map((r: { started: Date }) => r.started.getTime())) -
        killedAt.getTime();
      expect(takeoverMs).toBeLessThanOrEqual(
        timing.leaseDurationMs + 2 * timing.retryPeriodMs * 1.2 + 1_000,
      );

      // Nothing lost: every Widget ends up reconciled, by a live replica, at its latest spec.
      await eventually(
        async () => {
          const { items } = await backend.list(Widget);
          expect(items).toHaveLength(30);
          for (const item of items) expect(item.status?.seen).toBe(item.spec.n);
        },
        { timeoutMs: 30_000 },
      );
      expect(await overlaps(db, schema, deadAt)).toEqual([]);
    } finally {
      for (const child of replicas.values()) child.kill("SIGKILL");
      await backend.close();
      await db.query(`DROP SCHEMA "${schema}" CASCADE`);
      await db.end();
    }
  }, 90_000);

  it("fence off a leader frozen past its lease: after SIGCONT none of its writes lands after the new leader's first", async () => {
    const schema = `r_${randomBytes(5).toString("hex")}`;
    const backend = await connectPostgres({ postgres: url, schema });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(reconcileLogSql(schema));
    const replicas = await startReplicas(schema, 3, 1_500);
    try {
      for (let i = 0; i < 12; i++)
        await backend.create(Widget, {
          metadata: { name: `w${i}`, namespace: "shop" },
          spec: { n: i },
        });
      const leader = await leaderMidReconcile(db, schema);
      const frozen = replicas.get(leader)!;
      frozen.kill("SIGSTOP");
      // Past its lease: another replica leads and writes.
      const successor = await eventually(
        async () => {
          const holder = await leaderOf(db, schema);
          expect(holder).toBeDefined();
          expect(holder).not.toBe(leader);
          const { rows } = await db.query(
            `SELECT count(*)::int AS n FROM "${schema}".reconciles WHERE replica = $1 AND outcome = 'ok'`,
            [holder],
          );
          expect(rows[0].n).toBeGreaterThan(0);
          return holder!;
        },
        { timeoutMs: 20_000 },
      );
      frozen.kill("SIGCONT");
      // The thawed leader finishes what it was doing: its writes are refused.
      await eventually(
        async () => {
          const { rows } = await db.query(
            `SELECT count(*)::int AS n FROM "${schema}".reconciles WHERE replica = $1 AND outcome = 'fenced'`,
            [leader],
          );
          expect(rows[0].n).toBeGreaterThan(0);
        },
        { timeoutMs: 15_000 },
      );
      // The store's own history, in commit order: after the successor's first status write,
      // nothing written by the old leader.
      const { rows: writes } = await db.query(
        `SELECT revision, object->'status'->>'by' AS by FROM "${schema}".changes
            WHERE kind = 'example.setpoint.dev/Widget' AND object->'status'->>'by' IS NOT NULL ORDER BY revision`,
      );
      const firstOfSuccessor = writes.findIndex((w: { by: string }) => w.by === successor);
      expect(firstOfSuccessor).toBeGreaterThanOrEqual(0);
      expect(writes.slice(firstOfSuccessor).filter((w: { by: string }) => w.by === leader)).toEqual(
        [],
      );
    } finally {
      for (const child of replicas.values()) {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }
      await backend.close();
      await db.query(`DROP SCHEMA "${schema}" CASCADE`);
      await db.end();
    }
  }, 90_000);
});

describe.skipIf(!url)("three sharded replicas on PostgreSQL", () => {
  it("share 10,000 keys about a third each; a killed replica's shards move within the lease duration; no overlap, nothing lost", async () => {
    const schema = `r_${randomBytes(5).toString("hex")}`;
    const backend = await connectPostgres({ postgres: url, schema });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(reconcileLogSql(schema));
    const keys = 10_000;
    await createWidgets(backend, keys);
    const replicas = await startReplicas(schema, 3, 0, "shards");
    const deadAt = new Map<string, Date>();
    const holders = async () => {
      const { rows } = await db.query(
        `SELECT object->'spec'->>'holderIdentity' AS holder, count(*)::int AS n FROM "${schema}".objects
            WHERE kind = 'coordination.k8s.io/Lease' AND name LIKE 'widgets-shard-%'
              AND coalesce(object->'spec'->>'holderIdentity', '') <> ''
            GROUP BY 1 ORDER BY 1`,
      );
      return Object.fromEntries(rows.map((r: { holder: string; n: number }) => [r.holder, r.n]));
    };
    try {
      // About a third each: 12 shards, 4 apiece.
      await eventually(
        async () =>
          expect(await holders()).toEqual({ "replica-0": 4, "replica-1": 4, "replica-2": 4 }),
        { timeoutMs: 30_000 },
      );
      const reconciled = async () => {
        const { items } = await backend.list(Widget);
        return items.filter((item) => item.status?.seen === item.spec.n);
      };
      // Bounded by progress: on a busy machine the replicas are slower, not stuck.
      await untilReached(async () => (await reconciled()).length, keys, {
        what: "reconciled keys",
        intervalMs: 500,
      });
      const byReplica = await db.query(
        `SELECT replica, count(DISTINCT key)::int AS n FROM "${schema}".reconciles GROUP BY 1`,
      );
      for (const row of byReplica.rows as { n: number }[])
        expect(Math.abs(row.n - keys / 3)).toBeLessThan(keys / 6);

      replicas.get("replica-2")!.kill("SIGKILL");
      const killed = Date.now();
      deadAt.set(
        "replica-2",
        new Date((await db.query("SELECT clock_timestamp() AS t")).rows[0].t),
      );
      await eventually(
        async () => expect(await holders()).toEqual({ "replica-0": 6, "replica-1": 6 }),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const movedMs = Date.now() - killed;
      // The lease duration, plus the rounds that notice it: a couple of retry periods.
      expect(movedMs).toBeLessThanOrEqual(
        timing.leaseDurationMs + 4 * timing.retryPeriodMs + 1_000,
      );
      // Work after the kill reaches every key, including the dead replica's.
      await backend.patch(
        Widget,
        { namespace: "shop", name: "w1" },
        { type: "merge", patch: { spec: { n: -1 } } },
      );
      await untilReached(async () => (await reconciled()).length, keys, {
        what: "reconciled keys after the kill",
        intervalMs: 500,
      });
      expect(await overlaps(db, schema, deadAt)).toEqual([]);
    } finally {
      for (const child of replicas.values()) child.kill("SIGKILL");
      await backend.close();
      await db.query(`DROP SCHEMA "${schema}" CASCADE`);
      await db.end();
    }
  }, 600_000);
});

describe.skipIf(!url)("a replica on PostgreSQL when the server restarts", () => {
  it("reconnects and misses no change made before, during the outage's edges, or after", async () => {
    // A server of its own: the shared one serves other tests meanwhile.
    const server = await startTestPostgres();
    const schema = "restart";
    const backend = await connectPostgres({ postgres: server.url, schema });
    const db = new pg.Client({ connectionString: server.url });
    await db.connect();
    await db.query(reconcileLogSql(schema));
    await db.end();
    const replicas = await startReplicas(schema, 1, 0, "leader", server.url);
    const all = async () => (await backend.list(Widget)).items;
    const done = (items: Awaited<ReturnType<typeof all>>) =>
      items.filter((item) => item.status?.seen === item.spec.n).length;
    try {
      for (let i = 0; i < 10; i++)
        await backend.create(Widget, {
          metadata: { name: `w${i}`, namespace: "shop" },
          spec: { n: i },
        });
      await eventually(async () => expect(done(await all())).toBe(10), { timeoutMs: 20_000 });

      await server.stopServer();
      await server.startServer();
      // Changes right after the restart, while the replica is still reconnecting.
      await eventually(
        () =>
          backend.create(Widget, {
            metadata: { name: "after", namespace: "shop" },
            spec: { n: 100 },
          }),
        { timeoutMs: 10_000 },
      );
      for (let i = 0; i < 10; i++)
        await backend.patch(
          Widget,
          { namespace: "shop", name: `w${i}` },
          {
            type: "merge",
            patch: { spec: { n: i + 1_000 } },
          },
        );
      await eventually(async () => expect(done(await all())).toBe(11), { timeoutMs: 30_000 });
    } finally {
      for (const child of replicas.values()) child.kill("SIGKILL");
      await backend.close();
      await server.stop();
    }
  }, 90_000);
});
