import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeClock } from "../testing/fake-clock.js";
import { systemClock, timedOut, within } from "./clock.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("systemClock", () => {
  it("waits out delays longer than a setTimeout can hold (30 days fired after 1 ms)", () => {
    vi.useFakeTimers();
    const thirtyDays = 30 * 24 * 3600_000;
    let fired = 0;
    systemClock.setTimer(thirtyDays, () => fired++);
    vi.advanceTimersByTime(1_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(thirtyDays - 1_000 - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it("never fires an infinite delay, and cancels a long one between its steps", () => {
    vi.useFakeTimers();
    let fired = 0;
    systemClock.setTimer(Number.POSITIVE_INFINITY, () => fired++);
    const long = systemClock.setTimer(2 ** 31 + 10, () => fired++);
    vi.advanceTimersByTime(2 ** 31);
    long.cancel();
    vi.advanceTimersByTime(3_600_000);
    expect(fired).toBe(0);
  });
});

describe("within", () => {
  it("gives the promise's value when it comes in time, and timedOut when it does not", async () => {
    const clock = new FakeClock();
    expect(await within(clock, 100, Promise.resolve(7))).toBe(7);
    const hanging = within(clock, 100, new Promise<number>(() => {}));
    await clock.advance(100);
    expect(await hanging).toBe(timedOut);
    const aborted = new AbortController();
    const stopped = within(clock, 100, new Promise<number>(() => {}), aborted.signal);
    aborted.abort();
    expect(await stopped).toBe(timedOut);
  });
});
