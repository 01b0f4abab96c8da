import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind } from "../../model/kind.js";
import { FakeClock } from "../../testing/fake-clock.js";
import { MemoryBackend } from "./memory-backend.js";

const Thing = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Thing",
  scope: "Cluster",
  spec: z.object({ n: z.number() }),
});
const Other = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Other",
  scope: "Cluster",
  spec: z.object({}),
});

describe("memory watch", () => {
  it("sends a bookmark once the watch has been quiet for the interval, with the store's revision", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const watch = backend.watch(Thing, { allowBookmarks: true, bookmarkIntervalMs: 1_000 });
    const next = watch.next();
    await backend.create(Other, { metadata: { name: "elsewhere" }, spec: {} });
    let settled = false;
    void next.then(() => {
      settled = true;
    });
    await clock.advance(999);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await next).toEqual({ done: false, value: { type: "BOOKMARK", resourceVersion: "2" } });
    watch.close();
  });

  it("restarts the bookmark interval after each event", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const watch = backend.watch(Thing, { allowBookmarks: true, bookmarkIntervalMs: 1_000 });
    await clock.advance(900);
    await backend.create(Thing, { metadata: { name: "a" }, spec: { n: 1 } });
    expect((await watch.next()).value).toMatchObject({ type: "ADDED" });
    const next = watch.next();
    let settled = false;
    void next.then(() => {
      settled = true;
    });
    await clock.advance(999);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect((await next).value).toMatchObject({ type: "BOOKMARK" });
    watch.close();
  });

  it("sends its bookmark when quiet since a delivery at a fractional time (a rounding error re-armed it at 0 ms forever)", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    // (40536.484101878224 + 60000) - 40536.484101878224 is 59999.99999999999 in doubles.
    await clock.advance(40536.484101878224);
    const watch = backend.watch(Thing, { allowBookmarks: true, bookmarkIntervalMs: 60_000 });
    await backend.create(Thing, { metadata: { name: "a" }, spec: { n: 1 } });
    expect((await watch.next()).value).toMatchObject({ type: "ADDED" });
    const next = watch.next();
    await clock.advance(60_000);
    expect((await next).value).toMatchObject({ type: "BOOKMARK" });
    watch.close();
  });

  it("fails with Expired when a slow reader falls out of the kept history", async () => {
    const backend = new MemoryBackend({ historyLimit: 3 });
    const watch = backend.watch(Thing);
    for (let n = 0; n < 5; n++)
      await backend.create(Thing, { metadata: { name: `t${n}` }, spec: { n } });
    await expect(watch.next()).rejects.toMatchObject({ reason: "Expired", code: 410 });
    expect((await watch.next()).done).toBe(true);
  });

  it("holds no timer while no one waits on it", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const watch = backend.watch(Thing, { allowBookmarks: true });
    expect(clock.pendingTimers).toBe(0);
    const next = watch.next();
    expect(clock.pendingTimers).toBe(1);
    watch.close();
    expect((await next).done).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("ends every watch when the backend closes", async () => {
    const backend = new MemoryBackend();
    const watch = backend.watch(Thing);
    const next = watch.next();
    await backend.close();
    expect((await next).done).toBe(true);
    await expect(
      backend.create(Thing, { metadata: { name: "late" }, spec: { n: 1 } }),
    ).rejects.toMatchObject({ reason: "ServiceUnavailable" });
  });
});

describe("memory backend options", () => {
  it("validates them eagerly with exact messages", () => {
    expect(() => new MemoryBackend({ historyLimit: 0 })).toThrow(
      "historyLimit (0) must be a positive integer",
    );
    expect(() => new MemoryBackend({ maxObjectBytes: -1 })).toThrow(
      "maxObjectBytes (-1) must be positive",
    );
    expect(() => new MemoryBackend({ continueTtlMs: -5 })).toThrow(
      "continueTtlMs (-5) must not be negative",
    );
  });

  it("serves a continue token from its snapshot for continueTtlMs, then from the history, and expires it once both are gone", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock, continueTtlMs: 1_000 });
    for (let n = 0; n < 3; n++)
      await backend.create(Thing, { metadata: { name: `t${n}` }, spec: { n } });
    const first = await backend.list(Thing, { limit: 1 });
    await clock.advance(500);
    expect(
      (await backend.list(Thing, { limit: 1, continue: first.continue! })).items[0]?.metadata.name,
    ).toBe("t1");
    await backend.create(Thing, { metadata: { name: "t3" }, spec: { n: 3 } });
    await clock.advance(600);
    // The snapshot is gone; the history still holds every change since the token's revision.
    const later = await backend.list(Thing, { limit: 2, continue: first.continue! });
    expect(later.items.map((t) => t.metadata.name)).toEqual(["t1", "t2"]);
    expect(later.resourceVersion).toBe(first.resourceVersion);
    backend.compact();
    await expect(
      backend.list(Thing, { limit: 1, continue: first.continue! }),
    ).rejects.toMatchObject({ reason: "Expired" });
  });

  it("rejects objects over maxObjectBytes", async () => {
    const backend = new MemoryBackend({ maxObjectBytes: 1_000 });
    await expect(
      backend.create(Thing, {
        metadata: { name: "big", annotations: { a: "x".repeat(1_000) } },
        spec: { n: 1 },
      }),
    ).rejects.toMatchObject({
      reason: "Invalid",
      message: expect.stringContaining("the limit is 1000"),
    });
  });
});
