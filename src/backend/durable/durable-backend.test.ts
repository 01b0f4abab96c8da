import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind } from "../../model/kind.js";
import { runBackendConformance } from "../../testing/conformance.js";
import { DurableBackend } from "./durable-backend.js";

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-durable-"));
  dirs.push(dir);
  return dir;
}

runBackendConformance("durable (SQLite)", () => new DurableBackend({ dataDir: freshDir() }), {
  compact: (backend) => (backend as DurableBackend).compact(),
  cleanup: () => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
});

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
});
const Owner = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Owner",
  scope: "Cluster",
  spec: z.object({}),
});

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
