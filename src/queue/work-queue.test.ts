import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sleep } from "../model/clock.js";
import { FakeClock, flushMicrotasks } from "../testing/fake-clock.js";
import { ExponentialBackoff, MaxOf, TokenBucket } from "./rate-limiter.js";
import { LOW_LANE_EVERY, WorkQueue } from "./work-queue.js";

function queue(clock = new FakeClock()) {
  return { clock, queue: new WorkQueue<string>({ clock }) };
}

async function takeReady(q: WorkQueue<string>): Promise<string[]> {
  const keys: string[] = [];
  while (q.length > 0) keys.push((await q.get())!);
  return keys;
}

describe("WorkQueue", () => {
  it("hands out each key once however often it was added", async () => {
    const { queue: q } = queue();
    for (const key of ["a", "b", "a", "c", "b", "a"]) q.add(key);
    expect(q.length).toBe(3);
    expect(await takeReady(q)).toEqual(["a", "b", "c"]);
  });

  it("never hands one key to two workers at once", async () => {
    const { queue: q } = queue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.add("a");
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((key) => {
      second = key;
    });
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done("a");
    await flushMicrotasks();
    expect(second).toBe("a");
  });

  it("runs a key added while processing once more after done", async () => {
    const { queue: q } = queue();
    q.add("a");
    await q.get();
    q.add("a");
    q.add("a");
    q.done("a");
    expect(await takeReady(q)).toEqual(["a"]);
    q.done("a");
    expect(q.length).toBe(0);
  });

  it("keeps a key deduplicated until a waiting worker really takes it", async () => {
    const { queue: q } = queue();
    const taken: string[] = [];
    const worker = (async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        taken.push(key);
        q.done(key);
      }
    })();
    for (let i = 0; i < 5; i++) for (const key of ["a", "b", "c"]) q.add(key);
    await flushMicrotasks();
    expect(taken).toEqual(["a", "b", "c"]);
    q.shutDown();
    await worker;
  });

  it("serves a change before a resync added in the same turn, even to a waiting worker", async () => {
    const { queue: q } = queue();
    const first = q.get();
    q.add("resync", { low: true });
    q.add("changed");
    expect(await first).toBe("changed");
  });

  it("hands a key to a waiting worker as soon as it is added", async () => {
    const { queue: q } = queue();
    const waiting = q.get();
    q.add("a");
    expect(await waiting).toBe("a");
    expect(q.processing).toBe(1);
  });

  it("refuses done for a key that is not being processed", () => {
    const { queue: q } = queue();
    q.add("a");
    expect(() => q.done("a")).toThrow("done(a): the key is not being processed");
    expect(() => q.done("b")).toThrow(/not being processed/);
  });

  describe("delays", () => {
    it("makes a key ready after addAfter's delay, on the injected clock", async () => {
      const { queue: q, clock } = queue();
      q.addAfter("a", 1_000);
      expect(q.length).toBe(0);
      expect(q.delayed).toBe(1);
      await clock.advance(999);
      expect(q.length).toBe(0);
      await clock.advance(1);
      expect(await takeReady(q)).toEqual(["a"]);
    });

    it("keeps the earliest pending time of a key", async () => {
      const { queue: q, clock } = queue();
      q.addAfter("a", 500);
      q.addAfter("a", 2_000);
      await clock.advance(500);
      expect(await takeReady(q)).toEqual(["a"]);
      q.done("a");
      q.addAfter("b", 2_000);
      q.addAfter("b", 100);
      await clock.advance(100);
      expect(await takeReady(q)).toEqual(["b"]);
    });

    it("debounces a burst of adds into one, ready its delay after the last", async () => {
      const { queue: q, clock } = queue();
      for (let i = 0; i < 5; i++) {
        q.addDebounced("a", 100, 1_000);
        await clock.advance(20);
      }
      // The last add came at 80 ms: ready at 180 ms, not before (it is 100 ms now).
      await clock.advance(79);
      expect(q.length).toBe(0);
      await clock.advance(1);
      expect(await takeReady(q)).toEqual(["a"]);
      q.done("a");
      await clock.advance(1_000);
      expect(q.length).toBe(0);
    });

    it("hands out a key that keeps changing within its debounce's longest wait", async () => {
      const { queue: q, clock } = queue();
      let handedOutAt: number | undefined;
      for (let t = 0; t <= 2_000 && handedOutAt === undefined; t += 50) {
        q.addDebounced("a", 100, 1_000);
        await clock.advance(50);
        if (q.length > 0) handedOutAt = clock.now();
      }
      expect(handedOutAt).toBe(1_000);
    });

    it("leaves a ready key as it is, keeps a sooner requeue, and runs a processing key once more", async () => {
      const { queue: q, clock } = queue();
      q.add("ready");
      q.addDebounced("ready", 100, 1_000);
      expect(await takeReady(q)).toEqual(["ready"]);
      q.done("ready");
      await clock.advance(1_000);
      expect(q.length).toBe(0);

      q.addAfter("requeued", 10);
      q.addDebounced("requeued", 100, 1_000);
      await clock.advance(10);
      expect(await takeReady(q)).toEqual(["requeued"]);
      q.done("requeued");

      // A requeue sooner than a pending debounce wins, and later changes do not push it back.
      q.addDebounced("b", 100, 1_000);
      q.addAfter("b", 30);
      await clock.advance(20);
      q.addDebounced("b", 100, 1_000);
      await clock.advance(10);
      expect(await takeReady(q)).toEqual(["b"]);
      q.done("b");

      q.add("busy");
      expect(await q.get()).toBe("busy");
      q.addDebounced("busy", 100, 1_000);
      await clock.advance(100);
      expect(q.length).toBe(0);
      q.done("busy");
      expect(await takeReady(q)).toEqual(["busy"]);
    });

    it("cancels a later pending time when the key is added now", async () => {
      const { queue: q, clock } = queue();
      q.addAfter("a", 1_000);
      q.add("a");
      expect(await takeReady(q)).toEqual(["a"]);
      q.done("a");
      await clock.advance(1_000);
      expect(q.length).toBe(0);
    });

    it("fires many delayed keys in due order from one timer", async () => {
      const { queue: q, clock } = queue();
      const delays = [50, 10, 40, 20, 30, 10];
      for (const [i, ms] of delays.entries()) q.addAfter(`k${i}`, ms);
      expect(clock.pendingTimers).toBe(1);
      await clock.advance(50);
      expect(await takeReady(q)).toEqual(["k1", "k5", "k3", "k4", "k2", "k0"]);
      expect(clock.pendingTimers).toBe(0);
    });

    it("rearms the timer for an earlier key", async () => {
      const { queue: q, clock } = queue();
      q.addAfter("late", 1_000);
      q.addAfter("early", 10);
      await clock.advance(10);
      expect(await takeReady(q)).toEqual(["early"]);
      await clock.advance(990);
      expect(await takeReady(q)).toEqual(["late"]);
    });
  });

  describe("rate-limited retries", () => {
    it("back off 5 ms doubling per key, until forgotten", async () => {
      const { queue: q, clock } = queue();
      const seen: number[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        q.addRateLimited("a");
        const start = clock.now();
        while (q.length === 0) await clock.advance(1);
        seen.push(clock.now() - start);
        await q.get();
        q.done("a");
      }
      expect(seen).toEqual([5, 10, 20, 40]);
      expect(q.retries("a")).toBe(4);
      q.forget("a");
      expect(q.retries("a")).toBe(0);
    });
  });

  describe("ensure", () => {
    it("does not pull a requested requeue forward (a poll does not pull a requested requeue forward)", async () => {
      const { queue: q, clock } = queue();
      q.addAfter("a", 30_000);
      q.ensure("a");
      expect(q.length).toBe(0);
      await clock.advance(29_999);
      q.ensure("a");
      expect(q.length).toBe(0);
      await clock.advance(1);
      expect(q.length).toBe(1);
    });

    it("does nothing for a key being processed or queued, and adds an idle one", async () => {
      const { queue: q } = queue();
      q.ensure("a");
      q.ensure("a");
      expect(q.length).toBe(1);
      await q.get();
      q.ensure("a");
      q.done("a");
      expect(q.length).toBe(0);
    });
  });

  describe("priorities", () => {
    it("serves a change before the resyncs waiting ahead of it (resync adds never delay a changed object)", async () => {
      const { queue: q } = queue();
      for (let i = 0; i < 5; i++) q.add(`resync-${i}`, { low: true });
      q.add("changed");
      expect(await takeReady(q)).toEqual([
        "changed",
        "resync-0",
        "resync-1",
        "resync-2",
        "resync-3",
        "resync-4",
      ]);
    });

    it("gives the low lane one handout in five while both lanes hold keys", async () => {
      const { queue: q } = queue();
      for (let i = 0; i < 3; i++) q.add(`low-${i}`, { low: true });
      for (let i = 0; i < 10; i++) q.add(`normal-${i}`);
      const order = await takeReady(q);
      expect(order.slice(0, 10)).toEqual([
        "normal-0",
        "normal-1",
        "normal-2",
        "normal-3",
        "low-0",
        "normal-4",
        "normal-5",
        "normal-6",
        "normal-7",
        "low-1",
      ]);
      expect(order.slice(10)).toEqual(["normal-8", "normal-9", "low-2"]);
    });

    it("hands out an initial list while requeues that fall due keep every worker busy (the low lane was starved)", async () => {
      // The reproduction, on the queue alone: 12 keys of an initial list, 3 workers, each
      // key takes 150 ms and asks to run again 100 ms later.
      const clock = new FakeClock();
      const q = new WorkQueue<string>({ clock });
      for (let i = 0; i < 12; i++) q.add(`object-${i}`, { low: true });
      const seen = new Set<string>();
      const never = new AbortController().signal;
      const workers = Array.from({ length: 3 }, async () => {
        for (;;) {
          const key = await q.get();
          if (key === undefined) return;
          seen.add(key);
          await sleep(clock, 150, never);
          q.addAfter(key, 100);
          q.done(key);
        }
      });
      for (let t = 0; t < 10_000 && seen.size < 12; t += 50) await clock.advance(50);
      expect(seen.size).toBe(12);
      q.shutDown();
      await clock.advance(1_000);
      await Promise.all(workers);
    });

    it("hands every key out within its bound whatever mix of adds, low adds and requeues arrives (property)", async () => {
      // A model of the lanes' sizes (not their order) gives each key, when it enters a lane,
      // the bound of the queue's contract; every handout is checked against it.
      type Behaviour = { ms: number; dirty: "no" | "normal" | "low"; requeueMs: number | null };
      const scenario = fc.record({
        workers: fc.integer({ min: 1, max: 4 }),
        adds: fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 300 }),
            key: fc.integer({ min: 0, max: 15 }),
            low: fc.boolean(),
          }),
          { maxLength: 80 },
        ),
        behaviours: fc.array(
          fc.record({
            ms: fc.integer({ min: 0, max: 20 }),
            dirty: fc.constantFrom("no", "normal", "low"),
            requeueMs: fc.option(fc.integer({ min: 0, max: 30 })),
          }),
          { minLength: 1, maxLength: 20 },
        ),
      });
      await fc.assert(
        fc.asyncProperty(scenario, async ({ workers, adds, behaviours }) => {
          const clock = new FakeClock();
          const q = new WorkQueue<string>({ clock });
          const never = new AbortController().signal;
          const lanes = { normal: 0, low: 0 };
          const waiting = new Map<
            string,
            { lane: "normal" | "low"; entry: number; bound: number }
          >();
          const processing = new Map<string, { dirty: boolean; lowOnly: boolean }>();
          const violations: string[] = [];
          let handouts = 0;
          const enter = (key: string, lane: "normal" | "low") => {
            const n = lanes[lane];
            const bound = lane === "normal" ? n + 2 + Math.floor(n / 4) : LOW_LANE_EVERY * (n + 1);
            waiting.set(key, { lane, entry: handouts, bound });
            lanes[lane]++;
          };
          const add = (key: string, low: boolean) => {
            const busy = processing.get(key);
            const queued = waiting.get(key);
            if (busy !== undefined) {
              busy.lowOnly = busy.dirty ? busy.lowOnly && low : low;
              busy.dirty = true;
            } else if (queued === undefined) enter(key, low ? "low" : "normal");
            else if (queued.lane === "low" && !low) {
              lanes.low--;
              waiting.delete(key);
              enter(key, "normal");
            }
            q.add(key, { low });
          };
          const handedOut = (key: string) => {
            handouts++;
            const queued = waiting.get(key);
            if (queued === undefined) {
              violations.push(`${key} handed out without being queued`);
              return;
            }
            if (handouts - queued.entry > queued.bound)
              violations.push(
                `${key} (${queued.lane}) handed out after ${handouts - queued.entry} handouts; bound ${queued.bound}`,
              );
            lanes[queued.lane]--;
            waiting.delete(key);
            processing.set(key, { dirty: false, lowOnly: false });
          };
          const requeues = new Map<string, number>();
          let turn = 0;
          let pending = 0;
          const running = Array.from({ length: workers }, async () => {
            for (;;) {
              const key = await q.get().then((k) => {
                if (k !== undefined) handedOut(k);
                return k;
              });
              if (key === undefined) return;
              let behaviour: Behaviour = behaviours[turn++ % behaviours.length]!;
              // Each key asks to run again (dirty or later) a few times at most, so runs end.
              const count = requeues.get(key) ?? 0;
              if (count < 3 && (behaviour.dirty !== "no" || behaviour.requeueMs !== null))
                requeues.set(key, count + 1);
              else behaviour = { ...behaviour, dirty: "no", requeueMs: null };
              if (behaviour.dirty !== "no") add(key, behaviour.dirty === "low");
              await sleep(clock, behaviour.ms, never);
              const { dirty, lowOnly } = processing.get(key)!;
              processing.delete(key);
              q.done(key);
              if (dirty) enter(key, lowOnly ? "low" : "normal");
              const { requeueMs } = behaviour;
              if (requeueMs !== null) {
                pending++;
                clock.setTimer(requeueMs, () => {
                  pending--;
                  add(key, false);
                });
              }
            }
          });
          pending += adds.length;
          for (const { at, key, low } of adds)
            clock.setTimer(at, () => {
              pending--;
              add(`k${key}`, low);
            });
          for (let t = 0; t < 5_000 && pending + waiting.size + processing.size > 0; t += 10)
            await clock.advance(10);
          q.shutDown();
          let ended = false;
          void Promise.all(running).then(() => {
            ended = true;
          });
          while (!ended) await clock.advance(10);
          expect(violations).toEqual([]);
          expect([...waiting.keys()]).toEqual([]); // and everything was handed out
        }),
        { numRuns: 150 },
      );
    });

    it("moves a key waiting in the low lane up when it changes", async () => {
      const { queue: q } = queue();
      q.add("a", { low: true });
      q.add("b", { low: true });
      q.add("b");
      expect(q.length).toBe(2);
      expect(await takeReady(q)).toEqual(["b", "a"]);
    });

    it("requeues a key dirtied only by low adds in the low lane", async () => {
      const { queue: q } = queue();
      q.add("a");
      await q.get();
      q.add("a", { low: true });
      q.add("b");
      q.done("a");
      expect(await takeReady(q)).toEqual(["b", "a"]);
    });
  });

  describe("the event loop", () => {
    it("gets its turn while workers take keys that are ready at once (requeueAfter(0) froze the process)", async () => {
      const q = new WorkQueue<string>();
      let timerFired = false;
      setTimeout(() => {
        timerFired = true;
      }, 0);
      q.add("hot");
      let handouts = 0;
      // A worker that puts its key back at once: on microtasks alone it would never let the
      // timer run. The cap keeps a broken queue from hanging the test.
      while (!timerFired && handouts < 2_000_000) {
        const key = (await q.get())!;
        handouts++;
        q.add(key);
        q.done(key);
      }
      expect(timerFired).toBe(true);
      q.shutDown();
    });
  });

  describe("shutdown", () => {
    it("stops handing out keys and wakes waiting workers with undefined", async () => {
      const { queue: q } = queue();
      const waiting = q.get();
      q.shutDown();
      expect(await waiting).toBeUndefined();
      q.add("a");
      expect(await q.get()).toBeUndefined();
    });

    it("drains once every key handed out is done", async () => {
      const { queue: q, clock } = queue();
      q.add("a");
      q.add("b");
      await q.get();
      await q.get();
      q.addAfter("c", 10);
      q.shutDown();
      let drained = false;
      void q.drain().then(() => {
        drained = true;
      });
      q.done("a");
      await Promise.resolve();
      expect(drained).toBe(false);
      q.done("b");
      await Promise.resolve();
      expect(drained).toBe(true);
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe("metrics", () => {
    it("reports depth, adds, retries, queue time and work time", async () => {
      const clock = new FakeClock();
      const seen = {
        depth: [] as number[],
        added: 0,
        retried: 0,
        queued: [] as number[],
        worked: [] as number[],
      };
      const q = new WorkQueue<string>({
        clock,
        metrics: {
          depth: (n) => seen.depth.push(n),
          added: () => seen.added++,
          retried: () => seen.retried++,
          queued: (s) => seen.queued.push(s),
          worked: (s) => seen.worked.push(s),
        },
      });
      q.add("a");
      q.add("a");
      await clock.advance(2_000);
      await q.get();
      await clock.advance(500);
      q.done("a");
      q.addRateLimited("a");
      expect(seen).toMatchObject({
        depth: [1, 0],
        added: 2,
        retried: 1,
        queued: [2],
        worked: [0.5],
      });
    });
  });
});

describe("rate limiters", () => {
  it("cap exponential backoff and validate their options", () => {
    const backoff = new ExponentialBackoff({ baseMs: 100, maxMs: 300 });
    expect([backoff.when("a"), backoff.when("a"), backoff.when("a"), backoff.when("b")]).toEqual([
      100, 200, 300, 100,
    ]);
    expect(() => new ExponentialBackoff({ baseMs: 0 })).toThrow("baseMs (0) must be positive");
    expect(() => new ExponentialBackoff({ baseMs: 10, maxMs: 5 })).toThrow(
      "maxMs (5) must be at least baseMs (10)",
    );
  });

  it("let a token bucket pass a burst, then space retries at its rate", async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ clock, perSecond: 10, burst: 2 });
    expect([bucket.when("a"), bucket.when("b"), bucket.when("c"), bucket.when("d")]).toEqual([
      0, 0, 100, 200,
    ]);
    await clock.advance(1_000);
    expect(bucket.when("e")).toBe(0);
  });

  it("take the larger delay of several", () => {
    const clock = new FakeClock();
    const limiter = new MaxOf(
      new ExponentialBackoff({ baseMs: 5 }),
      new TokenBucket({ clock, perSecond: 1, burst: 1 }),
    );
    expect(limiter.when("a")).toBe(5);
    expect(limiter.when("a")).toBe(1_000);
    expect(limiter.retries("a")).toBe(2);
  });
});
