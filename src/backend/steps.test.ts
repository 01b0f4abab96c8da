import { describe, expect, it } from "vitest";
import { runAsync, runSync, type Steps } from "./steps.js";

function* sum(a: number | Promise<number>, b: number | Promise<number>): Steps<number> {
  return ((yield a) as number) + ((yield b) as number);
}

describe("steps", () => {
  it("run synchronously over values, with no await", () => {
    expect(runSync(sum(1, 2))).toBe(3);
  });

  it("run asynchronously over promises", async () => {
    expect(await runAsync(sum(Promise.resolve(1), 2))).toBe(3);
  });

  it("refuse a promise where they must run synchronously", () => {
    expect(() => runSync(sum(1, Promise.resolve(2)))).toThrow(
      "a synchronous transaction answered with a promise",
    );
  });

  it("throw a rejection into the steps, where a finally block runs", async () => {
    let cleaned = false;
    function* failing(): Steps<number> {
      try {
        return (yield Promise.reject<number>(new Error("lost"))) as number;
      } finally {
        cleaned = true;
      }
    }
    await expect(runAsync(failing())).rejects.toThrow("lost");
    expect(cleaned).toBe(true);
  });
});
