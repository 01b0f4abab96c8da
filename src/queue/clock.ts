/**
 * The time source every timed part of setpoint takes, so that tests step time instead of
 * sleeping. Queue, scheduler, lease, watcher and store code never calls `Date.now()`,
 * `performance.now()` or `setTimeout` directly for what it schedules. The one exception is the
 * work queue's turn budget, which measures how long it has held the event loop: that is real
 * CPU time, which no fake clock models (a fake clock stands still while code spins).
 */

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
}

/**
 * The real clock: `performance.now()`, `Date.now()` and unref'd `setTimeout`s, which never
 * keep the process alive on their own.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, callback) {
    const handle = setTimeout(callback, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

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
