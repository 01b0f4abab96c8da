import { expired } from "../../model/api-error.js";
import type { Clock, Timer } from "../../model/clock.js";
import type { WatchEvent } from "../backend.js";
import { WatchChannel } from "../watch-channel.js";
import { eventFor, type WatchFilter } from "../watch-query.js";
import type { EventLog } from "./event-log.js";

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

/**
 * A cursor into a kind's {@link EventLog}, consumed through its {@link WatchChannel}. Events are
 * pulled lazily as the consumer asks, so a slow consumer costs no memory; one that falls behind
 * the kept history gets `Expired` (410).
 *
 * With a label selector, a change that moves an object into the selection is ADDED and one
 * that moves it out is DELETED (carrying the object as changed), as the Kubernetes watch cache
 * does.
 */
export class MemoryWatch {
  readonly channel: WatchChannel;
  private timer: Timer | undefined;
  private lastDelivery: number;

  constructor(
    private readonly source: WatchSource,
    private readonly filter: WatchFilter,
    private seq: number,
    private readonly bookmarkIntervalMs: number | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.lastDelivery = source.clock.now();
    this.channel = new WatchChannel({
      pull: () => this.pull(),
      onWait: () => this.waitForChange(),
      onEnd: () => this.stop(),
      signal,
    });
    if (!this.channel.isEnded) source.watches.add(this);
  }

  /** The next change the watch delivers, if the history holds one it may deliver now. */
  private pull(): WatchEvent | undefined {
    const { log } = this.source;
    if (this.seq < log.start) {
      this.channel.fail(
        expired(
          `the watch fell behind the kept history (compacted at revision ${log.compactedRevision}); relist`,
        ),
      );
      return undefined;
    }
    const visible = this.source.currentRevision();
    while (this.seq < log.end) {
      const entry = log.at(this.seq);
      // A change not yet durable (a store with a journal) waits: the store wakes us.
      if (entry.revision > visible) return undefined;
      this.seq++;
      const event = eventFor(entry, this.filter);
      if (event !== undefined) {
        // Only bookmarks need it: a clock read per event per watch adds up.
        if (this.bookmarkIntervalMs !== undefined) this.lastDelivery = this.source.clock.now();
        return event;
      }
    }
    return undefined;
  }

  private waitForChange(): void {
    this.source.waiters.add(this);
    if (this.bookmarkIntervalMs !== undefined && this.timer === undefined) this.armBookmark();
  }

  /**
   * One bookmark timer per watch, not one per wait: a busy watch waits once per event, and a
   * timer each time would cost more than the event. When it fires, the timer sends a bookmark if
   * the watch is waiting and has been quiet long enough, and otherwise waits out the rest.
   */
  private armBookmark(): void {
    const interval = this.bookmarkIntervalMs!;
    const { clock } = this.source;
    const armedFor = this.lastDelivery;
    this.timer = clock.setTimer(armedFor + interval - clock.now(), () => {
      this.timer = undefined;
      if (!this.channel.waiting) return; // the next wait arms it again
      // Due unless something was delivered since it was armed. (Not by comparing times again:
      // with fractional milliseconds, `now - lastDelivery` can fall short of the interval by a
      // rounding error when the timer fires, and a fake clock would re-arm it at 0 ms forever.)
      if (this.lastDelivery !== armedFor) return this.armBookmark();
      this.lastDelivery = clock.now();
      this.channel.push({
        type: "BOOKMARK",
        resourceVersion: String(this.source.currentRevision()),
      });
    });
  }

  /**
   * Called by the store when a change is appended or made durable, inside the write's atomic
   * step. The watch looks a microtask later, once the write is complete: a consumer that is
   * woken then finds every change the writer made meanwhile, and takes them in one go.
   */
  wakeUp(): void {
    queueMicrotask(this.wake);
  }

  private readonly wake = () => this.channel.wake();

  private stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.source.watches.delete(this);
    this.source.waiters.delete(this);
  }
}
