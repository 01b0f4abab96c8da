import { describe, expect, it } from "vitest";
import { z } from "zod";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { ApiError } from "../model/api-error.js";
import { defineKind } from "../model/kind.js";
import { eventually } from "../testing/eventually.js";
import { FakeClock } from "../testing/fake-clock.js";
import { JitteredBackoff } from "./backoff.js";
import { Informer } from "./informer.js";

const Thing = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Thing",
  scope: "Namespaced",
  spec: z.object({ n: z.number() }),
});
const thing = (name: string, n = 0) => ({ metadata: { name, namespace: "ns" }, spec: { n } });

describe("watcher and informer", () => {
  it("lists in pages, then follows every change", async () => {
    const backend = new MemoryBackend();
    for (let i = 0; i < 7; i++) await backend.create(Thing, thing(`t${i}`, i));
    const informer = new Informer(backend, Thing, { pageSize: 3 });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.cache.ready();
    expect(informer.cache.size).toBe(7);
    const t0 = await backend.get(Thing, { namespace: "ns", name: "t0" });
    await backend.update(Thing, { ...t0, spec: { n: 100 } });
    await backend.delete(Thing, { namespace: "ns", name: "t1" });
    await eventually(() => {
      expect(informer.cache.get("ns/t0")?.spec.n).toBe(100);
      expect(informer.cache.get("ns/t1")).toBeUndefined();
    });
    stop.abort();
    await running;
  });

  it("relists after Gone and reports objects that vanished while it was away as deleted", async () => {
    const backend = new MemoryBackend({ historyLimit: 2 });
    for (const name of ["a", "b", "c"]) await backend.create(Thing, thing(name));
    const informer = new Informer(backend, Thing);
    const changes: string[] = [];
    informer.writer.subscribe((c) => changes.push(`${c.type} ${c.object.metadata.name}`));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.cache.ready();
    changes.length = 0;
    // Stall the watch's reader long enough for history to move past it: the watcher gets
    // Expired, relists, and must report "b" gone and "d" added.
    backend.compact();
    await backend.delete(Thing, { namespace: "ns", name: "b" });
    await backend.create(Thing, thing("d"));
    await eventually(() => {
      expect(informer.cache.get("ns/b")).toBeUndefined();
      expect(informer.cache.get("ns/d")).toBeDefined();
    });
    expect(changes).toContain("deleted b");
    expect(changes).toContain("added d");
    stop.abort();
    await running;
  });

  it("backs off on errors and recovers", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    await backend.create(Thing, thing("a"));
    let failures = 2;
    const flaky = Object.create(backend) as MemoryBackend;
    flaky.list = (kind, options) =>
      failures-- > 0
        ? Promise.reject(new ApiError("ServiceUnavailable", "down"))
        : backend.list(kind, options);
    const waits: number[] = [];
    const informer = new Informer(flaky, Thing, {
      clock,
      backoff: new JitteredBackoff({ clock, random: () => 0.5 }),
      observer: { failed: (_e, ms) => waits.push(ms) },
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await eventually(() => expect(waits).toHaveLength(1));
    await clock.advance(600);
    await eventually(() => expect(waits).toHaveLength(2));
    await clock.advance(1_200);
    await informer.cache.ready();
    expect(waits).toEqual([600, 1_200]);
    stop.abort();
    await running;
  });

  it("restarts a watch that goes quiet from its last revision", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    let watches = 0;
    const counting = Object.create(backend) as MemoryBackend;
    counting.watch = (kind, options) => {
      watches++;
      // A stream that never says anything, not even bookmarks.
      return backend.watch(kind, { ...options, allowBookmarks: false });
    };
    const informer = new Informer(counting, Thing, { clock, idleTimeoutMs: 1_000 });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.cache.ready();
    await eventually(() => expect(watches).toBe(1));
    await clock.advance(1_000);
    await eventually(() => expect(watches).toBe(2));
    await backend.create(Thing, thing("late"));
    await eventually(() => expect(informer.cache.get("ns/late")).toBeDefined());
    stop.abort();
    await running;
  });
});

describe("jittered backoff", () => {
  it("doubles from 0.8 s to 30 s with jitter, and resets after a quiet period", async () => {
    const clock = new FakeClock();
    const backoff = new JitteredBackoff({ clock, random: () => 0 });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    expect(delays).toEqual([400, 800, 1_600, 3_200, 6_400, 12_800, 15_000, 15_000]);
    await clock.advance(120_001);
    expect(backoff.next()).toBe(400);
    const high = new JitteredBackoff({ clock, random: () => 0.999 });
    expect(high.next()).toBeCloseTo(799.6);
  });
});
