/**
 * What the end of a reconcile does to its key: the runner's outcome table, as pure functions of
 * the outcome, unit-tested as a table (outcome.test.ts).
 *
 * | outcome                         | result label    | next                                        |
 * |---------------------------------|-----------------|---------------------------------------------|
 * | `done()` or nothing             | `success`       | forget backoff; wait for the next trigger   |
 * | `requeueAfter(ms)`              | `requeue_after` | forget backoff; reconcile again in `ms`     |
 * | throws `TerminalError`          | `error`         | forget backoff; wait for the next trigger   |
 * | throws a `Conflict` (no policy) | `error`         | logged at info; at once, then backoff       |
 * | throws anything else            | `error`         | `errorPolicy`'s action, else backoff retry  |
 * | returns something else          | `error`         | as a thrown error (a `TypeError`)           |
 * | outlives its timeout            | `error`         | signal aborted; once it settles, as thrown  |
 *
 * An error overrides a requested requeue: the retry comes from the error path. A `Conflict`
 * (the object changed since it was read) is routine: it is retried at once, outside the backoff,
 * and only a second conflict in a row backs off. Every failure's log line says what comes next:
 * when the retry comes, or that none does.
 */
import { ApiError } from "../model/api-error.js";
import type { ReconcileResult as ResultLabel } from "../observability/metrics.js";
import { type Action, TerminalError } from "./action.js";

/** How a reconcile ended. */
export type Settled =
  /** It returned an action (nothing stands for `done()`). */
  | { readonly action: Action }
  /**
   * It threw, returned something that is not an action (a `TypeError`), or outlived its timeout
   * (its own error once it settles, else a timeout error).
   */
  | { readonly error: unknown };

/** When a key is reconciled again, unless a trigger comes first. */
export type Again =
  /** Not until the next trigger: the reconcile is done, failed for good, or errorPolicy said so. */
  | { readonly at: "trigger"; readonly because: "done" | "terminal" | "errorPolicy" }
  /** At once, outside the backoff: a first Conflict. */
  | { readonly at: "now"; readonly reason: "retry" }
  /** In `ms`: the reconcile's `requeueAfter(ms)`, or its errorPolicy's. */
  | { readonly at: "after"; readonly ms: number; readonly reason: "requeue" | "retry" }
  /** After the rate limiter's per-key backoff. */
  | { readonly at: "backoff"; readonly reason: "retry" };

/** What {@link outcome} decides from. */
export interface OutcomeInput {
  readonly settled: Settled;
  /**
   * What `errorPolicy` answered for the error; `undefined` when there is none, it answered
   * nothing or threw, or it was not asked (a `TerminalError` skips it).
   */
  readonly policy?: Action | undefined;
  /** Whether the key's last reconcile ended in a Conflict that was retried at once. */
  readonly conflicted: boolean;
}

/** What a reconcile's outcome does to its key. */
export interface Next {
  /** The result label of metrics and spans. */
  readonly result: ResultLabel;
  readonly again: Again;
  /** Reset the key's retry backoff. */
  readonly forget: boolean;
  /** The key's next Conflict backs off (this one was a Conflict too). */
  readonly conflicted: boolean;
  /** The reconcile went through (success or `TerminalError`): a key a source said is gone is done. */
  readonly finished: boolean;
  /** What to log: nothing for a success. */
  readonly log: "conflict" | "conflict again" | "failed" | "terminal" | undefined;
}

/** The next step of a key whose reconcile ended as `input` says (see the module table). */
export function outcome({ settled, policy, conflicted }: OutcomeInput): Next {
  if ("action" in settled) {
    const { action } = settled;
    return {
      result: action.type === "requeueAfter" ? "requeue_after" : "success",
      again:
        action.type === "requeueAfter"
          ? { at: "after", ms: action.ms, reason: "requeue" }
          : { at: "trigger", because: "done" },
      forget: true,
      conflicted: false,
      finished: true,
      log: undefined,
    };
  }
  if (settled.error instanceof TerminalError)
    return {
      result: "error",
      again: { at: "trigger", because: "terminal" },
      forget: true,
      conflicted: false,
      finished: true,
      log: "terminal",
    };
  const conflict = policy === undefined && ApiError.is(settled.error, "Conflict");
  if (conflict && !conflicted)
    // Routine: someone wrote the object since it was read (often this controller's own cache
    // being a moment behind). Retried at once; a second conflict in a row backs off, so that a
    // stale cache cannot make it spin.
    return {
      result: "error",
      again: { at: "now", reason: "retry" },
      forget: false,
      conflicted: true,
      finished: false,
      log: "conflict",
    };
  return {
    result: "error",
    again:
      policy === undefined
        ? { at: "backoff", reason: "retry" }
        : policy.type === "requeueAfter"
          ? { at: "after", ms: policy.ms, reason: "retry" }
          : { at: "trigger", because: "errorPolicy" },
    forget: false,
    conflicted: conflict,
    finished: false,
    log: conflict ? "conflict again" : "failed",
  };
}

/** A log line: level, fields and message. */
export interface LogLine {
  readonly level: "info" | "error";
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/**
 * The log line of `next`, if it has one: `error` is the reconcile's, `backoffMs` the delay the
 * rate limiter gave a backoff retry, `retries` the key's retries counted so far.
 */
export function logLine(
  next: Next,
  error: unknown,
  backoffMs: number,
  retries: number,
): LogLine | undefined {
  const { again } = next;
  const then =
    again.at === "now"
      ? "retrying at once"
      : again.at === "backoff"
        ? `retrying in ${backoffMs} ms`
        : again.at === "after"
          ? `retrying in ${again.ms} ms (errorPolicy)`
          : again.because === "errorPolicy"
            ? "errorPolicy returned done(): waiting for the next change"
            : "waiting for the object to change";
  const conflict = () => (error as ApiError).message;
  switch (next.log) {
    case undefined:
      return undefined;
    case "terminal":
      return {
        level: "error",
        fields: { err: error },
        message: `reconcile failed for good (TerminalError); ${then}`,
      };
    case "conflict":
      return {
        level: "info",
        fields: { conflict: conflict() },
        message: `conflict: the object changed since it was read; ${then}`,
      };
    case "conflict again":
      return {
        level: "info",
        fields: { conflict: conflict(), retries },
        message: `conflict again: ${then}`,
      };
    case "failed":
      return {
        level: "error",
        fields: { err: error instanceof Error ? error : String(error), retries },
        message: `reconcile failed; ${then}`,
      };
  }
}
