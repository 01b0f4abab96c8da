import { describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { FakeClock } from "../testing/fake-clock.js";
import { cuttable } from "../testing/fixtures.js";
import { defaultLeaseTiming, LeaderElector, type Leadership } from "./leader-election.js";
import { Lease } from "./lease.js";

const timing = defaultLeaseTiming;
const leaseKey = { namespace: "default", name: "lead" };

function elector(backend: Backend, clock: FakeClock, identity: string) {
  return new LeaderElector(backend, { name: "lead", identity, clock, ...timing });
}

/** Advances the clock in steps until `promise` settles or `ms` have passed; returns the time taken. */
async function within(clock: FakeClock, ms: number, promise: Promise<unknown>): Promise<number> {
  let settled = false;
  void promise.then(() => (settled = true));
  const start = clock.now();
  while (!settled && clock.now() - start < ms) await clock.advance(100);
  if (!settled) throw new Error(`did not settle within ${ms} ms`);
  return clock.now() - start;
}

describe("leader election", () => {
  it("checks its options with client-go's rules and exact messages", () => {
    const backend = new MemoryBackend();
    const make = (o: object) => () => new LeaderElector(backend, { name: "x", ...o });
    expect(make({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      "leaseDurationMs (10000) must be greater than renewDeadlineMs (10000)",
    );
    expect(make({ renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(
      "renewDeadlineMs (2000) must be greater than retryPeriodMs × 1.2 (2400)",
    );
    expect(make({ leaseDurationMs: 3, renewDeadlineMs: 2, retryPeriodMs: -1 })).toThrow(
      "retryPeriodMs must be greater than zero",
    );
    expect(make({ name: "" })).toThrow("the Lease name must not be empty");
    expect(make({ identity: "" })).toThrow("identity must not be empty");
  });

  it("elects exactly one of three candidates, at term 0", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const stop = new AbortController();
    const terms = ["a", "b", "c"].map((id) => elector(backend, clock, id).acquire(stop.signal));
    const first = (await Promise.race(terms))!;
    await clock.advance(30_000);
    const lease = await backend.get(Lease, leaseKey);
    expect(lease.spec).toMatchObject({ leaseTransitions: 0 });
    expect(first.fencingToken).toBe(0);
    expect(first.signal.aborted).toBe(false);
    stop.abort();
    expect((await Promise.all(terms)).filter((t) => t !== undefined)).toHaveLength(1);
    await first.release();
  });

  it("lets a standby take a killed leader's lease within lease duration + 2 retries, as a new term, after the leader stood down", async () => {
    const clock = new FakeClock();
    const store = new MemoryBackend({ clock });
    const a = cuttable(store);
    const stop = new AbortController();
    const aTerm = (await elector(a.backend, clock, "a").acquire(stop.signal))!;
    const bTerm = elector(store, clock, "b").acquire(stop.signal);
    await clock.advance(5_000);
    a.cut(); // a is gone: it renews no more.
    const killedAt = clock.now();
    let aStoodDownAt: number | undefined;
    aTerm.signal.addEventListener("abort", () => (aStoodDownAt = clock.now()));
    const tookOver = await within(clock, timing.leaseDurationMs + 2 * 2_400 + 2_000, bTerm);
    const b = (await bTerm)!;
    expect(tookOver).toBeLessThanOrEqual(timing.leaseDurationMs + 2 * 2_400 + 2_000);
    expect(b.fencingToken).toBe(1);
    // a stood down (its reconciles aborted) on its own renew deadline, before b took over.
    expect(aStoodDownAt).toBeDefined();
    expect(aStoodDownAt! - killedAt).toBeLessThanOrEqual(timing.renewDeadlineMs + 2_000);
    expect(aStoodDownAt!).toBeLessThan(killedAt + tookOver);
    stop.abort();
    await b.release();
  });

  it("hands the lease over within one retry period on release", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const stop = new AbortController();
    const a = (await elector(backend, clock, "a").acquire(stop.signal))!;
    const bTerm = elector(backend, clock, "b").acquire(stop.signal);
    await clock.advance(4_000);
    await a.release();
    expect(a.signal.aborted).toBe(true);
    const took = await within(clock, 2_400 + 100, bTerm);
    expect(took).toBeLessThanOrEqual(2_500);
    const b = (await bTerm)!;
    expect(b.fencingToken).toBe(1);
    stop.abort();
    await b.release();
  });

  it("treats a lease edited into nonsense as free, and never trusts its timestamps", async () => {
    const clock = new FakeClock();
    const backend = new MemoryBackend({ clock });
    const stop = new AbortController();
    for (const spec of [
      { holderIdentity: "", leaseDurationSeconds: 15, leaseTransitions: 4 },
      { holderIdentity: "ghost", leaseDurationSeconds: -5, leaseTransitions: 4 },
      { holderIdentity: "ghost", leaseTransitions: 4 },
    ]) {
      await backend.create(Lease, { metadata: { ...leaseKey }, spec });
      const term = (await elector(backend, clock, "me").acquire(stop.signal)) as Leadership;
      expect(term.fencingToken).toBe(5);
      await term.release();
      await backend.delete(Lease, leaseKey);
    }
    // A renew time far in the future does not keep the lease: only an unchanged record does.
    await backend.create(Lease, {
      metadata: { ...leaseKey },
      spec: {
        holderIdentity: "ghost",
        leaseDurationSeconds: 15,
        renewTime: "2999-01-01T00:00:00.000Z",
        leaseTransitions: 1,
      },
    });
    const pending = elector(backend, clock, "me").acquire(stop.signal);
    const took = await within(clock, 15_000 + 2_400 + 200, pending);
    expect(took).toBeGreaterThanOrEqual(15_000);
    const term = (await pending)!;
    expect(term.fencingToken).toBe(2);
    stop.abort();
    await term.release();
  });
});

/** A view of a store whose calls can be made to hang, as over a frozen connection. */
function freezable(backend: Backend): { backend: Backend; freeze(): void } {
  let frozen = false;
  const view = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => (frozen ? new Promise(() => {}) : value.apply(target, args));
    },
  });
  return { backend: view, freeze: () => (frozen = true) };
}

describe("leader election over a store that hangs", () => {
  it("steps down when a renewal hangs past the renew deadline (a frozen connection kept a leader leading)", async () => {
    const clock = new FakeClock();
    const store = freezable(new MemoryBackend({ clock }));
    const leader = (await elector(store.backend, clock, "a").tryAcquire())!;
    expect(leader).toBeDefined();
    store.freeze();
    const lostAfter = await within(
      clock,
      30_000,
      new Promise((resolve) => leader.signal.addEventListener("abort", resolve)),
    );
    // The last renewal was at 0; the renew deadline is 10 s (checked in 100 ms steps).
    expect(lostAfter).toBeLessThanOrEqual(timing.renewDeadlineMs + 100);
  });

  it("releases within a retry period though the store hangs, and a campaign ends when its signal aborts", async () => {
    const clock = new FakeClock();
    const store = freezable(new MemoryBackend({ clock }));
    const leader = (await elector(store.backend, clock, "a").tryAcquire())!;
    store.freeze();
    expect(await within(clock, 30_000, leader.release())).toBeLessThanOrEqual(
      timing.retryPeriodMs + 100,
    );
    const stop = new AbortController();
    const campaign = elector(store.backend, clock, "b").acquire(stop.signal);
    stop.abort();
    expect(await campaign).toBeUndefined();
  });
});
