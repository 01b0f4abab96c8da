import { describe, expect, it } from "vitest";
import { TurnBudget } from "./turn-budget.js";

function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("TurnBudget", () => {
  it("is spent after two units of work that each take longer than the budget (checked every 32nd, a 50 ms reconcile starved for seconds)", () => {
    const budget = new TurnBudget(5);
    burn(0);
    expect(budget.spend()).toBe(false);
    burn(10);
    expect(budget.spend()).toBe(true);
    expect(budget.exhausted).toBe(true);
  });

  it("stays unspent for fast work within the budget, and starts again in the next turn", async () => {
    const budget = new TurnBudget(1_000);
    for (let i = 0; i < 10_000; i++) expect(budget.spend()).toBe(false);
    const spent = new TurnBudget(1);
    burn(2);
    spent.spend();
    burn(2);
    while (!spent.spend()) burn(1);
    await spent.nextTurn();
    expect(spent.exhausted).toBe(false);
    expect(spent.spend()).toBe(false);
  });
});
