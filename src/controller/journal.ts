/**
 * What a controller has done lately, for dashboards: its reconciles per time bucket, its recent
 * reconcile times, and the last reconciles of each key. A manager keeps one per controller across
 * terms (a replica that loses and retakes the Lease keeps its history).
 *
 * Bounded whatever the load: {@link JOURNAL_BUCKETS} buckets, {@link JOURNAL_DURATIONS} times,
 * the last {@link JOURNAL_PER_KEY} reconciles of the {@link JOURNAL_KEYS} keys reconciled most
 * recently, and the {@link JOURNAL_RECENT} latest reconciles of any key. Recording one reconcile
 * is a few stores and one small object: it costs nothing a reconcile would notice.
 */
import type { ReconcileRecord, Series } from "../dashboard/types.js";

/** The width of one rate bucket. */
export const JOURNAL_BUCKET_MS = 5_000;
/** How many rate buckets are kept: five minutes. */
export const JOURNAL_BUCKETS = 60;
/** How many reconcile times the percentiles are taken over. */
export const JOURNAL_DURATIONS = 1_024;
/** How many keys keep their history: at least half as many, the most recently reconciled. */
export const JOURNAL_KEYS = 4_096;
/** How many reconciles each key keeps. */
export const JOURNAL_PER_KEY = 10;
/** How many of the latest reconciles (any key) are kept. */
export const JOURNAL_RECENT = 50;

/** One key's last reconciles: a ring, `next` the slot the next one goes to. */
interface KeyHistory {
  readonly records: ReconcileRecord[];
  next: number;
}

/**
 * One controller's recent reconciles. A `Manager` keeps one per controller
 * (`manager.journal(name)`); the dashboard's read API shows them.
 *
 * @example
 * ```ts
 * const journal = manager.journal("widgets")!;
 * journal.percentiles(); // { p50Ms: 1.2, p99Ms: 18 } once a reconcile ended
 * journal.history("shop/front")[0]; // { key, started, ms, result: "error", reason, error }
 * journal.series(Date.now()).errors.counts; // errors per 5 s over the last five minutes
 * ```
 */
export class ReconcileJournal {
  /** Bucket counts, a ring indexed by bucket number modulo its length. */
  private readonly reconcileCounts = new Uint32Array(JOURNAL_BUCKETS);
  private readonly errorCounts = new Uint32Array(JOURNAL_BUCKETS);
  /** The bucket number each slot counts for. */
  private readonly slotBucket = new Float64Array(JOURNAL_BUCKETS).fill(-1);
  private readonly durations = new Float64Array(JOURNAL_DURATIONS);
  private durationCount = 0;
  /**
   * Per key, a ring of its last reconciles, in two generations: keys reconciled since the
   * current generation began, and those of the one before. When the current one is full it
   * becomes the previous one, and keys not reconciled for a whole generation are forgotten: a
   * least-recently-used bound at the cost of one Map lookup per reconcile.
   */
  private current = new Map<string, KeyHistory>();
  private previous = new Map<string, KeyHistory>();
  private readonly recentRing: (ReconcileRecord | undefined)[] = new Array(JOURNAL_RECENT);
  private recentCount = 0;
  total = 0;
  errors = 0;

  /** Records a reconcile that ended. */
  record(entry: ReconcileRecord): void {
    const bucket = Math.floor((entry.started + entry.ms) / JOURNAL_BUCKET_MS);
    const slot = bucket % JOURNAL_BUCKETS;
    if (this.slotBucket[slot] !== bucket) {
      this.slotBucket[slot] = bucket;
      this.reconcileCounts[slot] = 0;
      this.errorCounts[slot] = 0;
    }
    this.reconcileCounts[slot]!++;
    this.total++;
    if (entry.error !== undefined) {
      this.errorCounts[slot]!++;
      this.errors++;
    }
    this.durations[this.durationCount++ % JOURNAL_DURATIONS] = entry.ms;
    this.recentRing[this.recentCount++ % JOURNAL_RECENT] = entry;
    let history = this.current.get(entry.key);
    if (history === undefined) {
      history = this.previous.get(entry.key) ?? { records: [], next: 0 };
      if (this.current.size >= JOURNAL_KEYS / 2) {
        this.previous = this.current;
        this.current = new Map();
      }
      this.current.set(entry.key, history);
    }
    history.records[history.next] = entry;
    history.next = (history.next + 1) % JOURNAL_PER_KEY;
  }

  private historyOf(key: string): KeyHistory | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }

  /** `key`'s latest reconciles, newest first. */
  history(key: string): ReconcileRecord[] {
    const history = this.historyOf(key);
    if (history === undefined) return [];
    const { records, next } = history;
    const out: ReconcileRecord[] = [];
    for (let i = 1; i <= records.length; i++)
      out.push(records[(next - i + JOURNAL_PER_KEY) % JOURNAL_PER_KEY]!);
    return out;
  }

  /** `key`'s last error message, if its last reconcile failed. */
  lastError(key: string): string | undefined {
    const history = this.historyOf(key);
    if (history === undefined) return undefined;
    return history.records[(history.next - 1 + JOURNAL_PER_KEY) % JOURNAL_PER_KEY]?.error;
  }

  /** The latest reconciles of any key, newest first. */
  recent(): ReconcileRecord[] {
    const out: ReconcileRecord[] = [];
    const n = Math.min(this.recentCount, JOURNAL_RECENT);
    for (let i = 1; i <= n; i++)
      out.push(this.recentRing[(this.recentCount - i) % JOURNAL_RECENT]!);
    return out;
  }

  /** Reconciles (and errors) per bucket over the last five minutes, up to `now`. */
  series(now: number): { reconciles: Series; errors: Series } {
    const last = Math.floor(now / JOURNAL_BUCKET_MS);
    const reconciles: number[] = [];
    const errors: number[] = [];
    for (let bucket = last - JOURNAL_BUCKETS + 1; bucket <= last; bucket++) {
      const slot = ((bucket % JOURNAL_BUCKETS) + JOURNAL_BUCKETS) % JOURNAL_BUCKETS;
      const current = this.slotBucket[slot] === bucket;
      reconciles.push(current ? this.reconcileCounts[slot]! : 0);
      errors.push(current ? this.errorCounts[slot]! : 0);
    }
    const end = last * JOURNAL_BUCKET_MS;
    return {
      reconciles: { bucketMs: JOURNAL_BUCKET_MS, end, counts: reconciles },
      errors: { bucketMs: JOURNAL_BUCKET_MS, end, counts: errors },
    };
  }

  /** The 50th and 99th percentiles of the last reconcile times; undefined before the first. */
  percentiles(): { p50Ms: number; p99Ms: number } | undefined {
    const n = Math.min(this.durationCount, JOURNAL_DURATIONS);
    if (n === 0) return undefined;
    const sorted = this.durations.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
    return { p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}
