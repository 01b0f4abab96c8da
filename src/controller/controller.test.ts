import { afterEach, describe, expect, it } from "vitest";
import { createControlPlane } from "../backend/control-plane.js";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { Lease } from "../coordination/lease.js";
import { sleep } from "../model/clock.js";
import type { ResourceOf } from "../model/kind.js";
import { type Logger, silentLogger } from "../observability/logging.js";
import { eventually } from "../testing/eventually.js";
import { FakeClock } from "../testing/fake-clock.js";
import { cuttable, Gear, Widget, widget } from "../testing/fixtures.js";
import { createTestEnv, type TestEnv } from "../testing/test-env.js";
import { done, requeueAfter, TerminalError } from "./action.js";
import { controller } from "./controller.js";
import { Event } from "./events.js";
import { Manager } from "./manager.js";
import { fromAsyncIterable, poll } from "./source.js";
import { getCondition, setCondition, writeStatus } from "./status.js";

type WidgetObject = ResourceOf<typeof Widget>;

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

describe("controller", () => {
  it("reconciles every object once its cache is ready, then every change", async () => {
    env = createTestEnv();
    const widgets = env.plane.resources(Widget);
    await widgets.create(widget("before"));
    const seen: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile(w, ctx) {
          seen.push(`${ctx.key}@${w.spec.replicas}:${ctx.reason}`);
        },
      }),
    );
    await eventually(() => expect(seen).toEqual(["default/before@1:added"]));
    const created = await widgets.create(widget("after", 2));
    await widgets.update({ ...created, spec: { replicas: 3 } });
    await eventually(() => expect(seen.at(-1)).toMatch(/^default\/after@3:/));
    expect(seen).toContain("default/before@1:added");
  });

  it("does not retrigger on status-only writes", async () => {
    env = createTestEnv();
    let runs = 0;
    await env.start(
      controller(Widget, {
        name: "widgets",
        async reconcile(w, ctx) {
          runs++;
          await writeStatus(ctx.client, w, { seen: w.spec.replicas });
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a", 4));
    await eventually(async () =>
      expect((await env!.plane.resources(Widget).get("a")).status).toEqual({
        seen: 4,
        observedGeneration: 1,
      }),
    );
    // A later change proves the controller is still listening; the status write did not count.
    await env.plane
      .resources(Widget)
      .patch("a", { type: "merge", patch: { metadata: { labels: { x: "y" } } } });
    await eventually(() => expect(runs).toBe(2));
  });

  it("retries a thrown error with per-key backoff, and a TerminalError not at all", async () => {
    env = createTestEnv();
    const attempts: Record<string, number[]> = { flaky: [], broken: [] };
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile(w) {
          attempts[w.metadata.name]!.push(env!.clock.now());
          if (w.metadata.name === "broken") throw new TerminalError("cannot work with this");
          if (attempts.flaky!.length < 4) throw new Error("not yet");
        },
      }),
    );
    const start = env.clock.now();
    await env.plane.resources(Widget).create(widget("flaky"));
    await env.plane.resources(Widget).create(widget("broken"));
    await eventually(() => expect(attempts.flaky).toHaveLength(1));
    for (let i = 0; i < 40 && attempts.flaky!.length < 4; i++) await env.advance(5);
    expect(attempts.flaky!.map((t) => t - start)).toEqual([0, 5, 15, 35]);
    await env.advance(10_000);
    expect(attempts.broken).toHaveLength(1);
    const metrics = await env.registry.metrics();
    expect(metrics).toMatch(/controller_runtime_reconcile_errors_total\{controller="widgets"\} 4/);
  });

  it("lets an error override a requested requeue", async () => {
    env = createTestEnv();
    let runs = 0;
    await env.start(
      controller(Widget, {
        name: "widgets",
        errorPolicy: () => requeueAfter(60_000),
        reconcile() {
          runs++;
          if (runs === 1) throw new Error("failed after deciding to requeue");
          return requeueAfter(1_000);
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() => expect(runs).toBe(1));
    await env.advance(1_000);
    expect(runs).toBe(1);
    await env.advance(59_000);
    await eventually(() => expect(runs).toBe(2));
    await env.advance(1_000);
    await eventually(() => expect(runs).toBe(3));
  });

  it("requeues after the delay the reconcile asked for", async () => {
    env = createTestEnv();
    const times: number[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile: () => {
          times.push(env!.clock.now());
          return requeueAfter(30_000);
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() => expect(times).toHaveLength(1));
    await env.advance(29_999);
    expect(times).toHaveLength(1);
    await env.advance(1);
    await eventually(() => expect(times).toHaveLength(2));
    expect(times[1]! - times[0]!).toBe(30_000);
  });

  it("does not reconcile a key whose object is gone", async () => {
    env = createTestEnv();
    const seen: string[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    await env.start(
      controller(Widget, {
        name: "widgets",
        async reconcile(w) {
          seen.push(w.metadata.name);
          if (w.metadata.name === "first") await blocked;
        },
      }),
    );
    const widgets = env.plane.resources(Widget);
    await widgets.create(widget("first"));
    await eventually(() => expect(seen).toEqual(["first"]));
    await widgets.create(widget("doomed"));
    await widgets.delete("doomed");
    await widgets.create(widget("last"));
    release();
    await eventually(() => expect(seen).toEqual(["first", "last"]));
  });

  it("survives a reconcile that returns garbage, throws a non-Error or throws in its mapper", async () => {
    env = createTestEnv();
    const ok: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile(w) {
          if (w.metadata.name === "garbage") return { type: "explode" } as never;
          if (w.metadata.name === "string") throw "just a string";
          ok.push(w.metadata.name);
        },
      }).watches(Gear, () => {
        throw new Error("mapper broke");
      }),
    );
    const widgets = env.plane.resources(Widget);
    await widgets.create(widget("garbage"));
    await widgets.create(widget("string"));
    await env.plane.resources(Gear).create({ metadata: { name: "g" }, spec: { teeth: 3 } });
    await widgets.create(widget("fine"));
    await eventually(() => expect(ok).toEqual(["fine"]));
    const metrics = await env.registry.metrics();
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="widgets",result="error"\} 2/,
    );
  });

  it("aborts the signal of a reconcile that outlives its timeout, and frees the worker from one that ignores it", async () => {
    env = createTestEnv();
    let abortedAt: number | undefined;
    const finished: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcileTimeoutMs: 10_000,
        async reconcile(w, { signal }) {
          if (w.metadata.name === "polite") {
            await new Promise<void>((resolve) =>
              signal.addEventListener("abort", () => resolve(), { once: true }),
            );
            abortedAt = env!.clock.now();
            throw signal.reason;
          }
          if (w.metadata.name === "stubborn") await new Promise(() => {});
          finished.push(w.metadata.name);
        },
      }),
    );
    const start = env.clock.now();
    await env.plane.resources(Widget).create(widget("polite"));
    await eventually(() => expect(env!.manager.runner("widgets")!.queue.processing).toBe(1));
    await env.advance(10_000);
    await eventually(() => expect(abortedAt).toBe(start + 10_000));
    await env.plane.resources(Widget).create(widget("stubborn"));
    await env.plane.resources(Widget).create(widget("after"));
    await env.advance(11_000);
    await eventually(() => expect(finished).toContain("after"));
  });

  it("reconciles the controlling owner when an owned child changes", async () => {
    env = createTestEnv();
    const reasons: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile(w, ctx) {
          reasons.push(`${w.metadata.name}:${ctx.reason}`);
        },
      }).owns(Gear),
    );
    const owner = await env.plane.resources(Widget).create(widget("owner"));
    await eventually(() => expect(reasons).toEqual(["owner:added"]));
    const ref = {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: "owner",
      uid: owner.metadata.uid,
      controller: true,
    };
    await env.plane
      .resources(Gear)
      .create({ metadata: { name: "g", ownerReferences: [ref] }, spec: { teeth: 1 } });
    await eventually(() => expect(reasons).toEqual(["owner:added", "owner:owned"]));
  });

  it("reconciles the keys a watches() mapper returns", async () => {
    env = createTestEnv();
    const reasons: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile(w, ctx) {
          reasons.push(`${w.metadata.name}:${ctx.reason}`);
        },
      }).watches(Gear, (gear) => ({
        namespace: gear.metadata.namespace,
        name: `w-${gear.metadata.name}`,
      })),
    );
    await env.plane.resources(Widget).create(widget("w-g"));
    await eventually(() => expect(reasons).toEqual(["w-g:added"]));
    await env.plane.resources(Gear).create({ metadata: { name: "g" }, spec: { teeth: 1 } });
    await eventually(() => expect(reasons).toEqual(["w-g:added", "w-g:watched"]));
  });

  it("resyncs every object in the low lane, and reconcileAll triggers every key", async () => {
    env = createTestEnv();
    const reasons: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        resyncMs: 60_000,
        reconcile(_w, ctx) {
          reasons.push(ctx.reason);
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() => expect(reasons).toEqual(["added"]));
    await env.advance(66_000);
    await eventually(() => expect(reasons).toEqual(["added", "resync"]));
    env.manager.reconcileAll();
    await eventually(() => expect(reasons).toEqual(["added", "resync", "manual"]));
  });

  it("adds its finalizer before the first reconcile, and on delete runs cleanup until it succeeds, then removes it", async () => {
    env = createTestEnv();
    const log: string[] = [];
    let cleanups = 0;
    await env.start(
      controller(Widget, {
        name: "widgets",
        finalizer: {
          name: "test.setpoint.dev/cleanup",
          cleanup(w) {
            cleanups++;
            if (cleanups < 3) throw new Error("the world is not ready");
            log.push(`cleanup ${w.metadata.name}`);
          },
        },
        reconcile(w) {
          log.push(`reconcile ${w.metadata.name} finalizers=${w.metadata.finalizers?.join(",")}`);
        },
      }),
    );
    const widgets = env.plane.resources(Widget);
    await widgets.create(widget("a"));
    await eventually(() =>
      expect(log).toEqual(["reconcile a finalizers=test.setpoint.dev/cleanup"]),
    );
    await widgets.delete("a");
    expect((await widgets.get("a")).metadata.deletionTimestamp).toBeDefined();
    for (let i = 0; i < 50 && cleanups < 3; i++) await env.advance(10);
    await eventually(async () => {
      expect(log).toContain("cleanup a");
      await expect(widgets.get("a")).rejects.toMatchObject({ reason: "NotFound" });
    });
    expect(cleanups).toBe(3);
  });

  it("records events, folding repeats into a count", async () => {
    env = createTestEnv();
    await env.start(
      controller(Widget, {
        name: "widgets",
        async reconcile(_w, ctx) {
          await ctx.events.record({ reason: "Checked", message: "all good" });
          await ctx.events.record({ reason: "Checked", message: "all good" });
          await ctx.events.record({ type: "Warning", reason: "Odd", message: "something else" });
        },
      }),
    );
    const created = await env.plane.resources(Widget).create(widget("a"));
    await eventually(async () => {
      const { items } = await env!.plane.resources(Event).list();
      expect(items).toHaveLength(2);
      const checked = items.find(
        (e) => (e as unknown as { reason: string }).reason === "Checked",
      ) as unknown as Record<string, unknown>;
      expect(checked).toMatchObject({
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        type: "Normal",
        note: "all good",
        reportingController: "widgets",
        regarding: { kind: "Widget", name: "a", uid: created.metadata.uid },
        series: { count: 2 },
      });
    });
  });

  it("abandons a reconcile that ignores its aborted signal a second after the shutdown deadline (shutdown waited for the reconcile timeout)", async () => {
    env = createTestEnv({ shutdownTimeoutMs: 5_000 });
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcileTimeoutMs: 90_000,
        reconcile: () => new Promise<void>(() => {}), // ignores its signal, never settles
      }),
    );
    await env.plane.resources(Widget).create(widget("stuck"));
    await eventually(() => expect(env!.manager.runner("widgets")!.queue.processing).toBe(1));
    const before = env.clock.now();
    await env.stop();
    // The test env steps its clock a second at a time while the manager shuts down.
    expect(env.clock.now() - before).toBeLessThanOrEqual(5_000 + 1_000 + 1_000);
    env = undefined;
  });

  it("hands its shards back on shutdown though a reconcile ignores its signal (a shard waited for it forever)", async () => {
    const clock = new FakeClock({ wallNow: Date.now() });
    const plane = createControlPlane({ clock });
    await plane.resources(Widget).create(widget("stuck"));
    const manager = new Manager({
      plane,
      clock,
      logger: silentLogger(),
      shutdownTimeoutMs: 1_000,
      shards: { count: 2 },
    });
    let started = false;
    manager.add(
      controller(Widget, {
        name: "widgets",
        reconcile: () => {
          started = true;
          return new Promise<void>(() => {}); // ignores its signal, never settles
        },
      }),
    );
    const stop = new AbortController();
    let stopped = false;
    const running = manager.run({ signal: stop.signal }).then(() => {
      stopped = true;
    });
    for (let i = 0; i < 100 && !started; i++) await clock.advance(1_000);
    expect(started).toBe(true);
    stop.abort();
    const before = clock.now();
    for (let i = 0; i < 100 && !stopped; i++) await clock.advance(500);
    expect(stopped).toBe(true);
    expect(clock.now() - before).toBeLessThanOrEqual(1_000 + 1_000 + 500);
    await running;
    // Handed back: no shard Lease has a holder any more.
    const { items } = await plane.resources(Lease).list();
    const shardHolders = items
      .filter((l) => l.metadata.name.startsWith("widgets-shard-"))
      .map((l) => l.spec.holderIdentity ?? "");
    expect(shardHolders).toHaveLength(2);
    expect(shardHolders.filter((h) => h !== "")).toEqual([]);
    await plane.close();
  });

  it("shuts down gracefully: waits for reconciles in flight, then aborts their signals at the deadline", async () => {
    env = createTestEnv({ shutdownTimeoutMs: 5_000 });
    let aborted = false;
    await env.start(
      controller(Widget, {
        name: "widgets",
        async reconcile(_w, { signal }) {
          await new Promise<void>((resolve) =>
            signal.addEventListener("abort", () => resolve(), { once: true }),
          );
          aborted = true;
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("slow"));
    await eventually(() => expect(env!.manager.runner("widgets")!.queue.processing).toBe(1));
    await env.stop();
    expect(aborted).toBe(true);
    env = undefined;
  });
});

describe("conflicts", () => {
  it("retry a Conflict at once, logged at info without a stack, and back off only on a second one in a row", async () => {
    const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const recording = (bindings: Record<string, unknown> = {}): Logger => ({
      debug: (obj, msg) =>
        lines.push({ level: "debug", obj: { ...bindings, ...obj }, msg: msg ?? "" }),
      info: (obj, msg) =>
        lines.push({ level: "info", obj: { ...bindings, ...obj }, msg: msg ?? "" }),
      warn: (obj, msg) =>
        lines.push({ level: "warn", obj: { ...bindings, ...obj }, msg: msg ?? "" }),
      error: (obj, msg) =>
        lines.push({ level: "error", obj: { ...bindings, ...obj }, msg: msg ?? "" }),
      child: (more) => recording({ ...bindings, ...more }),
    });
    env = createTestEnv({ logger: recording() });
    let runs = 0;
    let conflicts = 1;
    await env.start(
      controller(Widget, {
        name: "widgets",
        async reconcile(w, { client }) {
          runs++;
          if (conflicts-- > 0)
            // A write from a stale read: the store answers Conflict.
            await client.update({ ...w, metadata: { ...w.metadata, resourceVersion: "1" } });
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await env.plane
      .resources(Widget)
      .patch("a", { type: "merge", patch: { metadata: { labels: { x: "1" } } } });
    // Retried at once: no time passes on the fake clock.
    await eventually(() => expect(runs).toBeGreaterThanOrEqual(2));
    const conflict = lines.find((l) => l.msg.startsWith("conflict"));
    expect(conflict).toMatchObject({
      level: "info",
      msg: "conflict: the object changed since it was read; retrying at once",
      obj: { controller: "widgets", key: "default/a" },
    });
    expect(conflict!.obj.err).toBeUndefined();
    expect(lines.filter((l) => l.level === "error")).toEqual([]);

    // Two in a row: the second backs off, and says when the next attempt comes.
    conflicts = 2;
    await env.plane
      .resources(Widget)
      .patch("a", { type: "merge", patch: { metadata: { labels: { x: "2" } } } });
    await eventually(() =>
      expect(lines.some((l) => /^conflict again: retrying in \d+ ms$/.test(l.msg))).toBe(true),
    );
  });

  it("say when the next attempt comes in every retry's log line", async () => {
    const messages: string[] = [];
    const recording: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (_obj, msg) => messages.push(msg ?? ""),
      child: () => recording,
    };
    env = createTestEnv({ logger: recording });
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile: () => {
          throw new Error("down");
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() => expect(messages).toContain("reconcile failed; retrying in 5 ms"));
    await env.advance(5);
    await eventually(() => expect(messages).toContain("reconcile failed; retrying in 10 ms"));
  });
});

describe("debug logging", () => {
  it("writes a line per reconcile with its key, reason, result and time only when the logger takes debug lines", async () => {
    for (const enabled of [true, false]) {
      const lines: { obj: Record<string, unknown>; msg: string }[] = [];
      const recording = (
        bindings: Record<string, unknown>,
      ): Logger & { isLevelEnabled(level: string): boolean } => ({
        isLevelEnabled: (level) => enabled || level !== "debug",
        debug: (obj, msg) => lines.push({ obj: { ...bindings, ...obj }, msg: msg ?? "" }),
        info: () => {},
        warn: () => {},
        error: () => {},
        child: (more) => recording({ ...bindings, ...more }),
      });
      env = createTestEnv({ logger: recording({}) });
      let reconciled = 0;
      await env.start(controller(Widget, { name: "widgets", reconcile: () => void reconciled++ }));
      await env.plane.resources(Widget).create(widget("a"));
      await eventually(() => expect(reconciled).toBe(1));
      await env.stop();
      env = undefined;
      const debugLines = lines.filter((l) => l.msg === "reconciled");
      if (enabled)
        expect(debugLines).toEqual([
          {
            msg: "reconciled",
            obj: {
              controller: "widgets",
              kind: "Widget",
              key: "default/a",
              reason: "added",
              result: "success",
              ms: 0,
            },
          },
        ]);
      else expect(debugLines).toEqual([]);
    }
  });
});

describe("a store that cannot be reached", () => {
  it("is logged as a warning naming its reason and the next attempt, without a stack trace", async () => {
    const clock = new FakeClock({ wallNow: Date.now() });
    const store = cuttable(new MemoryBackend({ clock }));
    store.cut();
    const plane = createControlPlane({ backend: store.backend, clock });
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const recording = (bindings: Record<string, unknown>): Logger => ({
      debug: () => {},
      info: () => {},
      warn: (obj, msg) => warnings.push({ obj: { ...bindings, ...obj }, msg: msg ?? "" }),
      error: () => {},
      child: (more) => recording({ ...bindings, ...more }),
    });
    const manager = new Manager({ plane, clock, logger: recording({}), shutdownTimeoutMs: 1_000 });
    manager.add(controller(Widget, { name: "widgets", reconcile: () => {} }));
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    await eventually(() => expect(warnings.length).toBeGreaterThan(0));
    const [warning] = warnings;
    expect(warning!.msg).toMatch(/^list\/watch failed; retrying in \d+ ms$/);
    expect(warning!.obj).toMatchObject({ kind: "Widget", reason: "ServiceUnavailable" });
    expect(warning!.obj.error).toContain("cut off");
    expect(warning!.obj.err).toBeUndefined();
    stop.abort();
    for (let i = 0; i < 20; i++) await clock.advance(1_000);
    await running;
  });
});

describe("fairness", () => {
  it("reconciles every object of the initial list while requeues keep all workers busy (only 6 of 12 were ever reconciled)", async () => {
    env = createTestEnv();
    const widgets = env.plane.resources(Widget);
    for (let i = 0; i < 12; i++) await widgets.create(widget(`w${i}`));
    const reconciled = new Set<string>();
    const clock = env.clock;
    await env.start(
      controller(Widget, {
        name: "widgets",
        concurrency: 3,
        async reconcile(w, { signal }) {
          reconciled.add(w.metadata.name);
          await sleep(clock, 150, signal);
          return requeueAfter(100);
        },
      }),
    );
    for (let t = 0; t < 10_000 && reconciled.size < 12; t += 50) await env.advance(50);
    expect(reconciled.size).toBe(12);
  });
});

describe("the event loop", () => {
  // A reconcile that is ready again at once runs on microtasks; without a yield, no timer,
  // socket or signal handler would ever run again. Each test lets a real timer fire and caps
  // the reconciles, so that a broken runner fails instead of hanging.
  const cap = 200_000;
  async function reconcilesUntilATimerFires(
    make: (state: { timerFired: boolean; runs: number }) => Parameters<TestEnv["start"]>[0],
  ): Promise<{ timerFired: boolean; runs: number }> {
    env = createTestEnv();
    const state = { timerFired: false, runs: 0 };
    await env.plane.resources(Widget).create(widget("hot"));
    // The timer is set by the first reconcile, once the loop spins.
    let timerSet = false;
    const setTimer = () => {
      if (timerSet) return;
      timerSet = true;
      setTimeout(() => {
        state.timerFired = true;
      }, 0);
    };
    const counted = new Proxy(state, {
      get: (target, property) => {
        if (property === "runs") setTimer();
        return target[property as keyof typeof target];
      },
    });
    await env.start(make(counted));
    await eventually(() => expect(state.timerFired || state.runs >= cap).toBe(true));
    // The loop stops counting once the timer fired: reaching the cap means it never got a turn.
    expect(state.runs).toBeLessThan(cap);
    return state;
  }

  it("runs timers while a reconcile returns requeueAfter(0) (requeueAfter(0) froze the process)", async () => {
    const state = await reconcilesUntilATimerFires((state) =>
      controller(Widget, {
        name: "widgets",
        reconcile: () => (state.timerFired || ++state.runs >= cap ? done() : requeueAfter(0)),
      }),
    );
    expect(state.timerFired).toBe(true);
    expect(state.runs).toBeGreaterThan(0);
  });

  it("runs timers while an errorPolicy answers requeueAfter(0)", async () => {
    const state = await reconcilesUntilATimerFires((state) =>
      controller(Widget, {
        name: "widgets",
        reconcile: () => {
          if (state.timerFired || ++state.runs >= cap) return done();
          throw new Error("again");
        },
        errorPolicy: () => requeueAfter(0),
      }),
    );
    expect(state.timerFired).toBe(true);
  });

  it("runs timers while a reconcile keeps changing its own object in the memory store", async () => {
    const state = await reconcilesUntilATimerFires((state) =>
      controller(Widget, {
        name: "widgets",
        async reconcile(w, ctx) {
          if (state.timerFired || ++state.runs >= cap) return;
          await ctx.client.patch(w.metadata.name, {
            type: "merge",
            patch: { metadata: { labels: { run: String(state.runs) } } },
          });
        },
      }),
    );
    expect(state.timerFired).toBe(true);
    expect(state.runs).toBeGreaterThan(1);
  });
});

describe("the event loop, with sources and slow reconciles", () => {
  it("runs timers while an async iterable source yields without ever waiting (its loop froze the process)", async () => {
    env = createTestEnv();
    const cap = 300_000;
    let yielded = 0;
    let timerFired = false;
    let yieldedWhenFired = -1;
    async function* endless() {
      for (;;) {
        if (yielded === 1)
          setTimeout(() => {
            timerFired = true;
            yieldedWhenFired = yielded;
          }, 0);
        if (timerFired || yielded >= cap) return;
        yield `item-${yielded++ % 10}`;
      }
    }
    await env.start(
      controller<string>({ name: "items", reconcile: () => {} }).source(
        fromAsyncIterable(endless(), { key: (item) => item }),
      ),
    );
    await eventually(() => expect(timerFired || yielded >= cap).toBe(true));
    expect(yieldedWhenFired).toBeGreaterThan(0);
    expect(yieldedWhenFired).toBeLessThan(cap);
  });

  it("runs timers between reconciles that each burn CPU past the turn budget and ask to run again at once", async () => {
    env = createTestEnv();
    await env.plane.resources(Widget).create(widget("heavy"));
    let runs = 0;
    let runsWhenFired = -1;
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcile: () => {
          if (++runs === 1) setTimeout(() => (runsWhenFired = runs), 0);
          if (runsWhenFired >= 0 || runs > 50) return done();
          const until = performance.now() + 20;
          while (performance.now() < until); // 20 ms of CPU
          return requeueAfter(0);
        },
      }),
    );
    await eventually(() => expect(runsWhenFired >= 0 || runs > 50).toBe(true));
    // Checked at the 1st, 2nd, 4th… handout of a turn: a 20 ms reconcile is caught after two.
    expect(runsWhenFired).toBeGreaterThan(0);
    expect(runsWhenFired).toBeLessThanOrEqual(4);
  });
});

describe("metrics", () => {
  it("are exported under controller-runtime's names with sensible values after a few reconciles", async () => {
    env = createTestEnv();
    await env.start(controller(Widget, { name: "widgets", reconcile: () => requeueAfter(1_000) }));
    for (const name of ["a", "b", "c"]) await env.plane.resources(Widget).create(widget(name));
    await eventually(async () =>
      expect(await env!.registry.metrics()).toMatch(
        /controller_runtime_reconcile_total\{controller="widgets",result="requeue_after"\} 3/,
      ),
    );
    const text = await env.registry.metrics();
    for (const name of [
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "controller_runtime_active_workers",
      "workqueue_depth",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_work_duration_seconds_bucket",
      "workqueue_retries_total",
    ]) {
      expect(text).toContain(`${name}{`);
    }
    expect(text).toMatch(/workqueue_adds_total\{name="widgets"\} 3/);
    expect(text).toMatch(
      /controller_runtime_reconcile_time_seconds_count\{controller="widgets"\} 3/,
    );
  });
});

describe("feeders", () => {
  it("give the reconcile of a controller without a kind the polled item, and do not pull a requested requeue forward (a poll does not pull a requested requeue forward)", async () => {
    env = createTestEnv();
    const calls: string[] = [];
    let items = [
      { id: "x", size: 1 },
      { id: "y", size: 2 },
    ];
    await env.start(
      controller<{ id: string; size: number }>({
        name: "buckets",
        reconcile(item, ctx) {
          calls.push(`${item.id}=${item.size}@${env!.clock.now()}:${ctx.reason}`);
          return item.id === "x" ? requeueAfter(10_000) : done();
        },
      }).source(poll({ everyMs: 1_000, list: () => items, key: (i) => i.id })),
    );
    await eventually(() =>
      expect(calls).toEqual([`x=1@${env!.clock.now()}:source`, `y=2@${env!.clock.now()}:source`]),
    );
    const t0 = env.clock.now();
    calls.length = 0;
    await env.advance(5_000);
    // y was reconciled on each poll (nothing pending); x waits for its requested requeue.
    expect(calls.filter((c) => c.startsWith("x"))).toEqual([]);
    await env.advance(5_000);
    await eventually(() =>
      expect(calls.filter((c) => c.startsWith("x"))).toEqual([`x=1@${t0 + 10_000}:requeue`]),
    );
    items = [{ id: "x", size: 9 }];
    calls.length = 0;
    await env.advance(10_000);
    await eventually(() => expect(calls.some((c) => c.startsWith("x=9"))).toBe(true));
    // y is no longer listed: one last reconcile to clean up, then nothing.
    expect(calls.filter((c) => c.startsWith("y")).map((c) => c.replace(/@\d+/, ""))).toEqual([
      "y=2:gone",
    ]);
  });

  it("reconcile an item a poll no longer lists once more, with reason gone and the item as last listed, then forget it", async () => {
    env = createTestEnv();
    const calls: string[] = [];
    let items = [
      { id: "x", size: 1 },
      { id: "y", size: 2 },
    ];
    await env.start(
      controller<{ id: string; size: number }>({
        name: "buckets",
        reconcile(item, ctx) {
          calls.push(`${item.id}=${item.size}:${ctx.reason}`);
        },
      }).source(poll({ everyMs: 1_000, list: () => items, key: (i) => i.id })),
    );
    await eventually(() => expect(calls).toEqual(["x=1:source", "y=2:source"]));
    calls.length = 0;
    items = [{ id: "x", size: 1 }];
    await env.advance(1_000);
    await eventually(() => expect(calls).toContain("y=2:gone"));
    calls.length = 0;
    await env.advance(3_000);
    expect(calls.filter((c) => c.startsWith("y"))).toEqual([]);
    env.manager.reconcileAll();
    await env.advance(0);
    expect(calls.filter((c) => c.startsWith("y"))).toEqual([]);
  });

  it("keep polling after a list that rejects or hangs", async () => {
    env = createTestEnv();
    let polls = 0;
    const seen: string[] = [];
    await env.start(
      controller<string>({ name: "flaky", reconcile: (item) => void seen.push(item) }).source(
        poll({
          everyMs: 1_000,
          key: (s) => s,
          list: () => {
            polls++;
            if (polls === 1) throw new Error("down");
            if (polls === 2) return new Promise<string[]>(() => {});
            return ["ok"];
          },
        }),
      ),
    );
    for (let i = 0; i < 6 && seen.length === 0; i++) await env.advance(1_000);
    await eventually(() => expect(seen).toEqual(["ok"]));
    expect(polls).toBeGreaterThanOrEqual(3);
  });

  it("feed a controller from an async iterable", async () => {
    env = createTestEnv();
    const seen: string[] = [];
    async function* messages() {
      yield { order: "o1", state: "new" };
      yield { order: "o2", state: "new" };
    }
    await env.start(
      controller<{ order: string; state: string }>({
        name: "orders",
        reconcile: (m) => void seen.push(m.order),
      }).source(fromAsyncIterable(messages(), { key: (m) => m.order })),
    );
    await eventually(() => expect(seen.sort()).toEqual(["o1", "o2"]));
  });
});

describe("status helpers", () => {
  it("move lastTransitionTime only when a condition's status flips", () => {
    const t1 = new Date("2026-01-01T00:00:00Z");
    const t2 = new Date("2026-01-01T01:00:00Z");
    let status = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Starting", message: "0/3" },
      t1,
    );
    status = setCondition(
      status,
      { type: "Ready", status: "False", reason: "Starting", message: "1/3" },
      t2,
    );
    expect(getCondition(status, "Ready")).toMatchObject({
      message: "1/3",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
    status = setCondition(
      status,
      { type: "Ready", status: "True", reason: "Running", message: "3/3" },
      t2,
    );
    expect(getCondition(status, "Ready")?.lastTransitionTime).toBe("2026-01-01T01:00:00Z");
    status = setCondition(
      status,
      { type: "Stalled", status: "False", reason: "Fine", message: "" },
      t2,
    );
    expect(status.conditions.map((c) => c.type)).toEqual(["Ready", "Stalled"]);
  });

  it("write status only when it changed, with observedGeneration stamped", async () => {
    const localEnv = createTestEnv();
    const widgets = localEnv.plane.resources(Widget);
    const created: WidgetObject = await widgets.create(widget("a"));
    const written = await writeStatus(widgets, created, { seen: 1 });
    expect(written.status).toEqual({ seen: 1, observedGeneration: 1 });
    const again = await writeStatus(widgets, written, { seen: 1 });
    expect(again.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    await localEnv.stop();
  });
});
