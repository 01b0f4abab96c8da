import { expired } from "../../model/api-error.js";
import type { FieldSelector, LabelSelector } from "../../model/selector.js";
import type { Clock, Timer } from "../../queue/clock.js";
import type { StoredObject, Watch, WatchEvent } from "../backend.js";
import type { EventLog, LogEntry } from "./event-log.js";

/** What a watch reads from: one kind's history and the store's revision. */
export interface WatchSource {
  readonly log: EventLog;
  /** Watches waiting for the next change; the store wakes and clears them on every append. */
  readonly waiters: Set<MemoryWatch>;
  /** Every open watch, so that closing the store ends them; a watch leaves it when it ends. */
  readonly watches: Set<MemoryWatch>;
  /** The latest revision a watch may deliver (and a bookmark carry). */
  currentRevision(): number;
  readonly clock: Clock;
}

/** Which changes a watch delivers. */
export interface WatchFilter {
  readonly namespace: string | undefined;
  readonly labels: LabelSelector | undefined;
  readonly fields: FieldSelector | undefined;
}

const done: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A cursor into a kind's {@link EventLog}. Events are read lazily as the consumer asks, so a
 * slow consumer costs no memory; one that falls behind the kept history gets `Expired` (410).
 *
 * With a label selector, a change that moves an object into the selection is ADDED and one
 * that moves it out is DELETED (carrying the object as changed), as the Kubernetes watch cache
 * does. Meant for one consumer at a time (`for await`).
 */
export class MemoryWatch implements Watch {
  private closed = false;
  /** Why the watch ended, if it failed: the next `next()` rejects with it. */
  private error: unknown;
  private wake: ((reason: "change" | "bookmark" | "closed") => void) | undefined;
  private timer: Timer | undefined;
  private lastDelivery: number;
  private readonly onAbort = () => this.close();

  constructor(
    private readonly source: WatchSource,
    private readonly filter: WatchFilter,
    private seq: number,
    private readonly bookmarkIntervalMs: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.lastDelivery = source.clock.now();
    signal?.addEventListener("abort", this.onAbort, { once: true });
    source.watches.add(this);
    if (signal?.aborted) this.close();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    if (this.closed) {
      const error = this.error;
      if (error === undefined) return Promise.resolve(done);
      this.error = undefined;
      return Promise.reject(error);
    }
    const { log } = this.source;
    if (this.seq < log.start) {
      const revision = log.compactedRevision;
      this.close();
      return Promise.reject(
        expired(
          `the watch fell behind the kept history (compacted at revision ${revision}); relist`,
        ),
      );
    }
    const event = this.poll();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    return new Promise<"change" | "bookmark" | "closed">((resolve) => {
      this.wake = resolve;
      this.source.waiters.add(this);
      if (this.bookmarkIntervalMs !== undefined && this.timer === undefined) this.armBookmark();
    }).then((reason) => {
      if (reason !== "bookmark" || this.closed) return this.next();
      this.lastDelivery = this.source.clock.now();
      return {
        done: false,
        value: {
          type: "BOOKMARK",
          resourceVersion: String(this.source.currentRevision()),
        } as const,
      };
    });
  }

  poll(): WatchEvent | undefined {
    const { log } = this.source;
    // Behind the kept history: undefined here, and next() reports Expired.
    if (this.closed || this.seq < log.start) return undefined;
    const visible = this.source.currentRevision();
    while (this.seq < log.end) {
      const entry = log.at(this.seq);
      // A change not yet durable (a store with a journal) waits: the store wakes us.
      if (entry.revision > visible) return undefined;
      this.seq++;
      const event = eventFor(entry, this.filter);
      if (event !== undefined) {
        this.lastDelivery = this.source.clock.now();
        return event;
      }
    }
    return undefined;
  }

  /**
   * One bookmark timer per watch, not one per wait: a busy watch waits once per event, and a
   * timer each time would cost more than the event. When it fires, the timer sends a bookmark if
   * the watch is waiting and has been quiet long enough, and otherwise waits out the rest.
   */
  private armBookmark(): void {
    const interval = this.bookmarkIntervalMs!;
    const due = this.lastDelivery + interval - this.source.clock.now();
    this.timer = this.source.clock.setTimer(due, () => {
      this.timer = undefined;
      if (this.closed || this.wake === undefined) return; // the next wait arms it again
      if (this.source.clock.now() - this.lastDelivery >= interval) this.wakeUp("bookmark");
      else this.armBookmark();
    });
  }

  /** Called by the store when a change is appended, or by timers and close. */
  wakeUp(reason: "change" | "bookmark" | "closed" = "change"): void {
    const wake = this.wake;
    if (wake === undefined) return;
    this.wake = undefined;
    if (reason === "closed") {
      this.timer?.cancel();
      this.timer = undefined;
    }
    this.source.waiters.delete(this);
    wake(reason);
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.close();
    return Promise.resolve(done);
  }

  /** Ends the watch with `error`: the consumer's next (or pending) `next()` rejects with it. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.source.watches.delete(this);
    this.signal?.removeEventListener("abort", this.onAbort);
    this.wakeUp("closed");
  }
}

function matches(
  filter: WatchFilter,
  object: StoredObject,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const { namespace, labels: labelSelector, fields } = filter;
  if (namespace !== undefined && object.metadata.namespace !== namespace) return false;
  if (fields !== undefined && !fields.matches(object.metadata)) return false;
  return labelSelector === undefined || labelSelector.matches(labels);
}

/**
 * What a watch with `filter` delivers for a change: with a label selector, a change that moves
 * an object into the selection is ADDED and one that moves it out is DELETED (carrying the object
 * as changed); nothing for a change outside the selection. Shared by every store's watches.
 */
export function eventFor(
  entry: Pick<LogEntry, "type" | "object" | "previousLabels">,
  filter: WatchFilter,
): WatchEvent | undefined {
  const { object, type } = entry;
  const now = matches(filter, object, object.metadata.labels);
  if (filter.labels === undefined || entry.previousLabels === undefined || type === "ADDED") {
    return now ? { type, object } : undefined;
  }
  const before = matches(filter, object, entry.previousLabels);
  if (type === "DELETED") return now || before ? { type, object } : undefined;
  if (now && before) return { type: "MODIFIED", object };
  if (now) return { type: "ADDED", object };
  if (before) return { type: "DELETED", object };
  return undefined;
}
