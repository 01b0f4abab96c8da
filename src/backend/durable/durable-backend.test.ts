import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError } from "../../model/api-error.js";
import { defineKind } from "../../model/kind.js";
import { runBackendConformance } from "../../testing/conformance.js";
import { ExampleWidget as Widget } from "../../testing/fixtures.js";
import { DurableBackend } from "./durable-backend.js";

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-durable-"));
  dirs.push(dir);
  return dir;
}

runBackendConformance("durable (SQLite)", () => new DurableBackend({ dataDir: freshDir() }), {
  compact: (backend) => (backend as DurableBackend).compact(),
  failCommits: async (backend) => {
    (backend as DurableBackend).fillDisk();
    // Nothing to undo: the store refuses every call until it is reopened.
    return () => {};
  },
  cleanup: () => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
});

const Owner = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Owner",
  scope: "Cluster",
  spec: z.object({}),
});
/** Validated a turn of the event loop later, as a remote check would be. */
const slowSpec: StandardSchemaV1<{ replicas: number; blob?: string }> = {
  "~standard": {
    version: 1,
    vendor: "setpoint-test",
    validate: async (value) => {
      await new Promise((resolve) => setImmediate(resolve));
      return { value: value as { replicas: number; blob?: string } };
    },
  },
};
const Slow = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Slow",
  scope: "Namespaced",
  spec: slowSpec,
});

async function failure(promise: Promise<unknown>): Promise<ApiError | "resolved"> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
}

