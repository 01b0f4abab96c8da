import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind } from "../../model/kind.js";
import { runBackendConformance } from "../../testing/conformance.js";
import type { StoredObject } from "../backend.js";
import { MemoryBackend } from "./memory-backend.js";

runBackendConformance("memory", () => new MemoryBackend(), {
  compact: (backend) => (backend as MemoryBackend).compact(),
});

const Blob = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Blob",
  scope: "Namespaced",
  spec: z.object({ data: z.string(), n: z.number() }),
});
const Small = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Small",
  scope: "Namespaced",
  spec: z.object({ n: z.number() }),
});

/** Writes `count` versions of one object carrying `bytes` of data; returns them in order. */
async function writeVersions(
  backend: MemoryBackend,
  count: number,
  bytes: number,
): Promise<StoredObject[]> {
  const data = "x".repeat(bytes);
  let current = await backend.create(Blob, {
    metadata: { name: "big", namespace: "ns" },
    spec: { data, n: 0 },
  });
  const versions = [current];
  for (let n = 1; n < count; n++) {
    current = await backend.update(Blob, { ...current, spec: { data, n } });
    versions.push(current);
  }
  return versions;
}

describe("the memory store's history", () => {
  it("is bounded by bytes as well as by count: 3,000 changes of 50 KB objects are not all kept (the bug was 150 MB kept)", async () => {
    const backend = new MemoryBackend({ historyBytes: 1_000_000 });
    const versions = await writeVersions(backend, 3_000, 50_000);
    const resume = (i: number) =>
      backend.watch(Blob, { resourceVersion: versions[i]!.metadata.resourceVersion }).next();
    // About 1 MB of 50 KB updates, each counted with the version it replaced (100 KB): the
    // latest 9 or so.
    await expect(resume(0)).rejects.toMatchObject({ reason: "Expired", code: 410 });
    await expect(resume(2_985)).rejects.toMatchObject({ reason: "Expired" });
    expect((await resume(2_993)).value).toMatchObject({
      type: "MODIFIED",
      object: versions[2_994],
    });
    await backend.close();
  });

  it("keeps 32 MiB of each kind's changes by default, and a quiet kind's history whatever a busy one writes", async () => {
    const backend = new MemoryBackend();
    const quiet = await backend.create(Small, {
      metadata: { name: "q", namespace: "ns" },
      spec: { n: 0 },
    });
    await backend.update(Small, { ...quiet, spec: { n: 1 } });
    // 1,000 updates of 50 KB, each counted with the version it replaced: 100 MB, well under the
    // 10,000-change limit; 32 MiB keeps the latest 330 or so.
    const versions = await writeVersions(backend, 1_000, 50_000);
    await expect(
      backend.watch(Blob, { resourceVersion: versions[500]!.metadata.resourceVersion }).next(),
    ).rejects.toMatchObject({ reason: "Expired" });
    expect(
      (
        await backend
          .watch(Blob, { resourceVersion: versions[800]!.metadata.resourceVersion })
          .next()
      ).value,
    ).toMatchObject({ object: versions[801] });
    expect(
      (await backend.watch(Small, { resourceVersion: quiet.metadata.resourceVersion }).next())
        .value,
    ).toMatchObject({ type: "MODIFIED" });
    await backend.close();
  });

  it("checks historyBytes", () => {
    expect(() => new MemoryBackend({ historyBytes: 0 })).toThrow(
      "historyBytes (0) must be positive",
    );
  });
});

