import { expired } from "../../model/api-error.js";
import type { StoredObject } from "../backend.js";

/** One change kept in a kind's history. */
export interface LogEntry {
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly revision: number;
  readonly object: StoredObject;
  /** The version the change replaced (none for ADDED): what a read at an earlier revision sees. */
  readonly previous?: StoredObject | undefined;
  /** The labels before the change, when they differ from `object`'s (for selector watches). */
  readonly previousLabels: Readonly<Record<string, string>> | undefined;
  /** What the entry counts against the log's byte budget: about the JSON size of `object`. */
  readonly bytes: number;
}

/**
 * The bounded history of one kind's changes, in revision order: a ring of at most `capacity`
 * entries, and of at most `maxBytes` bytes of objects, addressed by a sequence number that only
 * grows. Watches are cursors into it, so an event is stored once however many watchers read it.
 *
 * Guarantees: every change with a revision above {@link compactedRevision} is in the log; the
 * latest change is kept even if it alone is over `maxBytes`.
 */
export class EventLog {
  /**
   * Grows to `capacity` as entries come, then wraps: a kind with little history (most of them,
   * and kinds can be made at run time) holds a small array, not 10,000 empty slots (78 KB).
   */
  private readonly ring: (LogEntry | undefined)[] = [];
  /** Sequence number of the oldest entry kept. */
  private first = 0;
  /** Sequence number the next entry gets. */
  private next = 0;
  /** The bytes of the entries kept. */
  private kept = 0;
  /** Changes at or below this revision may be gone. */
  compactedRevision = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  append(entry: LogEntry): void {
    if (this.next - this.first === this.capacity) this.evictOldest();
    const slot = this.next % this.capacity;
    // Until the ring is full, the next slot is the one past its end.
    if (slot === this.ring.length) this.ring.push(entry);
    else this.ring[slot] = entry;
    this.next++;
    this.kept += entry.bytes;
    while (this.kept > this.maxBytes && this.next - this.first > 1) this.evictOldest();
  }

  private evictOldest(): void {
    const slot = this.first % this.capacity;
    const entry = this.ring[slot]!;
    this.compactedRevision = entry.revision;
    this.kept -= entry.bytes;
    this.ring[slot] = undefined;
    this.first++;
  }

  /**
   * Drops the oldest entry unless it is the only one (the latest change is always kept): how a
   * bound over several logs trims this one. Watches behind it get `Expired` from then on.
   */
  trimOldest(): void {
    if (this.next - this.first > 1) this.evictOldest();
  }

  /** Drops every entry, as if history had been compacted at `revision` (a test hook). */
  compact(revision: number): void {
    while (this.first < this.next) this.evictOldest();
    this.compactedRevision = Math.max(this.compactedRevision, revision);
  }

  get end(): number {
    return this.next;
  }

  get start(): number {
    return this.first;
  }

  /** How many entries are kept. */
  get size(): number {
    return this.next - this.first;
  }

  /** The bytes of the entries kept, as their `bytes` say. */
  get bytes(): number {
    return this.kept;
  }

  /** The entry at sequence number `seq`, which must be within [start, end). */
  at(seq: number): LogEntry {
    return this.ring[seq % this.capacity]!;
  }

  /**
   * The sequence number of the first change after `revision`; `Expired` (410) when changes
   * after `revision` may already be gone.
   */
  seqAfter(revision: number): number {
    if (revision < this.compactedRevision) {
      throw expired(`too old resource version: ${revision} (${this.compactedRevision})`);
    }
    let lo = this.first;
    let hi = this.next;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
