import { describe, expect, it } from "vitest";
import { JOURNAL_BUCKET_MS, JOURNAL_KEYS, JOURNAL_PER_KEY, ReconcileJournal } from "./journal.js";

const at = (key: string, started: number, ms = 1, error?: string) => ({
  key,
  started,
  ms,
  result: error === undefined ? "success" : "error",
  reason: "changed",
  ...(error === undefined ? {} : { error }),
});

describe("ReconcileJournal", () => {
  it("counts reconciles and errors per bucket, and forgets buckets older than five minutes", () => {
    const journal = new ReconcileJournal();
    const t0 = 1_000 * JOURNAL_BUCKET_MS;
    journal.record(at("a", t0));
    journal.record(at("a", t0 + 10, 1, "boom"));
    journal.record(at("b", t0 + JOURNAL_BUCKET_MS));
    const { reconciles, errors } = journal.series(t0 + JOURNAL_BUCKET_MS);
    expect(reconciles.counts.slice(-2)).toEqual([2, 1]);
    expect(errors.counts.slice(-2)).toEqual([1, 0]);
    expect(reconciles.end).toBe(t0 + JOURNAL_BUCKET_MS);
    // Ten minutes on, the slots were reused: nothing old is counted.
    journal.record(at("c", t0 + 120 * JOURNAL_BUCKET_MS));
    const later = journal.series(t0 + 120 * JOURNAL_BUCKET_MS);
    expect(later.reconciles.counts.reduce((x, y) => x + y, 0)).toBe(1);
    expect(journal.total).toBe(4);
    expect(journal.errors).toBe(1);
  });

  it("keeps each key's last reconciles, newest first, and its last error", () => {
    const journal = new ReconcileJournal();
    for (let i = 0; i < JOURNAL_PER_KEY + 3; i++) journal.record(at("a", i));
    journal.record(at("a", 100, 1, "boom"));
    const history = journal.history("a");
    expect(history).toHaveLength(JOURNAL_PER_KEY);
    expect(history[0]!.error).toBe("boom");
    expect(history[1]!.started).toBe(JOURNAL_PER_KEY + 2);
    expect(journal.lastError("a")).toBe("boom");
    journal.record(at("a", 101));
    expect(journal.lastError("a")).toBeUndefined();
  });

  it("forgets the least recently reconciled key beyond its bound", () => {
    const journal = new ReconcileJournal();
    for (let i = 0; i < JOURNAL_KEYS; i++) journal.record(at(`k${i}`, i));
    journal.record(at("k0", JOURNAL_KEYS)); // k0 is recent again: k1 is the oldest now
    journal.record(at("new", JOURNAL_KEYS + 1));
    expect(journal.history("k0")).toHaveLength(2);
    expect(journal.history("k1")).toEqual([]);
    expect(journal.history("new")).toHaveLength(1);
  });

  it("takes percentiles over the last reconcile times", () => {
    const journal = new ReconcileJournal();
    expect(journal.percentiles()).toBeUndefined();
    for (let i = 1; i <= 100; i++) journal.record(at("a", i, i));
    expect(journal.percentiles()).toEqual({ p50Ms: 50, p99Ms: 99 });
    expect(journal.recent()[0]!.ms).toBe(100);
    expect(journal.recent()).toHaveLength(50);
  });
});
