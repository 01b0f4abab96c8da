/**
 * Steps: code written once that runs synchronously over a synchronous store and asynchronously
 * over an asynchronous one. A step function is a generator that yields what it waits for (a
 * value, or a promise of one) and gets it back; {@link runSync} hands values straight back, with
 * no `await` anywhere, and {@link runAsync} awaits each. The store engine is written this way, so
 * that the memory store commits a write in one synchronous stretch and PostgreSQL in one
 * transaction, from the same code.
 */

/** A value now, or a promise of it: what a synchronous or an asynchronous store answers. */
export type Maybe<T> = T | Promise<T>;

/**
 * A computation that yields what it waits for and returns `T`. Inside one, wait for a value by
 * yielding it and naming what comes back: `const stored = (yield tx.read(kind, key)) as
 * StoredObject | undefined`. (Not through a `yield*` helper: a generator per wait costs the
 * memory store a tenth of its write rate.)
 */
export type Steps<T> = Generator<unknown, T, unknown>;

/**
 * Runs `steps` to the end at once. Every value it waits for must be a value: a promise would
 * open a gap in what must be one atomic stretch, and is refused as a programming error.
 */
export function runSync<T>(steps: Steps<T>): T {
  let result = steps.next();
  while (!result.done) {
    const value = result.value;
    if (value instanceof Promise) {
      value.catch(() => {});
      result = steps.throw(new TypeError("a synchronous transaction answered with a promise"));
    } else result = steps.next(value);
  }
  return result.value;
}

/** Runs `steps`, awaiting each promise it waits for; a rejection is thrown into the steps. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let result = steps.next();
  while (!result.done) {
    let value = result.value;
    // Only promises are awaited: a step answered at once goes on at once.
    if (value instanceof Promise)
      try {
        value = await value;
      } catch (error) {
        result = steps.throw(error);
        continue;
      }
    result = steps.next(value);
  }
  return result.value;
}
