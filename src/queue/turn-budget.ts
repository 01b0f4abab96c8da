/**
 * `TurnBudget`: how long a loop of work that never waits for I/O may hold the event loop before
 * it lets timers, sockets and signal handlers run. Work that is ready at once — keys put back in
 * a queue, items an async iterable yields without waiting — runs on microtasks alone, and
 * microtasks never give way to the event loop: without a budget such a loop freezes the process
 * (no timers, no health probes, no SIGTERM).
 *
 * Guarantees: once a turn of the event loop has spent `budgetMs` on counted work, `spend()` says
 * so until the next turn, which comes after one `setImmediate` (shared by every waiter). The time
 * is read at the 1st, 2nd, 4th, …, 32nd unit of work of a turn and every 32nd after, so slow units
 * (a reconcile burning 50 ms of CPU) are caught after two of them, and fast ones (a no-op
 * reconcile) pay for a clock read once in 32.
 *
 * Time here is real time (`performance.now()`), not an injected clock: it measures how long this
 * process holds its CPU, which no fake clock models (a fake clock stands still while code spins).
 */

/** How long (ms) counted work may hold the event loop in one turn. */
export const TURN_BUDGET_MS = 5;

/**
 * A budget of event-loop time per turn; see the module documentation.
 *
 * @example
 * ```ts
 * const budget = new TurnBudget();
 * for await (const item of items) {
 *   handle(item);
 *   if (budget.spend()) await budget.nextTurn();
 * }
 * ```
 */
export class TurnBudget {
  private start = -1;
  private count = 0;
  private nextCheck = 1;
  private spent = false;
  private readonly turnListeners: (() => void)[] = [];

  /**
   * @param budgetMs how long counted work may hold one turn. @default TURN_BUDGET_MS (5)
   * @param onTurn called at the start of the next turn after work was counted (a queue wakes
   *   the workers it held back).
   * @param now the reading of elapsed CPU time (a clock's `cpuNow`). @default performance.now
   */
  constructor(
    private readonly budgetMs = TURN_BUDGET_MS,
    private readonly onTurn?: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(budgetMs > 0)) throw new RangeError(`budgetMs (${budgetMs}) must be positive`);
  }

  /** Counts one unit of work; whether this turn's budget is spent (then wait for the next). */
  spend(): boolean {
    if (this.start < 0) {
      this.start = this.now();
      this.count = 0;
      this.nextCheck = 1;
      this.spent = false;
      setImmediate(this.newTurn);
    }
    if (this.spent) return true;
    if (++this.count >= this.nextCheck) {
      this.nextCheck = this.count < 32 ? this.count * 2 : this.count + 32;
      if (this.now() - this.start >= this.budgetMs) this.spent = true;
    }
    return this.spent;
  }

  /** Whether this turn's budget is spent, without counting work. */
  get exhausted(): boolean {
    return this.start >= 0 && this.spent;
  }

  /** Resolves in the event loop's next turn. */
  nextTurn(): Promise<void> {
    return new Promise((resolve) => {
      if (this.start < 0) setImmediate(resolve);
      else this.turnListeners.push(resolve);
    });
  }

  private readonly newTurn = (): void => {
    this.start = -1;
    this.spent = false;
    for (const resolve of this.turnListeners.splice(0)) resolve();
    this.onTurn?.();
  };
}
