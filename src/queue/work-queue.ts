/**
 * The work queue: keys to reconcile, handed to workers.
 *
 * ## Contract (client-go's `workqueue`, with kube-runtime's scheduling)
 * - **Dedup**: a key waits in the queue at most once, however often it is added.
 * - **Stingy**: a key is never handed to two workers at once. Adds that arrive while it is being
 *   processed mark it dirty; it is queued once more when its worker calls `done`.
 * - **Fair**: keys are handed out in the order they became ready, normal lane first.
 * - `add(key)` — ready now. `addAfter(key, ms)` — ready later; a key has one pending time and
 *   the earliest wins (an `add` is the earliest of all and cancels a later one).
 *   `addRateLimited(key)` — ready after the rate limiter's delay (per-key exponential backoff by
 *   default); `forget(key)` resets it.
 * - `addDebounced(key, ms, maxWaitMs)` — trailing-edge debounce (kube-runtime's
 *   `Config::debounce`): ready `ms` after the last of a burst of calls, but at most `maxWaitMs`
 *   after the first, so a key that keeps changing still goes (bounded wait holds). A key already
 *   ready stays as it is (its worker will see the latest state); a key due sooner (a requeue, a
 *   retry) keeps its time.
 * - `ensure(key)` — for polling feeders: does nothing if the key is queued, scheduled or being
 *   processed, so a poll never pulls a requested requeue forward.
 * - **Priorities**: adds marked `low` (initial lists, resyncs, polls) wait in a second lane. While
 *   both lanes hold keys, the low lane gets one handout in {@link LOW_LANE_EVERY} (the normal lane
 *   the other four); an empty lane gives its turns to the other. A normal add of a key waiting
 *   in the low lane moves it up.
 * - **Bounded wait** (no starvation): a key is handed out within a number of handouts that
 *   depends only on how many keys were ahead of it in its lane when it entered, never on keys
 *   that arrive later. One that enters the normal lane behind `n` keys is handed out within
 *   `n + 2 + ⌊n / 4⌋` handouts (a resync storm delays a real change by a quarter at most); one
 *   that enters the low lane behind `n` keys, within `5 × (n + 1)` handouts, however busy the
 *   normal lane is (requeues falling due cannot starve an initial list). In time: those counts
 *   divided by the workers' throughput.
 * - **Time**: one timer for every delayed key (a binary heap), from an injected {@link Clock}.
 *   `addAfter(key, 0)` (and a rate limiter that answers 0) is `add(key)`.
 * - **The event loop is never starved**: workers that take keys which are ready at once (a
 *   reconcile that asks to run again at once, or changes its own object in an in-memory store)
 *   would otherwise run on microtasks alone, and timers, I/O and signals would never run. So
 *   once handing out keys has held the event loop for `TURN_BUDGET_MS` (5 ms) without a break,
 *   `get` resolves only after the event loop's next turn (one `setImmediate` for all waiting
 *   workers); see {@link TurnBudget}. Measured in real time, not on the injected clock.
 * - **Shutdown**: `shutDown()` stops handing out keys (waiting `get`s resolve `undefined`) and
 *   ignores later adds; `drain()` resolves once every key handed out is `done`.
 * - Many producers, many consumers; no locks are needed on one event loop.
 */
import { type Clock, systemClock, type Timer } from "../model/clock.js";
import { ExponentialBackoff, type RateLimiter } from "./rate-limiter.js";
import { TURN_BUDGET_MS, TurnBudget } from "./turn-budget.js";

/** What a queue reports, for metrics. Every method is called synchronously and must be cheap. */
export interface WorkQueueMetrics {
  /** The number of keys waiting (both lanes) after a change. */
  depth(depth: number): void;
  /** A key was added (whether or not it was already waiting). */
  added(): void;
  /** A key was added through the rate limiter. */
  retried(): void;
  /** A key was handed out `seconds` after it became ready. */
  queued(seconds: number): void;
  /** A key was `done` `seconds` after it was handed out. */
  worked(seconds: number): void;
}

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions<K> {
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default new ExponentialBackoff() (5 ms doubling, capped at 5 minutes) */
  readonly rateLimiter?: RateLimiter<K>;
  /** @default none */
  readonly metrics?: WorkQueueMetrics;
}

/** How a key is added. */
export interface AddOptions {
  /** Wait in the low-priority lane (initial lists, resyncs, polls). @default false */
  readonly low?: boolean;
}

/**
 * While both lanes hold keys, one handout in this many goes to the low lane.
 * Four normal keys, then one low key: a resync storm slows real changes by a quarter at most,
 * and an initial list still gets a fifth of the workers' throughput under saturation.
 */
