/**
 * Rate limiters for retries, as client-go's `workqueue` composes them: a per-key exponential
 * backoff, a global token bucket, and the larger of several.
 */
import type { Clock } from "../model/clock.js";

/** Decides how long a key waits before its next retry. */
export interface RateLimiter<K = string> {
  /** The delay before `key`'s next try, counting this one as a failure. */
  when(key: K): number;
  /** Forgets `key`'s failures: its next delay starts from the beginning. */
  forget(key: K): void;
  /** How many failures of `key` are counted. */
  retries(key: K): number;
}

/** Options of {@link ExponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** The first delay. @default 5 */
  readonly baseMs?: number;
  /**
   * The largest delay. client-go caps at 1,000 s; setpoint at 5 minutes, so that a key failing
   * for hours is still tried every few minutes. @default 300_000
   */
  readonly maxMs?: number;
}

/**
 * Per-key exponential backoff: `baseMs`, doubling with each failure, capped at `maxMs`, reset
 * by `forget`.
 *
 * @example
 * ```ts
 * const backoff = new ExponentialBackoff({ baseMs: 5, maxMs: 60_000 });
 * backoff.when("a"); // 5
 * backoff.when("a"); // 10
 * ```
 */
export class ExponentialBackoff<K = string> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(options: ExponentialBackoffOptions = {}) {
    const { baseMs = 5, maxMs = 300_000 } = options;
    if (!(baseMs > 0)) throw new RangeError(`baseMs (${baseMs}) must be positive`);
    if (!(maxMs >= baseMs))
      throw new RangeError(`maxMs (${maxMs}) must be at least baseMs (${baseMs})`);
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  when(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    // 2 ** 60 overflows nothing but the cap: stop doubling once past it.
    return failures > 52 ? this.maxMs : Math.min(this.maxMs, this.baseMs * 2 ** failures);
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }
}

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second. @default 10 */
  readonly perSecond?: number;
  /** The most tokens held at once: how many retries may go at once. @default 100 */
  readonly burst?: number;
  readonly clock: Clock;
}

/**
 * A global token bucket over all keys (client-go's `BucketRateLimiter`): each retry takes a
 * token; when none is left, the retry waits for the next. Bounds the retry rate of a whole
 * controller, whatever the number of failing keys.
 */
export class TokenBucket<K = string> implements RateLimiter<K> {
  private tokens: number;
  private last: number;
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly clock: Clock;

  constructor(options: TokenBucketOptions) {
    const { perSecond = 10, burst = 100, clock } = options;
    if (!(perSecond > 0)) throw new RangeError(`perSecond (${perSecond}) must be positive`);
    if (!(burst >= 1)) throw new RangeError(`burst (${burst}) must be at least 1`);
    this.perSecond = perSecond;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: K): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    this.tokens -= 1; // reserve: a negative balance is a wait
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.perSecond;
  }

  forget(_key: K): void {}

  retries(_key: K): number {
    return 0;
  }
}

/** The largest delay of several limiters (client-go's `MaxOfRateLimiter`). */
export class MaxOf<K = string> implements RateLimiter<K> {
  private readonly limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    if (limiters.length === 0) throw new RangeError("MaxOf needs at least one rate limiter");
    this.limiters = limiters;
  }

  when(key: K): number {
    let delay = 0;
    for (const limiter of this.limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  forget(key: K): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  retries(key: K): number {
    let retries = 0;
    for (const limiter of this.limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }
}
