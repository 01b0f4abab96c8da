/**
 * Sources feed keys to a controller's queue from outside the store: a poll of some API, any
 * async iterable (a message queue, a file watcher). A controller can run on sources alone, with
 * no kind: its reconcile then receives the latest item a source gave for the key.
 */

import { type Clock, sleep } from "../model/clock.js";
import type { Logger } from "../observability/logging.js";
import { TurnBudget } from "../queue/turn-budget.js";

/** What a source feeds into. */
export interface Feed<T> {
  /** Something changed: reconcile `key` soon (moves ahead of resyncs and polls). */
  changed(key: string, item?: T): void;
  /**
   * `key` exists as `item`: reconcile it unless it is already queued, scheduled or running —
   * so a regular poll never pulls a requeue the reconcile asked for forward.
   */
  present(key: string, item?: T): void;
  /**
   * `key` no longer exists: it is reconciled once more with reason `"gone"` (a controller on
   * sources alone gets the item as last fed), so that the controller can clean up; then not
   * again until it comes back.
   */
  gone(key: string): void;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Something that feeds keys until its signal aborts. */
export interface Source<T = unknown> {
  /** A name for logs. */
  readonly name: string;
  run(feed: Feed<T>, signal: AbortSignal): Promise<void>;
}

/** Options of {@link poll}. */
export interface PollOptions<T> {
  /** How often to list. */
  readonly everyMs: number;
  /** Lists the items as they are now. Aborted if it takes longer than `everyMs`. */
  readonly list: (signal: AbortSignal) => Promise<Iterable<T>> | Iterable<T>;
  /** The key of an item. */
  readonly key: (item: T) => string;
  /** @default "poll" */
  readonly name?: string;
}

/**
 * Polls `list` every `everyMs`: each item present is `present` (so a requeue the reconcile
 * asked for is not pulled forward), and an item no longer listed is `gone` — reconciled once
 * more with `ctx.reason === "gone"` and the item as it was last listed, to clean up. A list that rejects
 * or hangs past `everyMs` is logged and tried again at the next interval; items are kept as
 * they were until a list succeeds.
 *
 * @example
 * ```ts
 * const buckets = poll({
 *   everyMs: 60_000,
 *   list: async (signal) => (await fetch(url, { signal })).json(),
 *   key: (bucket) => bucket.name,
 * });
 * ```
 */
export function poll<T>(options: PollOptions<T>): Source<T> {
  const { everyMs, list, key, name = "poll" } = options;
  if (!(everyMs > 0)) throw new RangeError(`poll: everyMs (${everyMs}) must be positive`);
  return {
    name,
    async run(feed, signal) {
      let known = new Set<string>();
      while (!signal.aborted) {
        const attempt = new AbortController();
        const onAbort = () => attempt.abort(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        const timer = feed.clock.setTimer(everyMs, () =>
          attempt.abort(new Error(`poll "${name}" took longer than ${everyMs} ms`)),
        );
        try {
          const items = await Promise.race([
            Promise.resolve().then(() => list(attempt.signal)),
            new Promise<never>((_, reject) =>
              attempt.signal.addEventListener("abort", () => reject(attempt.signal.reason), {
                once: true,
              }),
            ),
          ]);
          const seen = new Set<string>();
          for (const item of items) {
            const k = key(item);
            seen.add(k);
            feed.present(k, item);
          }
          for (const k of known) if (!seen.has(k)) feed.gone(k);
          known = seen;
        } catch (error) {
          if (!signal.aborted)
            feed.log.error(
              { err: error, source: name },
              "poll failed; trying again at the next interval",
            );
        } finally {
          timer.cancel();
          signal.removeEventListener("abort", onAbort);
        }
        await sleep(feed.clock, everyMs, signal);
      }
    },
  };
}

/** Options of {@link fromAsyncIterable}. */
export interface AsyncIterableSourceOptions<T> {
  /** The key of an item. */
  readonly key: (item: T) => string;
  /** @default "iterable" */
  readonly name?: string;
}

/**
 * Feeds every item of an async iterable as a change of its key. The iterable ending or
 * throwing is logged; the controller keeps running on its other sources.
 *
 * @example
 * ```ts
 * const source = fromAsyncIterable(messages(), { key: (m) => m.orderId });
 * ```
 */
export function fromAsyncIterable<T>(
  iterable: AsyncIterable<T>,
  options: AsyncIterableSourceOptions<T>,
): Source<T> {
  const { key, name = "iterable" } = options;
  return {
    name,
    async run(feed, signal) {
      const iterator = iterable[Symbol.asyncIterator]();
      const stopped = new Promise<IteratorResult<T>>((resolve) => {
        if (signal.aborted) resolve({ done: true, value: undefined });
        signal.addEventListener("abort", () => resolve({ done: true, value: undefined }), {
          once: true,
        });
      });
      // An iterable that yields without waiting would run on microtasks forever: give the
      // event loop its turn once the budget is spent.
      const budget = new TurnBudget(undefined, undefined, feed.clock.cpuNow?.bind(feed.clock));
      try {
        for (;;) {
          const next = await Promise.race([iterator.next(), stopped]);
          if (next.done) break;
          feed.changed(key(next.value), next.value);
          if (budget.spend()) await budget.nextTurn();
        }
      } catch (error) {
        feed.log.error({ err: error, source: name }, "source failed; it feeds nothing more");
      } finally {
        void iterator.return?.();
      }
    },
  };
}