export const LOW_LANE_EVERY = 5;

// Per-key state; a key with no state is idle. A key waiting in the low lane has a negative
// state, minus the ticket of its entry there: entries left behind by keys that moved up (or
// that moved up and came back) are told apart from the live one, so the lane stays exact FIFO.
const QUEUED = 1; // waiting in the normal lane
const PROCESSING = 3; // handed out
const PROCESSING_DIRTY = 4; // handed out, and added again since: queue after done
const PROCESSING_DIRTY_LOW = 5; // the same, added only with `low`

/** A FIFO of keys with O(1) push and shift (an array and a head index, compacted now and then). */
class Lane<K> {
  private items: K[] = [];
  private head = 0;

  push(key: K): void {
    this.items.push(key);
  }

  shift(): K | undefined {
    if (this.head === this.items.length) return undefined;
    const key = this.items[this.head]!;
    this.items[this.head++] = undefined as K;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/**
 * A deduplicating, stingy work queue with delays, rate-limited retries and two priority lanes.
 * See the module documentation for its contract.
 *
 * @example
 * ```ts
 * const queue = new WorkQueue<string>();
 * queue.add("default/front");
 * const key = await queue.get(); // "default/front"
 * try {
 *   await reconcile(key);
 *   queue.forget(key);
 * } catch {
 *   queue.addRateLimited(key);
 * } finally {
 *   queue.done(key);
 * }
 * ```
 */
export class WorkQueue<K = string> {
  private readonly state = new Map<K, number>();
  private readonly normal = new Lane<K>();
  private readonly low = new Lane<K>();
  private readonly lowTickets = new Lane<number>();
  private nextTicket = 1;
  private waiting = 0;
  /** Keys waiting in the low lane (its stale entries not counted). */
  private waitingLow = 0;
  /** Normal-lane handouts since the low lane's last turn. */
  private normalRun = 0;
  /** How long handing out ready keys may hold the event loop in one turn. */
  private readonly budget: TurnBudget;
  private processingCount = 0;
  private readonly getters: ((key: K | undefined) => void)[] = [];
  private readonly drainers: (() => void)[] = [];
  private stopped = false;

  // Delays: the due time of each scheduled key, and a min-heap of (due, key) pairs in two
  // parallel arrays. Heap entries whose due no longer matches `scheduled` are stale and skipped.
  private readonly scheduled = new Map<K, number>();
  /** Keys whose scheduled time a debounce set: when their burst began. */
  private readonly debouncing = new Map<K, number>();
  private readonly heapDue: number[] = [];
  private readonly heapKey: K[] = [];
  private timer: Timer | undefined;
  private timerDue = Number.POSITIVE_INFINITY;

  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: WorkQueueMetrics | undefined;
  private readonly readyAt: Map<K, number> | undefined;
  private readonly startedAt: Map<K, number> | undefined;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.clock = options.clock ?? systemClock;
    const cpuNow = this.clock.cpuNow?.bind(this.clock);
    this.budget = new TurnBudget(
      TURN_BUDGET_MS,
      () => {
        if (!this.stopped) this.wakeGetters();
      },
      cpuNow,
    );
    this.rateLimiter = options.rateLimiter ?? new ExponentialBackoff<K>();
    this.metrics = options.metrics;
    if (this.metrics !== undefined) {
      this.readyAt = new Map();
      this.startedAt = new Map();
    }
  }

  /** Keys waiting to be handed out, in both lanes. */
  get length(): number {
    return this.waiting;
  }

  /** Keys handed out and not yet `done`. */
  get processing(): number {
    return this.processingCount;
  }

  /** Keys scheduled for later. */
  get delayed(): number {
    return this.scheduled.size;
  }

  get shuttingDown(): boolean {
    return this.stopped;
  }

  /** Makes `key` ready now. */
  add(key: K, options?: AddOptions): void {
    if (this.stopped) return;
    const low = options?.low === true;
    this.metrics?.added();
    if (this.scheduled.size > 0) {
      this.scheduled.delete(key);
      if (this.debouncing.size > 0) this.debouncing.delete(key);
    }
    const state = this.state.get(key);
    if (state === undefined) {
      this.enqueue(key, low);
      return;
    }
    if (state < 0) {
      if (!low) {
        // Move up: the low lane's entry goes stale and is skipped.
        this.state.set(key, QUEUED);
        this.normal.push(key);
        this.waitingLow--;
      }
      return;
    }
    switch (state) {
      case PROCESSING:
        this.state.set(key, low ? PROCESSING_DIRTY_LOW : PROCESSING_DIRTY);
        return;
      case PROCESSING_DIRTY_LOW:
        if (!low) this.state.set(key, PROCESSING_DIRTY);
        return;
    }
  }

  /** Makes `key` ready in `ms` milliseconds, unless it is due sooner already. */
  addAfter(key: K, ms: number, options?: AddOptions): void {
    if (this.stopped) return;
    if (!(ms > 0)) {
      this.add(key, options);
      return;
    }
    const due = this.clock.now() + ms;
    const current = this.scheduled.get(key);
    if (current !== undefined && current <= due) return;
    // Sooner than a debounce had it: a later change must not push it back.
    if (this.debouncing.size > 0) this.debouncing.delete(key);
    this.schedule(key, due);
  }

  /** Makes `key` ready `ms` after the last of a burst of calls, within `maxWaitMs` of the first. */
  addDebounced(key: K, ms: number, maxWaitMs: number): void {
    if (this.stopped) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const state = this.state.get(key);
    if (state !== undefined && (state < 0 || state === QUEUED)) return;
    const now = this.clock.now();
    const current = this.scheduled.get(key);
    let first = this.debouncing.get(key);
    if (first === undefined) {
      // Due by then anyway (a requeue, a retry): that reconcile sees this change.
      if (current !== undefined && current <= now + ms) return;
      first = now;
      this.debouncing.set(key, first);
    }
    const due = Math.min(now + ms, first + maxWaitMs);
    if (due !== current) this.schedule(key, due);
  }

  private schedule(key: K, due: number): void {
    this.scheduled.set(key, due);
    this.heapPush(due, key);
    if (due < this.timerDue) this.arm(due);
  }

  /**
   * Makes `key` ready after its rate limiter's delay: for retries after a failure. Returns the
   * delay in ms (0 once shut down), so that callers can say when the next attempt comes.
   */
  addRateLimited(key: K): number {
    if (this.stopped) return 0;
    this.metrics?.retried();
    const delay = this.rateLimiter.when(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets `key`'s retry backoff. */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  /** How many retries of `key` the rate limiter counts. */
  retries(key: K): number {
    return this.rateLimiter.retries(key);
  }

  /**
   * Makes `key` ready now unless it is already queued, scheduled or being processed: for
   * polling feeders, whose regular adds must not pull a requested requeue forward. Returns
   * whether it added the key.
   */
  ensure(key: K, options?: AddOptions): boolean {
    if (this.stopped || this.state.has(key) || this.scheduled.has(key)) return false;
    this.add(key, options);
    return true;
  }

  /**
   * The next key to process, waiting for one if none is ready; `undefined` once the queue is
   * shut down. Call `done(key)` when finished with it.
   */
  get(): Promise<K | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    if (this.getters.length === 0) {
      const key = this.take();
      if (key !== undefined) return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks `key`, handed out by `get`, as processed; queues it again if it was added meanwhile. */
  done(key: K): void {
    const state = this.state.get(key);
    if (state === undefined || state < PROCESSING) {
      throw new Error(`done(${String(key)}): the key is not being processed`);
    }
    this.processingCount--;
    if (this.startedAt !== undefined) {
      const started = this.startedAt.get(key);
      this.startedAt.delete(key);
      if (started !== undefined) this.metrics!.worked((this.clock.now() - started) / 1000);
    }
    this.state.delete(key);
    if (state !== PROCESSING && !this.stopped) this.enqueue(key, state === PROCESSING_DIRTY_LOW);
    if (this.processingCount === 0 && this.drainers.length > 0) {
      for (const resolve of this.drainers.splice(0)) resolve();
    }
  }

  /** Stops handing out keys and ignores later adds; waiting `get`s resolve `undefined`. */
  shutDown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    this.scheduled.clear();
    this.debouncing.clear();
    this.heapDue.length = 0;
    this.heapKey.length = 0;
    this.normal.clear();
    this.low.clear();
    this.lowTickets.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  /**
   * Where `key` is, for dashboards: waiting to be handed out, being processed (and added again
   * meanwhile: `dirty`), and the time it is scheduled for.
   */
  inspect(key: K): { queued: boolean; processing: boolean; dirty: boolean; scheduledAt?: number } {
    const state = this.state.get(key);
    const scheduledAt = this.scheduled.get(key);
    return {
      queued: state !== undefined && (state < 0 || state === QUEUED),
      processing: state !== undefined && state >= PROCESSING,
      dirty: state === PROCESSING_DIRTY || state === PROCESSING_DIRTY_LOW,
      ...(scheduledAt === undefined ? {} : { scheduledAt }),
    };
  }

  /** The keys scheduled for later, with their times, in no particular order. */
  scheduledKeys(): IterableIterator<[K, number]> {
    return this.scheduled.entries();
  }

  /** Up to `limit` of the keys waiting to be handed out (both lanes, about in order). */
  waitingKeys(limit: number): K[] {
    const keys: K[] = [];
    if (limit <= 0) return keys;
    for (const [key, state] of this.state)
      if (state < 0 || state === QUEUED) {
        keys.push(key);
        if (keys.length >= limit) break;
      }
    return keys;
  }

  /** Resolves once every key handed out has been `done`. */
  drain(): Promise<void> {
    if (this.processingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  private enqueue(key: K, low: boolean): void {
    if (low) {
      const ticket = this.nextTicket++;
      this.state.set(key, -ticket);
      this.low.push(key);
      this.lowTickets.push(ticket);
      this.waitingLow++;
    } else {
      this.state.set(key, QUEUED);
      this.normal.push(key);
    }
    this.waiting++;
    this.readyAt?.set(key, this.clock.now());
    this.metrics?.depth(this.waiting);
    if (this.getters.length > 0 && !this.wakeScheduled) {
      // Hand keys to waiting workers once the adder yields, not inside `add`: a key stays
      // queued (and deduplicated) until a worker really takes it, and a change added in the
      // same turn as a resync still goes first.
      this.wakeScheduled = true;
      queueMicrotask(this.wakeGetters);
    }
  }

  private wakeScheduled = false;

  private readonly wakeGetters = (): void => {
    this.wakeScheduled = false;
    while (this.getters.length > 0) {
      const key = this.take();
      if (key === undefined) return;
      this.getters.shift()!(key);
    }
  };

  /** The next key to hand out, by lane turns; undefined when none is waiting or the turn is spent. */
  private take(): K | undefined {
    if (this.waiting === 0 || this.budget.spend()) return undefined;
    const low =
      this.waitingLow > 0 &&
      (this.waitingLow === this.waiting || this.normalRun >= LOW_LANE_EVERY - 1);
    let key: K;
    if (low) {
      // Skip stale entries: keys moved up to the normal lane since.
      let ticket: number;
      do {
        key = this.low.shift()!;
        ticket = this.lowTickets.shift()!;
      } while (this.state.get(key) !== -ticket);
      this.waitingLow--;
      this.normalRun = 0;
    } else {
      do key = this.normal.shift()!;
      while (this.state.get(key) !== QUEUED);
      this.normalRun++;
    }
    this.waiting--;
    this.metrics?.depth(this.waiting);
    this.start(key);
    return key;
  }

  private start(key: K): void {
    this.state.set(key, PROCESSING);
    this.processingCount++;
    if (this.readyAt !== undefined) {
      const now = this.clock.now();
      const ready = this.readyAt.get(key);
      this.readyAt.delete(key);
      if (ready !== undefined) this.metrics!.queued((now - ready) / 1000);
      this.startedAt!.set(key, now);
    }
  }

  private arm(due: number): void {
    this.timer?.cancel();
    this.timerDue = due;
    this.timer = this.clock.setTimer(due - this.clock.now(), () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    while (this.heapDue.length > 0 && this.heapDue[0]! <= now) {
      const due = this.heapDue[0]!;
      const key = this.heapKey[0]!;
      this.heapPop();
      if (this.scheduled.get(key) === due) {
        this.scheduled.delete(key);
        this.add(key);
      }
    }
    // Skip stale entries so that the timer is armed for a key that is really due.
    while (this.heapDue.length > 0 && this.scheduled.get(this.heapKey[0]!) !== this.heapDue[0])
      this.heapPop();
    if (this.heapDue.length > 0) this.arm(this.heapDue[0]!);
  }

  private heapPush(due: number, key: K): void {
    const dues = this.heapDue;
    const keys = this.heapKey;
    let i = dues.length;
    dues.push(due);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (dues[parent]! <= due) break;
      dues[i] = dues[parent]!;
      keys[i] = keys[parent]!;
      i = parent;
    }
    dues[i] = due;
    keys[i] = key;
  }

  private heapPop(): void {
    const dues = this.heapDue;
    const keys = this.heapKey;
    const lastDue = dues.pop()!;
    const lastKey = keys.pop()!;
    const n = dues.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && dues[right]! < dues[left]! ? right : left;
      if (dues[child]! >= lastDue) break;
      dues[i] = dues[child]!;
      keys[i] = keys[child]!;
      i = child;
    }
    dues[i] = lastDue;
    keys[i] = lastKey;
  }
}
