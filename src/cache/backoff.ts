import type { Clock } from "../model/clock.js";

/** Options of {@link JitteredBackoff}; the defaults are kube-runtime's watcher backoff. */
export interface JitteredBackoffOptions {
  /** @default 800 */
  readonly initialMs?: number;
  /** @default 30_000 */
  readonly maxMs?: number;
  /** A failure after this long without one starts again from `initialMs`. @default 120_000 */
  readonly resetAfterMs?: number;
  readonly clock: Clock;
  /** Uniform in [0, 1). @default the clock's `random`, else Math.random */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter in the upper half: each delay is drawn from
 * [d/2, d) where d doubles from `initialMs` to `maxMs`; a quiet period resets it.
 */
export class JitteredBackoff {
  private delay: number;
  private lastFailure = Number.NEGATIVE_INFINITY;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(options: JitteredBackoffOptions) {
    const {
      initialMs = 800,
      maxMs = 30_000,
      resetAfterMs = 120_000,
      clock,
      random = clock.random?.bind(clock) ?? Math.random,
    } = options;
    if (!(initialMs > 0)) throw new RangeError(`initialMs (${initialMs}) must be positive`);
    if (!(maxMs >= initialMs))
      throw new RangeError(`maxMs (${maxMs}) must be at least initialMs (${initialMs})`);
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.resetAfterMs = resetAfterMs;
    this.clock = clock;
    this.random = random;
    this.delay = initialMs;
  }

  /** The wait before the next attempt after a failure now. */
  next(): number {
    const now = this.clock.now();
    if (now - this.lastFailure > this.resetAfterMs) this.delay = this.initialMs;
    this.lastFailure = now;
    const ceiling = this.delay;
    this.delay = Math.min(this.maxMs, this.delay * 2);
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }
}
