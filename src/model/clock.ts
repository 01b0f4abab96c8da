/**
 * The time source every timed part of setpoint takes, so that tests step time instead of
 * sleeping. Queue, scheduler, lease, watcher and store code never calls `Date.now()`,
 * `performance.now()` or `setTimeout` directly for what it schedules. The one exception is the
 * `TurnBudget` (queue/turn-budget.ts), which measures how long work has held the event loop: that is
 * real CPU time, which no fake clock models (a fake clock stands still while code spins).
 */

import type { TurnBudget } from "../queue/turn-budget.js";

/** A pending timer; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

/** A source of time and timers. */
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin: for durations, deadlines and leases. */
  now(): number;
  /** Milliseconds since the Unix epoch: for timestamps people read (`creationTimestamp`). */
  wallNow(): number;
  /** Runs `callback` once `ms` milliseconds from now. */
  setTimer(ms: number, callback: () => void): Timer;
  /**
   * Uniform in [0, 1): for jitter and generated names and uids. A deterministic simulation
   * gives a seeded one, so that one seed is one history. @default Math.random
   */
  random?(): number;
  /**
   * How long this process has been running code, in ms, for the {@link TurnBudget} that keeps
   * loops of ready work from starving the event loop. A deterministic simulation gives a count
   * that moves with every reading. @default performance.now()
   */
  cpuNow?(): number;
}

/**
 * The real clock: `performance.now()`, `Date.now()` and unref'd `setTimeout`s, which never
 * keep the process alive on their own.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, callback) {
    // Node fires a setTimeout of more than 2^31 - 1 ms (about 24.8 days) after 1 ms: a longer
    // delay waits in steps. An infinite one never fires.
    if (ms === Number.POSITIVE_INFINITY) return { cancel: () => {} };
    let handle: NodeJS.Timeout;
    const arm = (left: number) => {
      const step = Math.min(Math.max(0, left), maxTimeoutMs);
      handle = setTimeout(() => (left > maxTimeoutMs ? arm(left - step) : callback()), step);
      handle.unref();
    };
    arm(Number.isNaN(ms) ? 0 : ms);
    return { cancel: () => clearTimeout(handle) };
  },
};

/** The longest delay one setTimeout keeps (2^31 - 1 ms); Node fires longer ones after 1 ms. */
const maxTimeoutMs = 2 ** 31 - 1;

/** Resolves after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = clock.setTimer(ms, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** What {@link within} resolves to when its time ran out first. */
export const timedOut: unique symbol = Symbol("timed out");

/**
 * `promise`'s value, or {@link timedOut} once `ms` have passed on `clock` (or `signal` aborted)
 * first: for calls into a store that may hang (a frozen connection), which must not hold up a
 * lease's renewal or a shutdown. The call itself goes on; its outcome after the deadline is
 * dropped (a late rejection is not reported as unhandled).
 */
export function within<T>(
  clock: Clock,
  ms: number,
  promise: Promise<T>,
  signal?: AbortSignal,
): Promise<T | typeof timedOut> {
  if (signal?.aborted) {
    promise.catch(() => {});
    return Promise.resolve(timedOut);
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = () => {
      settled = true;
      timer.cancel();
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      resolve(timedOut);
    };
    const timer = clock.setTimer(ms, onAbort);
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}
