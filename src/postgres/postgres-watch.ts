/**
 * A watch of the PostgreSQL store: a reader of its change log that feeds a {@link WatchChannel}.
 */
import type { StoredObject } from "../backend/backend.js";
import { tooLargeResourceVersion } from "../backend/revision.js";
import { WatchChannel } from "../backend/watch-channel.js";
import { eventFor, type WatchFilter } from "../backend/watch-query.js";
import { ApiError, expired } from "../model/api-error.js";
import type { Clock, Timer } from "../model/clock.js";

/** How many changes a watch reads at once; it holds a batch and a half unread at most. */
export const batchSize = 500;

/** One batch of a kind's change log, read in one snapshot with the store's revision. */
export interface ChangeBatch {
  /** The store's revision when the batch was read. */
  readonly current: number;
  /** Changes at or below this revision may be gone. */
  readonly compacted: number;
  /** At most {@link batchSize} changes, in revision order. */
  readonly changes: readonly {
    readonly revision: number;
    readonly type: "ADDED" | "MODIFIED" | "DELETED";
    readonly object: StoredObject;
    readonly previousLabels: Readonly<Record<string, string>> | undefined;
  }[];
}

/** What a watch reads from. */
export interface ChangeLog {
  /** The store's current revision. */
  currentRevision(): Promise<number>;
  /** Changes of the kind `kindId` after `revision` (in `namespace` only, if given). */
  changesAfter(
    kindId: string,
    revision: number,
    namespace: string | undefined,
  ): Promise<ChangeBatch>;
  readonly clock: Clock;
}

/**
 * Reads the change log after its last revision whenever poked (a notification, the catch-up
 * timer) and pushes what it read, in order, into its channel — the Watch its consumer iterates.
 *
 * It reads ahead of its consumer by about a batch: a batch is read only while fewer than half a
 * batch of events wait in the channel, and the consumer taking them starts the next. A watch
 * resuming from far back in a long history (100,000 revisions by default, of objects up to
 * 1.5 MiB) holds a batch and a half of events in memory at most, not the history.
 */
export class PostgresWatch {
  readonly channel: WatchChannel;
  private cursor: number | undefined;
  private reading = false;
  private again = false;
  private bookmarkTimer: Timer | undefined;
  private lastDelivery: number;
  /** The first read waits for this: the starting revision is known. */
  private ready: Promise<void> = Promise.resolve();
  /** The `resourceVersion` the watch was asked to start from, for errors about it. */
  private asked: string | undefined;

  constructor(
    private readonly log: ChangeLog,
    readonly kindId: string,
    private readonly filter: WatchFilter,
    private readonly bookmarkIntervalMs: number | undefined,
    signal: AbortSignal | undefined,
    onEnd: (watch: PostgresWatch) => void,
  ) {
    this.lastDelivery = log.clock.now();
    this.channel = new WatchChannel({
      signal,
      onEnd: () => {
        this.bookmarkTimer?.cancel();
        onEnd(this);
      },
    });
  }

  /** Starts from `revision`, or from the current one; resolves once the start is known. */
  start(revision: number | undefined, asked?: string): Promise<void> {
    this.cursor = revision;
    this.asked = asked;
    if (revision === undefined)
      this.ready = this.log.currentRevision().then(
        (current) => {
          this.cursor = current;
        },
        (error) => this.channel.fail(error),
      );
    this.poke();
    if (this.bookmarkIntervalMs !== undefined) this.armBookmark();
    return this.ready;
  }

  /**
   * Every half interval, a bookmark if the consumer waits and has heard nothing for the interval:
   * it carries the revision read up to.
   */
  private armBookmark(): void {
    const interval = this.bookmarkIntervalMs!;
    const { clock } = this.log;
    this.bookmarkTimer = clock.setTimer(Math.max(10, interval / 2), () => {
      if (this.channel.isEnded) return;
      if (
        this.channel.waiting &&
        this.cursor !== undefined &&
        clock.now() - this.lastDelivery >= interval
      ) {
        this.lastDelivery = clock.now();
        this.channel.push({ type: "BOOKMARK", resourceVersion: String(this.cursor) });
      }
      this.armBookmark();
    });
  }

  /** Reads what is new; one read at a time, again at once if poked meanwhile. */
  poke(): void {
    if (this.channel.isEnded) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.read().finally(() => {
      this.reading = false;
      if (this.again && !this.channel.isEnded) {
        this.again = false;
        this.poke();
      }
    });
  }

  private async read(): Promise<void> {
    await this.ready;
    try {
      // Unset only when reading the starting revision failed: the watch has failed then.
      while (this.cursor !== undefined) {
        if (this.channel.backlog >= batchSize / 2) {
          // Read on once the consumer took these.
          this.channel.onDrained(() => this.poke(), batchSize / 2 - 1);
          return;
        }
        const { current, compacted, changes } = await this.log.changesAfter(
          this.kindId,
          this.cursor,
          this.filter.namespace,
        );
        if (this.channel.isEnded) return;
        // Beyond the store's revision (a resume point from before a restore of the database, or
        // from another store): nothing here is the change after it, so relist.
        if (this.cursor > current) {
          this.channel.fail(tooLargeResourceVersion(this.asked ?? this.cursor, current));
          return;
        }
        this.asked = undefined;
        if (this.cursor < compacted)
          throw expired(`too old resource version: ${this.cursor} (${compacted})`);
        for (const change of changes) {
          this.cursor = change.revision;
          const event = eventFor(change, this.filter);
          if (event === undefined) continue;
          this.lastDelivery = this.log.clock.now();
          this.channel.push(event);
        }
        if (changes.length < batchSize) {
          // Everything up to the snapshot's revision is read: a bookmark may carry it.
          this.cursor = Math.max(this.cursor, current);
          return;
        }
      }
    } catch (error) {
      // A failed read is retried by the next poke, unless the history is gone.
      if (ApiError.isGone(error)) this.channel.fail(error);
    }
  }
}
