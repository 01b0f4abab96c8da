/** What a reconcile returns: when to look at the object again. */
export type Action =
  /** Reconcile again after `ms` milliseconds (or sooner, if the object changes). */
  | { readonly type: "requeueAfter"; readonly ms: number }
  /** Nothing more to do until the object (or something it watches) changes. */
  | { readonly type: "done" };

/**
 * Reconcile this key again in `ms` milliseconds — for polling something outside the store, or
 * waiting for a condition. A change to the object still triggers a reconcile sooner.
 *
 * @example
 * ```ts
 * return requeueAfter(30_000);
 * ```
 */
export function requeueAfter(ms: number): Action {
  if (!(ms >= 0) || !Number.isFinite(ms))
    throw new RangeError(`requeueAfter(${ms}): ms must be a finite number >= 0`);
  return { type: "requeueAfter", ms };
}

const doneAction: Action = Object.freeze({ type: "done" });

/**
 * Nothing more to do until something changes. Returning nothing means the same.
 *
 * @example
 * ```ts
 * return done();
 * ```
 */
export function done(): Action {
  return doneAction;
}

/**
 * An error that retrying will not fix (bad configuration, a spec the controller cannot act on):
 * it is logged and counted, and the key is not retried until the object changes. Not
 * retryable, by definition.
 *
 * @example
 * ```ts
 * throw new TerminalError(`image ${spec.image} is not allowed`);
 * ```
 */
export class TerminalError extends Error {
  override readonly name = "TerminalError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The action a reconcile's return value stands for, or a TypeError naming what came back. */
export function toAction(value: unknown): Action {
  if (value === undefined) return doneAction;
  if (value !== null && typeof value === "object") {
    const { type, ms } = value as { type?: unknown; ms?: unknown };
    if (type === "done") return doneAction;
    if (type === "requeueAfter" && typeof ms === "number" && ms >= 0 && Number.isFinite(ms))
      return value as Action;
  }
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  throw new TypeError(`reconcile returned ${shown}; expected done(), requeueAfter(ms) or nothing`);
}
