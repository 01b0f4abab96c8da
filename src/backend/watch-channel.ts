/**
 * The one Watch implementation under every store's watches: a channel from a producer (a store's
 * history, a change-log reader, an HTTP stream) to one consumer iterating it.
 */
import type { StoredObject, Watch, WatchEvent } from "./backend.js";

/** Options of {@link WatchChannel}; all optional. */
export interface WatchChannelOptions<T> {
  /**
   * Where events come from besides {@link WatchChannel.push}: the next event ready now, if any,
   * asked for whenever the buffer is empty. A producer that reads lazily (a cursor into a store's
   * history) hands events out this way, so a slow consumer costs it no memory; it may end or fail
   * the channel from here.
   */
  readonly pull?: () => T | undefined;
  /**
   * Called when the consumer starts waiting (nothing pushed or pulled is ready), and again after
   * a {@link WatchChannel.wake} that found nothing: a lazy producer registers for a wake-up here.
   */
  readonly onWait?: () => void;
  /** Called once when the channel ends, however it ends: a producer stops and lets go here. */
  readonly onEnd?: () => void;
  /** Ends the channel when it aborts, as `close()` does. */
  readonly signal?: AbortSignal;
}

const done: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A buffered channel that is a {@link Watch}: producers `push` events (or offer them through
 * `pull`), and `end` or `fail` it; the consumer iterates it, or drains it with `poll()`.
 *
 * Guarantees:
 * - Events reach the consumer in the order they were pushed (pulled events when none are
 *   buffered), each once.
 * - `end()` and `fail(error)` take effect after the buffered events: the consumer gets those
 *   first, then the end (`done`) or the error — once, then `done`.
 * - `close()` (the consumer's, or the signal's) ends the channel: nothing more is pushed or
 *   pulled, and `onEnd` lets the producer stop.
 * - `backlog` and `onDrained` let a producer hold back while the consumer is behind.
 *
 * Meant for one consumer at a time (`for await`): a second `next()` while one waits replaces it.
 *
 * @example
 * ```ts
 * const watch = new WatchChannel({ onEnd: () => stream.destroy(), signal });
 * stream.on("event", (event) => watch.push(event));
 * stream.on("error", (error) => watch.fail(error));
 * return watch;
 * ```
 */
export class WatchChannel<T = StoredObject> implements Watch<T> {
  private buffer: WatchEvent<T>[] = [];
  private head = 0;
  /** The waiting consumer's promise, settled by these two (no object per wait: a hot path). */
  private waiter: ((result: IteratorResult<WatchEvent<T>>) => void) | undefined;
  private rejectWaiter: ((error: unknown) => void) | undefined;
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private drained: { readonly callback: () => void; readonly downTo: number } | undefined;
  private readonly onAbort = () => this.close();

  constructor(private readonly options: WatchChannelOptions<WatchEvent<T>> = {}) {
    const { signal } = options;
    if (signal === undefined) return;
    if (signal.aborted) this.close();
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** A channel that fails with `error` at once: how a watch that cannot start reports it. */
  static failed<T = StoredObject>(error: unknown): WatchChannel<T> {
    const channel = new WatchChannel<T>();
    channel.fail(error);
    return channel;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** How many pushed events wait for the consumer. */
  get backlog(): number {
    return this.buffer.length - this.head;
  }

  /** Whether the consumer waits for an event now. */
  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /** Whether the channel has ended: nothing more is pushed or pulled. */
  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Calls `callback` once, when the consumer has taken events until at most `downTo` are left
   * (replacing a callback set before).
   */
  onDrained(callback: () => void, downTo = 0): void {
    this.drained = { callback, downTo };
  }

  /** Hands `event` to the waiting consumer, or buffers it; ignored once the channel ended. */
  push(event: WatchEvent<T>): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter === undefined) this.buffer.push(event);
    else {
      this.waiter = undefined;
      this.rejectWaiter = undefined;
      waiter({ done: false, value: event });
    }
  }

  /**
   * For a channel with `pull`: an event may be ready now. A waiting consumer gets it; if there is
   * none, `onWait` is called again.
   */
  wake(): void {
    if (this.waiter === undefined || this.ended) return;
    const event = this.options.pull?.();
    if (event !== undefined) this.push(event);
    else if (this.waiter !== undefined && !this.ended) this.options.onWait?.();
  }

  /** No more events: the consumer gets the buffered ones, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.options.onEnd?.();
    this.settle();
  }

  /** Ends the channel with `error`: the consumer gets the buffered events, then the error. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.end();
  }

  close(): void {
    this.end();
  }

  return(): Promise<IteratorResult<WatchEvent<T>>> {
    this.close();
    return Promise.resolve(done);
  }

  /** The next event if one is ready now, without waiting. */
  poll(): WatchEvent<T> | undefined {
    if (this.head < this.buffer.length) return this.take();
    if (this.ended) return undefined;
    return this.options.pull?.();
  }

  next(): Promise<IteratorResult<WatchEvent<T>>> {
    const event = this.poll();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    if (this.ended) return this.outcome();
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.rejectWaiter = reject;
      this.options.onWait?.();
    });
  }

  /** How the channel ended, for a consumer that took every event: the error once, then done. */
  private outcome(): Promise<IteratorResult<WatchEvent<T>>> {
    const failure = this.failure;
    if (failure === undefined) return Promise.resolve(done);
    this.failure = undefined;
    return Promise.reject(failure.error);
  }

  /** Tells a waiting consumer how the channel ended, once the buffer is empty. */
  private settle(): void {
    const waiter = this.waiter;
    const reject = this.rejectWaiter;
    if (waiter === undefined || reject === undefined || this.head < this.buffer.length) return;
    this.waiter = undefined;
    this.rejectWaiter = undefined;
    const failure = this.failure;
    this.failure = undefined;
    if (failure === undefined) waiter(done);
    else reject(failure.error);
  }

  private take(): WatchEvent<T> {
    const event = this.buffer[this.head]!;
    this.buffer[this.head++] = undefined as never;
    if (this.head === this.buffer.length) {
      this.buffer.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.buffer.length) {
      // A consumer that never quite catches up must not keep every event it took.
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    const drained = this.drained;
    if (drained !== undefined && this.backlog <= drained.downTo) {
      this.drained = undefined;
      drained.callback();
    }
    return event;
  }
}
