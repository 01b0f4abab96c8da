import { describe, expect, it } from "vitest";
import { ApiError } from "../../model/api-error.js";
import type { StoredObject } from "../backend.js";
import { EventLog } from "./event-log.js";

const entry = (revision: number, bytes = 0) => ({
  type: "ADDED" as const,
  revision,
  object: {} as StoredObject,
  previousLabels: undefined,
  bytes,
});

describe("EventLog", () => {
  it("finds the first change after a revision", () => {
    const log = new EventLog(10);
    for (const revision of [2, 5, 9]) log.append(entry(revision));
    expect(log.seqAfter(0)).toBe(0);
    expect(log.seqAfter(2)).toBe(1);
    expect(log.seqAfter(6)).toBe(2);
    expect(log.seqAfter(9)).toBe(3);
    expect(log.seqAfter(100)).toBe(3);
  });

  it("keeps only the newest entries and answers Expired for resume points before them", () => {
    const log = new EventLog(3);
    for (let revision = 1; revision <= 5; revision++) log.append(entry(revision));
    expect(log.start).toBe(2);
    expect(log.at(2).revision).toBe(3);
    expect(log.seqAfter(2)).toBe(2);
    expect(() => log.seqAfter(1)).toThrow(ApiError);
    try {
      log.seqAfter(1);
    } catch (err) {
      expect((err as ApiError).reason).toBe("Expired");
    }
  });

  it("keeps no more than its byte budget, evicting the oldest entries first", () => {
    const log = new EventLog(100, 250);
    for (let revision = 1; revision <= 5; revision++) log.append(entry(revision, 100));
    expect(log.start).toBe(3);
    expect(log.bytes).toBe(200);
    expect(() => log.seqAfter(2)).toThrow(/too old resource version: 2 \(3\)/);
    expect(log.seqAfter(3)).toBe(3);
  });

  it("keeps the latest entry even when it alone is over the byte budget", () => {
    const log = new EventLog(100, 250);
    log.append(entry(1, 100));
    log.append(entry(2, 1_000));
    expect(log.start).toBe(1);
    expect(log.at(1).revision).toBe(2);
    expect(log.bytes).toBe(1_000);
    log.append(entry(3, 10));
    expect(log.start).toBe(2);
    expect(log.bytes).toBe(10);
  });

  it("counts no bytes once compacted", () => {
    const log = new EventLog(100, 250);
    log.append(entry(1, 100));
    log.compact(1);
    expect(log.bytes).toBe(0);
  });

  it("holds slots for the entries it has, not its capacity, until it fills (the bug: 78 KB for every kind, even one never written)", () => {
    const log = new EventLog(10_000);
    const slots = () => (log as unknown as { ring: unknown[] }).ring.length;
    expect(slots()).toBe(0);
    for (let revision = 1; revision <= 3; revision++) log.append(entry(revision));
    expect(slots()).toBe(3);
    log.compact(3);
    log.append(entry(4));
    expect(slots()).toBe(4);
    expect(log.at(3).revision).toBe(4);
  });

  it("wraps around once grown to its capacity, after a compaction too", () => {
    const log = new EventLog(4);
    for (let revision = 1; revision <= 3; revision++) log.append(entry(revision));
    log.compact(3);
    for (let revision = 4; revision <= 9; revision++) log.append(entry(revision));
    expect(log.size).toBe(4);
    expect([6, 7, 8, 9].map((_, i) => log.at(log.start + i).revision)).toEqual([6, 7, 8, 9]);
    expect(log.seqAfter(7)).toBe(log.start + 2);
    expect(() => log.seqAfter(4)).toThrow(/too old resource version/);
  });

  it("after compaction expires every earlier resume point but the newest", () => {
    const log = new EventLog(10);
    log.append(entry(1));
    log.compact(7);
    expect(() => log.seqAfter(6)).toThrow(/too old resource version/);
    expect(log.seqAfter(7)).toBe(1);
  });
});