describe("the memory store's continue snapshots", () => {
  it("keeps at most maxContinueSnapshots per kind, and a list's later pages after its snapshot went answer Expired (the bug: each paginated list pinned a 1.4 MB version for 5 minutes, 669 MB)", async () => {
    const backend = new MemoryBackend({ maxContinueSnapshots: 4 });
    await backend.create(Blob, {
      metadata: { name: "a", namespace: "ns" },
      spec: { data: "", n: 0 },
    });
    let big = await backend.create(Blob, {
      metadata: { name: "b", namespace: "ns" },
      spec: { data: "", n: 0 },
    });
    const tokens: string[] = [];
    for (let n = 1; n <= 40; n++) {
      tokens.push((await backend.list(Blob, { limit: 1 })).continue!);
      big = await backend.update(Blob, {
        ...big,
        spec: { data: String(n % 10).repeat(1_400_000), n },
      });
      expect(backend.keptSnapshots(Blob)).toBeLessThanOrEqual(4);
    }
    expect(backend.keptSnapshots(Blob)).toBe(4);
    // The oldest list's snapshot went, and the kind changed since: start a new list.
    await expect(backend.list(Blob, { limit: 1, continue: tokens[0]! })).rejects.toMatchObject({
      reason: "Expired",
      code: 410,
      message:
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
    });
    // The latest lists' go on from their own snapshots: b as it was before each update.
    for (const n of [37, 40]) {
      const page = await backend.list(Blob, { limit: 1, continue: tokens[n - 1]! });
      expect(page.items[0]?.spec).toMatchObject({ n: n - 1 });
    }
    await backend.close();
  });

  it("shares one snapshot among the lists of a kind that has not changed, whatever other kinds do", async () => {
    const backend = new MemoryBackend();
    for (const name of ["a", "b"])
      await backend.create(Blob, { metadata: { name, namespace: "ns" }, spec: { data: "", n: 0 } });
    const firsts = [];
    for (let n = 0; n < 20; n++) {
      firsts.push(await backend.list(Blob, { limit: 1 }));
      // The store's revision moves on; Blob's state does not.
      await backend.create(Small, { metadata: { name: `s${n}`, namespace: "ns" }, spec: { n } });
    }
    expect(backend.keptSnapshots(Blob)).toBe(1);
    const a = await backend.get(Blob, { namespace: "ns", name: "a" });
    await backend.update(Blob, { ...a, spec: { data: "changed", n: 1 } });
    for (const first of firsts) {
      const page = await backend.list(Blob, { limit: 1, continue: first.continue! });
      expect(page.items.map((o) => o.metadata.name)).toEqual(["b"]);
      expect(page.resourceVersion).toBe(first.resourceVersion);
    }
    await backend.close();
  });

  it("keeps 16 per kind by default", async () => {
    const backend = new MemoryBackend();
    await backend.create(Small, { metadata: { name: "a", namespace: "ns" }, spec: { n: 0 } });
    let b = await backend.create(Small, {
      metadata: { name: "b", namespace: "ns" },
      spec: { n: 0 },
    });
    for (let n = 1; n <= 20; n++) {
      await backend.list(Small, { limit: 1 });
      b = await backend.update(Small, { ...b, spec: { n } });
    }
    expect(backend.keptSnapshots(Small)).toBe(16);
    await backend.close();
  });

  it("checks maxContinueSnapshots", () => {
    expect(() => new MemoryBackend({ maxContinueSnapshots: 0 })).toThrow(
      "maxContinueSnapshots (0) must be a positive integer",
    );
  });
});

describe("the memory store's history over every kind", () => {
  /** A kind of its own: kinds made at run time, as CRDs are through `setpoint serve`. */
  const kindNumber = (k: number) =>
    defineKind({
      group: `g${k}.test.setpoint.dev`,
      version: "v1",
      kind: "Blob",
      scope: "Namespaced",
      spec: z.object({ data: z.string(), n: z.number() }),
    });

  it("is bounded by totalHistoryBytes, the kind holding the most giving up its oldest changes first (the bug: 16 kinds × 30 updates of 1.4 MB held 531 MB)", async () => {
    const backend = new MemoryBackend({ totalHistoryBytes: 2_000_000 });
    // A quiet kind with a little history, written first.
    const quiet = await backend.create(Small, {
      metadata: { name: "q", namespace: "ns" },
      spec: { n: 0 },
    });
    await backend.update(Small, { ...quiet, spec: { n: 1 } });
    const firsts: StoredObject[] = [];
    for (let k = 0; k < 8; k++) {
      const kind = kindNumber(k);
      let current = await backend.create(kind, {
        metadata: { name: "big", namespace: "ns" },
        spec: { data: "", n: 0 },
      });
      firsts.push(current);
      for (let n = 1; n <= 10; n++) {
        current = await backend.update(kind, {
          ...current,
          spec: { data: String(n % 10).repeat(100_000), n },
        });
        expect(backend.keptHistoryBytes).toBeLessThanOrEqual(2_000_000);
      }
    }
    // 8 MB written: the early kinds' history went to make room for the later ones'.
    await expect(
      backend.watch(kindNumber(0), { resourceVersion: firsts[0]!.metadata.resourceVersion }).next(),
    ).rejects.toMatchObject({ reason: "Expired", code: 410 });
    // Every kind keeps its latest change, and the quiet kind its history.
    for (let k = 0; k < 8; k++) {
      const latest = (await backend.list(kindNumber(k))).items[0]!;
      const from = String(Number(latest.metadata.resourceVersion) - 1);
      expect((await backend.watch(kindNumber(k), { resourceVersion: from }).next()).value).toEqual({
        type: "MODIFIED",
        object: latest,
      });
    }
    expect(
      (await backend.watch(Small, { resourceVersion: quiet.metadata.resourceVersion }).next())
        .value,
    ).toMatchObject({ type: "MODIFIED", object: { spec: { n: 1 } } });
    await backend.close();
  });

  it("checks totalHistoryBytes", () => {
    expect(() => new MemoryBackend({ totalHistoryBytes: 0 })).toThrow(
      "totalHistoryBytes (0) must be positive",
    );
  });
});
