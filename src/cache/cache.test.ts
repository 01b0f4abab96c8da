import { describe, expect, it } from "vitest";
import type { StoredObject } from "../backend/backend.js";
import { type CacheChange, createCache } from "./cache.js";

function object(
  name: string,
  resourceVersion: string,
  extra: { labels?: Record<string, string>; owner?: string; image?: string } = {},
): StoredObject {
  return {
    apiVersion: "v1",
    kind: "Thing",
    metadata: {
      name,
      namespace: "ns",
      uid: `uid-${name}`,
      resourceVersion,
      generation: 1,
      creationTimestamp: "2026-01-01T00:00:00Z",
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.owner
        ? { ownerReferences: [{ apiVersion: "v1", kind: "Owner", name: "o", uid: extra.owner }] }
        : {}),
    },
    spec: { image: extra.image ?? "nginx" },
  };
}

describe("cache", () => {
  it("is ready after the first full list", async () => {
    const { reader, writer } = createCache();
    expect(reader.isReady).toBe(false);
    writer.replace([object("a", "1")]);
    await reader.ready();
    expect(reader.isReady).toBe(true);
    expect(reader.get("ns/a")?.metadata.resourceVersion).toBe("1");
    expect(reader.get({ namespace: "ns", name: "a" })).toBeDefined();
  });

  it("indexes by owner uid, by label and by custom indexers, and keeps them current", () => {
    const { reader, writer } = createCache<StoredObject>({
      indexers: { image: (o) => [String(o.spec.image)] },
    });
    writer.replace([
      object("a", "1", { owner: "o1", labels: { app: "shop" } }),
      object("b", "2", { owner: "o1", image: "redis" }),
    ]);
    expect(
      reader
        .byOwner("o1")
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(reader.byIndex("label", "app=shop").map((o) => o.metadata.name)).toEqual(["a"]);
    expect(reader.byIndex("image", "redis").map((o) => o.metadata.name)).toEqual(["b"]);
    writer.apply(object("a", "3", { labels: { app: "blog" } }));
    expect(reader.byOwner("o1").map((o) => o.metadata.name)).toEqual(["b"]);
    expect(reader.byIndex("label", "app=shop")).toEqual([]);
    writer.delete(object("b", "4"));
    expect(reader.byIndex("image", "redis")).toEqual([]);
    expect(() => reader.byIndex("nope", "x")).toThrow('no index named "nope"');
  });

  it("lists by namespace and label selector", () => {
    const { reader, writer } = createCache();
    writer.replace([object("a", "1", { labels: { app: "shop" } }), object("b", "2")]);
    expect(reader.list({ labelSelector: "app=shop" }).map((o) => o.metadata.name)).toEqual(["a"]);
    expect(reader.list({ namespace: "other" })).toEqual([]);
  });

  it("swaps a relist in atomically and reports what changed, deletes of vanished objects included", () => {
    const { reader, writer } = createCache();
    writer.replace([object("a", "1"), object("b", "2"), object("c", "3")]);
    const changes: CacheChange<StoredObject>[] = [];
    const sources: boolean[] = [];
    writer.subscribe((change, fromList) => {
      // Subscribers see the new state already in place.
      if (fromList) expect(reader.size).toBe(3);
      changes.push(change);
      sources.push(fromList);
    });
    writer.replace([object("a", "1"), object("b", "5"), object("d", "6")]);
    expect(changes.map((c) => `${c.type} ${c.object.metadata.name}`)).toEqual([
      "updated b",
      "added d",
      "deleted c",
    ]);
    expect([...reader.keys()]).toEqual(["ns/a", "ns/b", "ns/d"]);
    // Changes found by a list say so (controllers queue them at low priority); watched ones do not.
    writer.apply(object("e", "7"));
    expect(sources).toEqual([true, true, true, false]);
  });
});
