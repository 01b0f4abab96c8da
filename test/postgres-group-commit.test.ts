/**
 * The PostgreSQL backend's group commit (`src/postgres/postgres-batch.ts`), on a real
 * PostgreSQL 15: concurrent writes share transactions, keep every guarantee a write alone has,
 * and fail alone. Which writes shared a transaction is read from PostgreSQL itself: rows one
 * transaction inserted carry its id (`xmin`).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { Lease } from "../src/coordination/lease.js";
import { ApiError, defineKind, type StoredObject } from "../src/index.js";
import { connectPostgres, type PostgresBackend } from "../src/postgres/index.js";
import { withDeadline } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

const url = inject("postgresUrl");

const Free = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Free",
  scope: "Namespaced",
  spec: z.looseObject({}),
});

const widget = (name: string, replicas = 1, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: "shop", ...extra },
  spec: { replicas },
});
const key = (name: string) => ({ namespace: "shop", name });

/** Settles every promise; the results, or the errors as ApiErrors. */
function settle<T>(promises: Promise<T>[]): Promise<(T | ApiError)[]> {
  return Promise.all(
    promises.map((promise) =>
      promise.catch((error: unknown) => {
        if (error instanceof ApiError) return error;
        throw error;
      }),
    ),
  );
}

describe.skipIf(!url)("the PostgreSQL backend's group commit", () => {
  let sql: pg.Client;
  let schema: string;
  let backend: PostgresBackend;

  beforeAll(async () => {
    sql = new pg.Client({ connectionString: url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql.end();
  });

  async function fresh(): Promise<PostgresBackend> {
    schema = `g_${randomBytes(6).toString("hex")}`;
    backend = await connectPostgres({ postgres: url, schema, pollIntervalMs: 200 });
    return backend;
  }
  async function cleanup(): Promise<void> {
    await backend.close();
    await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }

  /** The change log: each change's revision and the id of the transaction that wrote it. */
  async function changeLog(after = 0): Promise<{ revision: number; transaction: string }[]> {
    const { rows } = await sql.query(
      `SELECT revision, xmin::text AS transaction FROM "${schema}".changes WHERE revision > $1 ORDER BY revision`,
      [after],
    );
    return rows.map((row) => ({ revision: Number(row.revision), transaction: row.transaction }));
  }

  it("commits concurrent writes in shared transactions, at consecutive revisions, all seen by a watch in order", async () => {
    await fresh();
    try {
      const start = await backend.currentRevision();
      const watch = backend.watch(Widget, { resourceVersion: String(start) });
      const written = await Promise.all(
        Array.from({ length: 100 }, (_, i) => backend.create(Widget, widget(`w${i}`))),
      );
      const revisions = written.map((object) => Number(object.metadata.resourceVersion));
      expect([...revisions].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 100 }, (_, i) => start + 1 + i),
      );
      const log = await changeLog(start);
      expect(log.map((change) => change.revision)).toEqual(revisions.sort((a, b) => a - b));
      // 100 writes, a handful of transactions (one alone would be a transaction per write).
      expect(new Set(log.map((change) => change.transaction)).size).toBeLessThanOrEqual(5);
      const seen: number[] = [];
      while (seen.length < 100) {
        const next = await withDeadline(watch.next(), 10_000, "the next event");
        const event = next.value as { type: string; object: StoredObject };
        if (event.type !== "BOOKMARK") seen.push(Number(event.object.metadata.resourceVersion));
      }
      expect(seen).toEqual(revisions);
      watch.close();
    } finally {
      await cleanup();
    }
  });

  it("fails a write of a batch alone — a conflict, an object PostgreSQL cannot hold, a lost fence — and hands its revision to the next write", async () => {
    await fresh();
    try {
      const taken = await backend.create(Widget, widget("taken"));
      await backend.update(Widget, { ...taken, spec: { replicas: 2 } });
      await backend.create(Lease, {
        metadata: { name: "leader", namespace: "shop" },
        spec: { holderIdentity: "b", leaseTransitions: 4 },
      });
      const start = await backend.currentRevision();
      const staleFence = { lease: key("leader"), holder: "a", transitions: 3 };
      const results = await settle<StoredObject>([
        backend.create(Widget, widget("good-1")),
        backend.create(Widget, widget("taken")),
        backend.create(Widget, widget("good-2")),
        backend.update(Widget, { ...taken, spec: { replicas: 3 } }),
        backend.create(Free, {
          metadata: { name: "nul", namespace: "shop" },
          spec: { v: "\u0000" },
        }),
        backend.create(Widget, widget("good-3")),
        backend.create(Widget, widget("fenced"), { fence: staleFence }),
        backend.create(Widget, widget("good-4")),
      ]);
      expect(results.map((result) => (result instanceof ApiError ? result.reason : "ok"))).toEqual([
        "ok",
        "AlreadyExists",
        "ok",
        "Conflict",
        "Invalid",
        "ok",
        "Conflict",
        "ok",
      ]);
      expect((results[6] as ApiError).message).toContain("fenced");
      // The failed writes left nothing: four changes, at the next four revisions, in one or two
      // transactions.
      const log = await changeLog(start);
      expect(log.map((change) => change.revision)).toEqual([
        start + 1,
        start + 2,
        start + 3,
        start + 4,
      ]);
      expect(new Set(log.map((change) => change.transaction)).size).toBeLessThanOrEqual(2);
      expect((await backend.get(Widget, key("taken"))).spec).toEqual({ replicas: 2 });
      const names = (await backend.list(Widget)).items.map((object) => object.metadata.name);
      expect(names.sort()).toEqual(["good-1", "good-2", "good-3", "good-4", "taken"]);
    } finally {
      await cleanup();
    }
  });

  it("lets each write of a batch see the writes before it: updates, re-creates, generated names, fences and owners", async () => {
    await fresh();
    try {
      const gone = await backend.create(Widget, widget("recreated"));
      const lease = await backend.create(Lease, {
        metadata: { name: "leader", namespace: "shop" },
        spec: { holderIdentity: "a", leaseTransitions: 3 },
      });
      const owner = await backend.create(Widget, widget("owner"));
      const ownedBy = (object: StoredObject) => ({
        ownerReferences: [
          {
            apiVersion: Widget.apiVersion,
            kind: "Widget",
            name: object.metadata.name,
            uid: object.metadata.uid,
          },
        ],
      });
      const fence = { lease: key("leader"), holder: "a", transitions: 3 };
      const start = await backend.currentRevision();
      const results = await settle<StoredObject>([
        backend.create(Widget, widget("a", 1)),
        backend.delete(Widget, key("a")),
        backend.delete(Widget, key("recreated")),
        backend.create(Widget, widget("recreated", 5)),
        ...Array.from({ length: 10 }, () =>
          backend.create(Widget, {
            metadata: { generateName: "gen-", namespace: "shop" },
            spec: { replicas: 1 },
          }),
        ),
        // A child of an owner deleted before it in the batch is collected at once; a child of
        // an owner created before it stays.
        backend.delete(Widget, key("owner")),
        backend.create(Widget, widget("orphan", 1, ownedBy(owner))),
        backend.create(Widget, widget("new-owner")),
        backend.create(Widget, widget("third-owner")),
        // The Lease changes hands before the fenced write: the write is refused.
        backend.update(Lease, { ...lease, spec: { holderIdentity: "b", leaseTransitions: 4 } }),
        backend.create(Widget, widget("late"), { fence }),
      ]);
      const failed = results.filter((result) => result instanceof ApiError) as ApiError[];
      expect(failed.map((error) => error.message)).toEqual([
        expect.stringContaining("fenced: the write belongs to a's term 3"),
      ]);
      // The delete found the object created before it in the batch.
      expect((results[1] as StoredObject).metadata.uid).toBe(
        (results[0] as StoredObject).metadata.uid,
      );
      await expect(backend.get(Widget, key("a"))).rejects.toMatchObject({ reason: "NotFound" });
      const recreated = await backend.get(Widget, key("recreated"));
      expect(recreated.spec).toEqual({ replicas: 5 });
      expect(recreated.metadata.uid).not.toBe(gone.metadata.uid);
      const generated = (results.slice(4, 14) as StoredObject[]).map((o) => o.metadata.name);
      expect(new Set(generated).size).toBe(10);
      await expect(backend.get(Widget, key("orphan"))).rejects.toMatchObject({
        reason: "NotFound",
      });
      const newOwner = await backend.get(Widget, key("new-owner"));
      const thirdOwner = await backend.get(Widget, key("third-owner"));
      // Another batch: a child of an owner that stays, and a child whose owner goes after it.
      const [child, doomed] = await Promise.all([
        backend.create(Widget, widget("child", 1, ownedBy(newOwner))),
        backend.create(Widget, widget("doomed", 1, ownedBy(thirdOwner))),
        backend.delete(Widget, key("third-owner")),
      ]);
      expect(await backend.get(Widget, key("child"))).toEqual(child);
      expect(doomed!.metadata.name).toBe("doomed");
      await expect(backend.get(Widget, key("doomed"))).rejects.toMatchObject({
        reason: "NotFound",
      });
      // Every change is in the log at consecutive revisions, with no gap a failed write left.
      const revisions = (await changeLog(start)).map((change) => change.revision);
      expect(revisions).toEqual(revisions.map((_, i) => start + 1 + i));
    } finally {
      await cleanup();
    }
  });

  it("runs each write of a batch that failed in the database again alone, so that only the write at fault fails", async () => {
    await fresh();
    try {
      await sql.query(`
        CREATE FUNCTION "${schema}".refuse_poison() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'poison refused (test)'; END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON "${schema}".objects
          FOR EACH ROW WHEN (NEW.name = 'poison') EXECUTE FUNCTION "${schema}".refuse_poison();`);
      const start = await backend.currentRevision();
      const results = await settle<StoredObject>([
        ...Array.from({ length: 5 }, (_, i) => backend.create(Widget, widget(`before-${i}`))),
        backend.create(Widget, widget("poison")),
        ...Array.from({ length: 5 }, (_, i) => backend.create(Widget, widget(`after-${i}`))),
      ]);
      const failed = results.filter((result) => result instanceof ApiError) as ApiError[];
      expect(failed).toHaveLength(1);
      expect(failed[0]!.reason).toBe("InternalError");
      expect(failed[0]!.message).toContain("poison refused (test)");
      expect((await backend.list(Widget)).items).toHaveLength(10);
      const revisions = (await changeLog(start)).map((change) => change.revision);
      expect(revisions).toEqual(revisions.map((_, i) => start + 1 + i));
    } finally {
      await cleanup();
    }
  });

  it("keeps revision order = commit order across processes writing at once: a watch sees every write once, in order", async () => {
    await fresh();
    const other = await connectPostgres({ postgres: url, schema, pollIntervalMs: 200 });
    try {
      const start = await backend.currentRevision();
      const watch = backend.watch(Widget, { resourceVersion: String(start) });
      const written = await Promise.all(
        [backend, other].flatMap((store, s) =>
          Array.from({ length: 150 }, (_, i) => store.create(Widget, widget(`s${s}-${i}`))),
        ),
      );
      const seen: string[] = [];
      let last = start;
      while (seen.length < written.length) {
        const next = await withDeadline(watch.next(), 10_000, "the next event");
        const event = next.value as { type: string; object: StoredObject };
        if (event.type === "BOOKMARK") continue;
        const revision = Number(event.object.metadata.resourceVersion);
        expect(revision).toBeGreaterThan(last);
        last = revision;
        seen.push(event.object.metadata.name);
      }
      expect(new Set(seen).size).toBe(300);
      expect(last).toBe(start + 300);
      watch.close();
    } finally {
      await other.close();
      await cleanup();
    }
  });
});
