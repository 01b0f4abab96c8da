import { describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { FakeClock } from "../testing/fake-clock.js";
import { cuttable } from "../testing/fixtures.js";
import { defaultLeaseTiming } from "./leader-election.js";
import { hashKey, ShardSet } from "./shards.js";

const timing = defaultLeaseTiming;

describe("shards", () => {
  it("hash keys stably", () => {
    expect(hashKey("shop/front")).toBe(hashKey("shop/front"));
    expect(hashKey("")).toBe(0x811c9dc5);
    expect(new ShardSet(new MemoryBackend(), { name: "x", count: 12 }).shardOf("shop/front")).toBe(
      hashKey("shop/front") % 12,
    );
    expect(() => new ShardSet(new MemoryBackend(), { name: "x", count: 0 })).toThrow(
      "shard count (0) must be a positive integer",
    );
  });

  it("share 12 shards fairly among 3 replicas, never one shard in two hands, and move a dead replica's shards", async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend({ clock });
    const views = ["a", "b", "c"].map(() => cuttable(store));
    const sets = views.map(
      (view, i) =>
        new ShardSet(view.backend, {
          name: "widgets",
          count: 12,
          identity: ["a", "b", "c"][i]!,
          clock,
          ...timing,
        }),
    );
    const stop = new AbortController();
    const moves: string[] = [];
    const runs = sets.map((set) =>
      set.run(stop.signal, {
        acquired: (shard) => moves.push(`${set.identity}+${shard}`),
        released: async (shard) => {
          moves.push(`${set.identity}-${shard}`);
        },
      }),
    );
    const disjoint = (live: ShardSet[]) => {
      const all = live.flatMap((set) => set.shards);
      expect(new Set(all).size).toBe(all.length);
    };
    for (let t = 0; t < 60_000; t += 500) {
      await clock.advance(500);
      disjoint(sets);
    }
    expect(sets.map((set) => set.shards.length)).toEqual([4, 4, 4]);

    views[2]!.cut(); // c dies: it renews nothing from now on.
    const live = sets.slice(0, 2);
    let movedAfter: number | undefined;
    for (let t = 0; t < 60_000; t += 500) {
      await clock.advance(500);
      disjoint(sets.filter((set) => set !== sets[2] || set.shards.length > 0));
      // Until c stands down on its renew deadline, its shards are its own.
      const taken = live.flatMap((set) => set.shards);
      for (const shard of sets[2]!.shards) expect(taken).not.toContain(shard);
      if (movedAfter === undefined && taken.length === 12) movedAfter = t + 500;
    }
    expect(movedAfter).toBeDefined();
    // Within the lease duration after c's shards went quiet, plus a couple of retry rounds.
    expect(movedAfter!).toBeLessThanOrEqual(timing.leaseDurationMs + 3 * 2_400);
    expect(live.map((set) => set.shards.length)).toEqual([6, 6]);
    stop.abort();
    await clock.advance(5_000);
    await Promise.all(runs.slice(0, 2));
  });

  it("rebalance when a replica joins: the others hand shards back until each holds its share, never one shard in two hands", async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend({ clock });
    const make = (identity: string) =>
      new ShardSet(store, { name: "widgets", count: 12, identity, clock, ...timing });
    const sets = [make("a"), make("b")];
    const stop = new AbortController();
    /** Who holds each shard, as the callbacks tell: a shard is acquired only once released. */
    const holder = new Map<number, string>();
    const run = (set: ShardSet) =>
      set.run(stop.signal, {
        acquired: (shard) => {
          expect(holder.get(shard)).toBeUndefined();
          holder.set(shard, set.identity);
        },
        released: async (shard) => {
          expect(holder.get(shard)).toBe(set.identity);
          holder.delete(shard);
        },
      });
    const runs = sets.map(run);
    const disjoint = () => {
      const all = sets.flatMap((set) => set.shards);
      expect(new Set(all).size).toBe(all.length);
    };
    for (let t = 0; t < 30_000; t += 500) {
      await clock.advance(500);
      disjoint();
    }
    expect(sets.map((set) => set.shards.length)).toEqual([6, 6]);

    sets.push(make("c"));
    runs.push(run(sets[2]!));
    let balancedAfter: number | undefined;
    for (let t = 0; t < 60_000; t += 500) {
      await clock.advance(500);
      disjoint();
      if (balancedAfter === undefined && sets.every((set) => set.shards.length === 4))
        balancedAfter = t + 500;
    }
    expect(sets.map((set) => set.shards.length)).toEqual([4, 4, 4]);
    // Within a few lease durations: the newcomer announces itself, the others hand back.
    expect(balancedAfter!).toBeLessThanOrEqual(4 * timing.leaseDurationMs);
    stop.abort();
    await clock.advance(5_000);
    await Promise.all(runs);
  });
});

describe("shard members", () => {
  it("take part whatever their identity looks like: names are made valid", async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend({ clock });
    const set = new ShardSet(store, {
      name: "widgets",
      count: 2,
      identity: "Host_A:1",
      clock,
      ...timing,
    });
    const stop = new AbortController();
    const running = set.run(stop.signal, { acquired: () => {}, released: async () => {} });
    await clock.advance(100);
    expect(set.shards).toEqual([0, 1]);
    stop.abort();
    await clock.advance(5_000);
    await running;
  });
});

describe("shards over a store that hangs", () => {
  it("end their run, shards handed back as far as they can be, though the store hangs (a frozen store held shutdown forever)", async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend({ clock });
    let frozen = false;
    const view = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => (frozen ? new Promise(() => {}) : value.apply(target, args));
      },
    }) as Backend;
    const set = new ShardSet(view, { name: "widgets", count: 4, identity: "a", clock, ...timing });
    const stop = new AbortController();
    const released: number[] = [];
    let ended = false;
    const running = set
      .run(stop.signal, {
        acquired: () => {},
        released: async (shard) => {
          released.push(shard);
        },
      })
      .then(() => {
        ended = true;
      });
    for (let i = 0; i < 50 && set.shards.length < 4; i++) await clock.advance(1_000);
    expect(set.shards).toEqual([0, 1, 2, 3]);
    frozen = true;
    await clock.advance(timing.retryPeriodMs); // a round starts, and hangs
    stop.abort();
    for (let i = 0; i < 100 && !ended; i++) await clock.advance(500);
    expect(ended).toBe(true);
    expect(released.sort()).toEqual([0, 1, 2, 3]);
    await running;
  });
});