describe("the durable store", () => {
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every acknowledged write across a reopen, with the revision going on from where it was", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    const a = await first.create(Widget, {
      metadata: { name: "a", namespace: "shop" },
      spec: { replicas: 1 },
    });
    await first.create(Widget, {
      metadata: { name: "b", namespace: "shop" },
      spec: { replicas: 2 },
    });
    const updated = await first.update(Widget, { ...a, spec: { replicas: 5 } });
    await first.delete(Widget, { namespace: "shop", name: "b" });
    const revision = first.revision;
    await first.close();

    const second = new DurableBackend({ dataDir });
    expect(second.revision).toBe(revision);
    expect(await second.get(Widget, { namespace: "shop", name: "a" })).toEqual(updated);
    const list = await second.list(Widget);
    expect(list.items.map((o) => o.metadata.name)).toEqual(["a"]);
    expect(Object.isFrozen(list.items[0]!.spec)).toBe(true);
    const next = await second.create(Widget, {
      metadata: { name: "c", namespace: "shop" },
      spec: { replicas: 0 },
    });
    expect(Number(next.metadata.resourceVersion)).toBe(revision + 1);
    await second.close();
  });

  it("answers a watch resuming from before a reopen with Expired, so informers relist", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    const created = await first.create(Widget, {
      metadata: { name: "a", namespace: "shop" },
      spec: { replicas: 1 },
    });
    await first.close();
    const second = new DurableBackend({ dataDir });
    const watch = second.watch(Widget, {
      resourceVersion: String(Number(created.metadata.resourceVersion) - 1),
    });
    await expect(watch.next()).rejects.toMatchObject({ reason: "Expired" });
    // A kind the store holds no object of is no different: its history is gone too.
    const owners = second.watch(Owner, { resourceVersion: "1" });
    await expect(owners.next()).rejects.toMatchObject({ reason: "Expired" });
    await second.close();
  });

  it("collects the dependents of an owner deleted after a reopen, before the owner's kind is used again", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    const owner = await first.create(Owner, { metadata: { name: "o" }, spec: {} });
    await first.create(Widget, {
      metadata: {
        name: "child",
        namespace: "shop",
        ownerReferences: [
          {
            apiVersion: Owner.apiVersion,
            kind: "Owner",
            name: "o",
            uid: owner.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: { replicas: 1 },
    });
    await first.close();
    const second = new DurableBackend({ dataDir });
    await second.delete(Owner, { name: "o" });
    await expect(second.get(Widget, { namespace: "shop", name: "child" })).rejects.toMatchObject({
      reason: "NotFound",
    });
    await second.close();
    const third = new DurableBackend({ dataDir });
    expect((await third.list(Widget)).items).toEqual([]);
    await third.close();
  });

  it("collects a dependent naming an owner deleted before a reopen, though no object of the owner's kind is left", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    const owner = await first.create(Owner, { metadata: { name: "o" }, spec: {} });
    await first.delete(Owner, { name: "o" });
    await first.close();
    // The owner's kind is known to the store though it holds none of its objects, and this
    // process has not used it: the owner is gone, not of an unknown kind.
    const second = new DurableBackend({ dataDir });
    await second.create(Widget, {
      metadata: {
        name: "late",
        namespace: "shop",
        ownerReferences: [
          { apiVersion: Owner.apiVersion, kind: "Owner", name: "o", uid: owner.metadata.uid },
        ],
      },
      spec: { replicas: 1 },
    });
    await expect(second.get(Widget, { namespace: "shop", name: "late" })).rejects.toMatchObject({
      reason: "NotFound",
    });
    await second.close();
  });

  it("answers a write it could not make durable (disk full) with 503, refuses every call until reopened, and reopens with what was acknowledged", async () => {
    const dataDir = freshDir();
    const backend = new DurableBackend({ dataDir });
    const kept = await backend.create(Widget, {
      metadata: { name: "kept", namespace: "shop" },
      spec: { replicas: 1 },
    });
    const watch = backend.watch(Widget, { resourceVersion: kept.metadata.resourceVersion });
    backend.fillDisk();
    const doomed = await failure(
      backend.create(Slow, {
        metadata: { name: "doomed", namespace: "shop" },
        spec: { replicas: 1, blob: "d".repeat(256 * 1024) },
      }),
    );
    expect(doomed).toMatchObject({ reason: "ServiceUnavailable", code: 503 });
    expect((doomed as ApiError).message).toMatch(
      /could not be made durable: database or disk is full/,
    );
    for (const call of [
      backend.get(Slow, { namespace: "shop", name: "doomed" }),
      backend.get(Widget, { namespace: "shop", name: "kept" }),
      backend.list(Widget),
      backend.create(Widget, {
        metadata: { name: "more", namespace: "shop" },
        spec: { replicas: 1 },
      }),
    ])
      expect(await failure(call)).toMatchObject({ reason: "ServiceUnavailable" });
    await expect(watch.next()).rejects.toMatchObject({ reason: "ServiceUnavailable" });
    await expect(backend.watch(Owner).next()).rejects.toMatchObject({
      reason: "ServiceUnavailable",
    });
    await backend.close();

    const reopened = new DurableBackend({ dataDir });
    expect((await reopened.list(Widget)).items).toEqual([kept]);
    expect((await reopened.list(Slow)).items).toEqual([]);
    await reopened.create(Widget, {
      metadata: { name: "more", namespace: "shop" },
      spec: { replicas: 1 },
    });
    await reopened.close();
  });

  it("writes nothing more after a failed commit, not even a write validated meanwhile that builds on the lost change", async () => {
    const dataDir = freshDir();
    const backend = new DurableBackend({ dataDir });
    const first = await backend.create(Slow, {
      metadata: { name: "first", namespace: "shop" },
      spec: { replicas: 1 },
    });
    backend.fillDisk();
    // Made in memory a turn from now; its commit, a turn later, finds the disk full.
    const doomed = failure(
      backend.create(Slow, {
        metadata: { name: "doomed", namespace: "shop" },
        spec: { replicas: 1, blob: "d".repeat(256 * 1024) },
      }),
    );
    // An update of the doomed object, validated while its commit fails: small enough to fit.
    const update = new Promise<ApiError | "resolved">((resolve) =>
      setImmediate(() =>
        resolve(
          failure(
            backend.update(Slow, {
              metadata: {
                name: "doomed",
                namespace: "shop",
                resourceVersion: String(Number(first.metadata.resourceVersion) + 1),
              },
              spec: { replicas: 2 },
            }),
          ),
        ),
      ),
    );
    expect(await doomed).toMatchObject({ reason: "ServiceUnavailable" });
    expect(await update).toMatchObject({ reason: "ServiceUnavailable" });
    await backend.close();
    const reopened = new DurableBackend({ dataDir });
    expect((await reopened.list(Slow)).items.map((o) => o.metadata.name)).toEqual(["first"]);
    await reopened.close();
  });

  it("counts a reopened object's parts against the size limit when a write shares them", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    await first.create(Slow, {
      metadata: { name: "big", namespace: "shop" },
      spec: { replicas: 1, blob: "b".repeat(1.2 * 1024 * 1024) },
    });
    await first.close();
    const second = new DurableBackend({ dataDir });
    // 1.2 MiB of spec read from disk, 0.4 MiB of status: over 1.5 MiB together.
    const err = await failure(
      second.patch(
        Slow,
        { namespace: "shop", name: "big" },
        { type: "merge", patch: { status: { note: "s".repeat(0.4 * 1024 * 1024) } } },
        { subresource: "status" },
      ),
    );
    expect(err).toMatchObject({ reason: "Invalid" });
    await second.close();
  });

  it("groups concurrent writes into few transactions and acknowledges each once it is committed", async () => {
    const backend = new DurableBackend({ dataDir: freshDir() });
    const watch = backend.watch(Widget, {});
    const writes = Array.from({ length: 200 }, (_, i) =>
      backend.create(Widget, {
        metadata: { name: `w${i}`, namespace: "shop" },
        spec: { replicas: i },
      }),
    );
    // Not yet durable: nothing is delivered before the commit.
    expect(watch.poll?.()).toBeUndefined();
    const created = await Promise.all(writes);
    const first = await watch.next();
    expect(first.value).toMatchObject({ type: "ADDED", object: created[0] });
    await backend.close();
  });

  it("refuses a second opener of the same directory while the first holds it", async () => {
    const dataDir = freshDir();
    const first = new DurableBackend({ dataDir });
    await first.create(Widget, {
      metadata: { name: "a", namespace: "shop" },
      spec: { replicas: 1 },
    });
    expect(() => new DurableBackend({ dataDir })).toThrow(/in use by another process/);
    await first.close();
    const again = new DurableBackend({ dataDir });
    expect((await again.list(Widget)).items).toHaveLength(1);
    await again.close();
  });

  it("refuses a file that is not a store, and a store of a newer schema, with errors that say so", async () => {
    const corrupt = freshDir();
    writeFileSync(join(corrupt, "setpoint.db"), "this is not a database, just text ".repeat(200));
    expect(() => new DurableBackend({ dataDir: corrupt })).toThrow(/not a readable setpoint store/);

    const newer = freshDir();
    const store = new DurableBackend({ dataDir: newer });
    await store.close();
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(newer, "setpoint.db"));
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema'").run();
    db.close();
    expect(() => new DurableBackend({ dataDir: newer })).toThrow(
      /schema version 99, newer than this setpoint knows/,
    );
  });

  it("checks its options", () => {
    expect(() => new DurableBackend({ dataDir: "" })).toThrow("dataDir must name a directory");
    expect(
      () => new DurableBackend({ dataDir: freshDir(), durability: "sometimes" as "full" }),
    ).toThrow('durability must be "full" or "normal", not "sometimes"');
  });
});
