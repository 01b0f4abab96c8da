/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** Give up after this long and throw the last failure. @default 5_000 */
  readonly timeoutMs?: number;
  /** Pause between attempts. @default 5 */
  readonly intervalMs?: number;
}

/**
 * Retries `check` until it returns (or resolves) without throwing, and returns its result; after
 * `timeoutMs` throws its last error. For asserting on things that happen asynchronously, in
 * place of sleeping.
 *
 * @example
 * ```ts
 * await eventually(async () => {
 *   expect((await widgets.get("front")).status?.readyReplicas).toBe(2);
 * });
 * ```
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<T> {
  const { timeoutMs = 5_000, intervalMs = 5 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (performance.now() >= deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves with `promise`'s value, or rejects with a clear message once `timeoutMs` passes.
 *
 * @example
 * ```ts
 * const event = await withDeadline(watch.next(), 1_000, "the ADDED event");
 * ```
 */
export async function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link untilReached}. */
export interface UntilReachedOptions {
  /** Give up once the measure has not moved toward the target for this long. @default 20_000 */
  readonly stallMs?: number;
  /** Pause between measurements. @default 200 */
  readonly intervalMs?: number;
  /** What is measured, for the error message. @default "the measure" */
  readonly what?: string;
}

/**
 * Waits until `measure()` reaches `target`, failing only when it stops moving toward it for
 * `stallMs`: the wait is bounded by progress, not by wall time, so a test of slow work passes on
 * a busy machine (where the work is slower, not stuck) and still fails fast when it is stuck.
 *
 * @example
 * ```ts
 * await untilReached(async () => (await reconciledCount()), 10_000, { what: "reconciled keys" });
 * ```
 */
export async function untilReached(
  measure: () => number | Promise<number>,
  target: number,
  options: UntilReachedOptions = {},
): Promise<void> {
  const { stallMs = 20_000, intervalMs = 200, what = "the measure" } = options;
  let best = Number.NEGATIVE_INFINITY;
  let movedAt = performance.now();
  for (;;) {
    const value = await measure();
    if (value >= target) return;
    if (value > best) {
      best = value;
      movedAt = performance.now();
    } else if (performance.now() - movedAt >= stallMs)
      throw new Error(
        `${what} stopped at ${best} of ${target}: no progress for ${Math.round(stallMs / 1000)} s`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
