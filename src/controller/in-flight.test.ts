import { describe, expect, it } from "vitest";
import { FakeClock, flushMicrotasks } from "../testing/fake-clock.js";
import { abandonAfterMs, InFlight } from "./in-flight.js";

/** A call that settles when the test says. */
function call() {
  let settle!: () => void;
  const promise = new Promise<string>((resolve) => {
    settle = () => resolve("settled");
  });
  return { promise, settle };
}

describe("reconciles in flight", () => {
  it("abort the signal of one past its timeout, and abandon it a second later when it ignores it", async () => {
    const clock = new FakeClock();
    const inFlight = new InFlight(clock);
    const entry = inFlight.begin("shop/a", 10_000);
    const { promise, settle } = call();
    let outcome: string | undefined;
    void entry.wait(promise).then((o) => (outcome = o));
    await clock.advance(9_999);
    expect(entry.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(entry.signal.aborted).toBe(true);
    expect(entry.signal.reason.message).toBe("reconcile of shop/a timed out after 10000 ms");
    await clock.advance(abandonAfterMs - 1);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    expect(outcome).toBe("abandoned");
    // Abandoned, but still running until the call settles.
    expect(inFlight.size).toBe(1);
    expect([...inFlight.stillRunning().keys()]).toEqual(["shop/a"]);
    settle();
    await inFlight.stillRunning().get("shop/a");
    inFlight.end(entry);
    expect(inFlight.size).toBe(0);
  });

  it("let one that settles in time be, with one timer for all", async () => {
    const clock = new FakeClock();
    const inFlight = new InFlight(clock);
    const entries = ["a", "b", "c"].map((key) => inFlight.begin(key, 10_000));
    expect(clock.pendingTimers).toBe(1);
    const { promise, settle } = call();
    const waited = entries[0]!.wait(promise);
    settle();
    expect(await waited).toBe("settled");
    expect(entries[0]!.aborted).toBe(false);
  });

  it("settle the reconciles of a shard: abort those of its keys, resolve once they settle or are abandoned", async () => {
    const clock = new FakeClock();
    const inFlight = new InFlight(clock);
    const polite = inFlight.begin("shop/polite", 300_000);
    const stubborn = inFlight.begin("shop/stubborn", 300_000);
    const other = inFlight.begin("elsewhere/x", 300_000);
    const politeCall = call();
    void polite.wait(politeCall.promise);
    void stubborn.wait(new Promise<never>(() => {}));
    void other.wait(new Promise<never>(() => {}));
    polite.signal.addEventListener("abort", () => {
      politeCall.settle();
      void politeCall.promise.then(() => inFlight.end(polite));
    });
    let settled = false;
    void inFlight
      .settle((key) => key.startsWith("shop/"), new Error("shard 3 moved"))
      .then(() => (settled = true));
    await flushMicrotasks();
    expect(polite.aborted && stubborn.aborted).toBe(true);
    expect(other.aborted).toBe(false);
    expect(settled).toBe(false);
    await clock.advance(abandonAfterMs);
    await flushMicrotasks();
    expect(stubborn.abandoned).toBe(true);
    expect(settled).toBe(true);
  });
});
