import type { Clock, Timer } from "../model/clock.js";

interface PendingTimer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A {@link Clock} whose time moves only when a test says so. Timers fire in due order (ties
 * in the order they were set) during {@link FakeClock.advance}, with microtasks run between
 * them so that code awaiting a timer proceeds before the next fires.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const backend = new MemoryBackend({ clock });
 * await clock.advance(60_000); // a quiet watch now sends its bookmark
 * ```
 */
export class FakeClock implements Clock {
  private monotonic: number;
  private wall: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  /**
   * @param start.now the monotonic time to start at. @default 0
   * @param start.wallNow the wall-clock epoch milliseconds to start at. @default 2026-01-01T00:00:00Z
   */
  constructor(start: { now?: number; wallNow?: number } = {}) {
    this.monotonic = start.now ?? 0;
    this.wall = start.wallNow ?? Date.UTC(2026, 0, 1);
  }

  now(): number {
    return this.monotonic;
  }

  wallNow(): number {
    return this.wall;
  }

  setTimer(ms: number, callback: () => void): Timer {
    const timer: PendingTimer = {
      due: this.monotonic + Math.max(0, ms),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** When the next timer falls due (monotonic ms), or `undefined` when none is set. */
  get nextTimerAt(): number | undefined {
    let next: number | undefined;
    for (const t of this.timers)
      if (!t.cancelled && (next === undefined || t.due < next)) next = t.due;
    return next;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): ms must not be negative`);
    const target = this.monotonic + ms;
    await flushMicrotasks();
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: PendingTimer | undefined;
      for (const t of this.timers) {
        if (
          t.due <= target &&
          (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq))
        )
          next = t;
      }
      if (next === undefined) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.wall += next.due - this.monotonic;
      this.monotonic = next.due;
      next.callback();
      await flushMicrotasks();
    }
    this.wall += target - this.monotonic;
    this.monotonic = target;
    await flushMicrotasks();
  }
}

/** Lets every queued promise continuation run. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
