import { describe, expect, it } from "vitest";
import { ApiError } from "../model/api-error.js";
import { type Action, done, requeueAfter, TerminalError } from "./action.js";
import { type Again, logLine, type OutcomeInput, outcome } from "./outcome.js";

const failure = new Error("down");
const conflict = new ApiError("Conflict", "the object has been modified");
const terminal = new TerminalError("cannot work with this");
/** The delay the rate limiter gives a backoff retry in these rows. */
const backoffMs = 40;

interface Row {
  readonly outcome: string;
  readonly input: OutcomeInput;
  readonly result: "success" | "requeue_after" | "error";
  readonly again: Again;
  readonly forget: boolean;
  readonly conflicted: boolean;
  readonly finished: boolean;
  readonly log?: { level: "info" | "error"; message: string };
}

const settledBy = (action: Action) => ({ action });
const threw = (error: unknown, policy?: Action, conflicted = false): OutcomeInput => ({
  settled: { error },
  policy,
  conflicted,
});

/** What an error does when nothing decides otherwise: a retry after the per-key backoff. */
const retriedWithBackoff = {
  result: "error",
  again: { at: "backoff", reason: "retry" },
  forget: false,
  conflicted: false,
  finished: false,
  log: { level: "error", message: "reconcile failed; retrying in 40 ms" },
} as const;

// The module's table, row by row (and the rows it implies).
const table: Row[] = [
  {
    outcome: "done() or nothing",
    input: { settled: settledBy(done()), conflicted: false },
    result: "success",
    again: { at: "trigger", because: "done" },
    forget: true,
    conflicted: false,
    finished: true,
  },
  {
    outcome: "done() after a Conflict retried at once",
    input: { settled: settledBy(done()), conflicted: true },
    result: "success",
    again: { at: "trigger", because: "done" },
    forget: true,
    conflicted: false,
    finished: true,
  },
  {
    outcome: "requeueAfter(ms)",
    input: { settled: settledBy(requeueAfter(30_000)), conflicted: false },
    result: "requeue_after",
    again: { at: "after", ms: 30_000, reason: "requeue" },
    forget: true,
    conflicted: false,
    finished: true,
  },
  {
    outcome: "throws TerminalError",
    input: threw(terminal),
    result: "error",
    again: { at: "trigger", because: "terminal" },
    forget: true,
    conflicted: false,
    finished: true,
    log: {
      level: "error",
      message: "reconcile failed for good (TerminalError); waiting for the object to change",
    },
  },
  {
    outcome: "throws a Conflict (no policy)",
    input: threw(conflict),
    result: "error",
    again: { at: "now", reason: "retry" },
    forget: false,
    conflicted: true,
    finished: false,
    log: {
      level: "info",
      message: "conflict: the object changed since it was read; retrying at once",
    },
  },
  {
    outcome: "throws a second Conflict in a row (no policy)",
    input: threw(conflict, undefined, true),
    result: "error",
    again: { at: "backoff", reason: "retry" },
    forget: false,
    conflicted: true,
    finished: false,
    log: { level: "info", message: "conflict again: retrying in 40 ms" },
  },
  {
    outcome: "throws anything else (no policy)",
    input: threw(failure),
    ...retriedWithBackoff,
  },
  {
    outcome: "throws anything else after a Conflict retried at once",
    input: threw(failure, undefined, true),
    ...retriedWithBackoff,
  },
  {
    outcome: "throws, and errorPolicy answers requeueAfter(ms)",
    input: threw(failure, requeueAfter(60_000)),
    result: "error",
    again: { at: "after", ms: 60_000, reason: "retry" },
    forget: false,
    conflicted: false,
    finished: false,
    log: { level: "error", message: "reconcile failed; retrying in 60000 ms (errorPolicy)" },
  },
  {
    outcome: "throws, and errorPolicy answers done()",
    input: threw(failure, done()),
    result: "error",
    again: { at: "trigger", because: "errorPolicy" },
    forget: false,
    conflicted: false,
    finished: false,
    log: {
      level: "error",
      message: "reconcile failed; errorPolicy returned done(): waiting for the next change",
    },
  },
  {
    outcome: "throws a Conflict, and errorPolicy answers (the policy decides)",
    input: threw(conflict, requeueAfter(1_000)),
    result: "error",
    again: { at: "after", ms: 1_000, reason: "retry" },
    forget: false,
    conflicted: false,
    finished: false,
    log: { level: "error", message: "reconcile failed; retrying in 1000 ms (errorPolicy)" },
  },
  {
    outcome: "returns something else (a TypeError, as thrown)",
    input: threw(new TypeError("reconcile returned 42")),
    ...retriedWithBackoff,
  },
  {
    outcome: "outlives its timeout (its error once it settles, as thrown)",
    input: threw(new Error("timed out")),
    ...retriedWithBackoff,
  },
];

describe("the outcome table", () => {
  it.each(table)("$outcome", (row) => {
    const next = outcome(row.input);
    expect(next).toMatchObject({
      result: row.result,
      again: row.again,
      forget: row.forget,
      conflicted: row.conflicted,
      finished: row.finished,
    });
    const error = "error" in row.input.settled ? row.input.settled.error : undefined;
    const line = logLine(next, error, backoffMs, 3);
    if (row.log === undefined) expect(line).toBeUndefined();
    else expect(line).toMatchObject(row.log);
  });

  it("never says retrying when nothing is retried (an errorPolicy's done() logged 'not retrying')", () => {
    for (const row of table) {
      const next = outcome(row.input);
      const line = logLine(next, new Error("x"), backoffMs, 0);
      if (line === undefined) continue;
      expect(/retry/.test(line.message), `${row.outcome}: ${line.message}`).toBe(
        next.again.at !== "trigger",
      );
    }
  });

  it("logs a conflict without a stack, and other errors with theirs and the retry count", () => {
    expect(logLine(outcome(threw(conflict)), conflict, backoffMs, 0)?.fields).toEqual({
      conflict: "the object has been modified",
    });
    expect(logLine(outcome(threw(conflict, undefined, true)), conflict, 80, 2)?.fields).toEqual({
      conflict: "the object has been modified",
      retries: 2,
    });
    expect(logLine(outcome(threw(failure)), failure, backoffMs, 1)?.fields).toEqual({
      err: failure,
      retries: 1,
    });
    expect(logLine(outcome(threw("a string")), "a string", backoffMs, 1)?.fields).toEqual({
      err: "a string",
      retries: 1,
    });
  });
});
