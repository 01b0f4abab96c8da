import { afterEach, describe, expect, it } from "vitest";
import type { Logger } from "../observability/logging.js";
import { eventually } from "../testing/eventually.js";
import { Widget, widget } from "../testing/fixtures.js";
import { createTestEnv, type TestEnv } from "../testing/test-env.js";
import { done } from "./action.js";
import { controller } from "./controller.js";

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

/** A logger that keeps every line's level and message. */
function recording(lines: { level: string; msg: string }[]): Logger {
  const logger: Logger = {
    debug: (_obj, msg) => lines.push({ level: "debug", msg: msg ?? "" }),
    info: (_obj, msg) => lines.push({ level: "info", msg: msg ?? "" }),
    warn: (_obj, msg) => lines.push({ level: "warn", msg: msg ?? "" }),
    error: (_obj, msg) => lines.push({ level: "error", msg: msg ?? "" }),
    child: () => logger,
  };
  return logger;
}

describe("the runner's log", () => {
  it("does not say retrying when errorPolicy returned done() (it said 'not retrying')", async () => {
    const lines: { level: string; msg: string }[] = [];
    env = createTestEnv({ logger: recording(lines) });
    let runs = 0;
    await env.start(
      controller(Widget, {
        name: "widgets",
        errorPolicy: () => done(),
        reconcile: () => {
          runs++;
          throw new Error("down");
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() =>
      expect(lines).toContainEqual({
        level: "error",
        msg: "reconcile failed; errorPolicy returned done(): waiting for the next change",
      }),
    );
    await env.advance(60_000);
    expect(runs).toBe(1);
    expect(lines.filter((l) => /retry/.test(l.msg))).toEqual([]);
  });

  it("does not promise a retry for an abandoned reconcile: the line when it settles says what comes next", async () => {
    const lines: { level: string; msg: string }[] = [];
    env = createTestEnv({ logger: recording(lines) });
    let release!: () => void;
    let runs = 0;
    await env.start(
      controller(Widget, {
        name: "widgets",
        reconcileTimeoutMs: 10_000,
        errorPolicy: () => done(),
        reconcile: () => {
          runs++;
          // Ignores its signal; settles when the test says.
          return new Promise<void>((resolve) => {
            release = resolve;
          });
        },
      }),
    );
    await env.plane.resources(Widget).create(widget("a"));
    await eventually(() => expect(runs).toBe(1));
    await env.advance(11_000);
    await eventually(() =>
      expect(lines).toContainEqual({
        level: "error",
        msg: "reconcile ignored its aborted signal and was abandoned; its key waits until it settles",
      }),
    );
    release();
    await eventually(() =>
      expect(lines).toContainEqual({
        level: "error",
        msg: "reconcile failed; errorPolicy returned done(): waiting for the next change",
      }),
    );
    expect(lines.filter((l) => /retry/.test(l.msg))).toEqual([]);
    await env.advance(60_000);
    expect(runs).toBe(1);
  });
});
