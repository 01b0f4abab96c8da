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
    // About 1 MB of 50 KB changes: the latest 19 or so.
    await expect(resume(0)).rejects.toMatchObject({ reason: "Expired", code: 410 });
    await expect(resume(2_975)).rejects.toMatchObject({ reason: "Expired" });
    expect((await resume(2_985)).value).toMatchObject({
      type: "MODIFIED",
      object: versions[2_986],
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
    // 1,000 changes of 50 KB: 50 MB, well under the 10,000-change limit.
    const versions = await writeVersions(backend, 1_000, 50_000);
    await expect(
      backend.watch(Blob, { resourceVersion: versions[0]!.metadata.resourceVersion }).next(),
    ).rejects.toMatchObject({ reason: "Expired" });
    expect(
      (
        await backend
          .watch(Blob, { resourceVersion: versions[500]!.metadata.resourceVersion })
          .next()
      ).value,
    ).toMatchObject({ object: versions[501] });
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
