/**
 * The Manager's health and metrics server: controller-runtime's metric names with real values
 * after a few reconciles; /healthz and /readyz green when all is well, /readyz green for a
 * leader-election standby, and /healthz red for a watcher its store has gone silent on.
 */
import { describe, expect, it } from "vitest";
import {
  type Backend,
  controller,
  createControlPlane,
  Manager,
  MemoryBackend,
  silentLogger,
  type Watch,
} from "../src/index.js";
import { eventually } from "../src/testing/eventually.js";
import { FakeClock } from "../src/testing/fake-clock.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

describe("the health and metrics server", () => {
  it("serves controller-runtime's metrics with sensible values after a few reconciles, and green probes", async () => {
    const plane = createControlPlane();
    const manager = new Manager({ plane, logger: silentLogger(), healthPort: 0 });
    let reconciles = 0;
    manager.add(controller(Widget, { name: "widgets", reconcile: () => void reconciles++ }));
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    try {
      await manager.ready();
      const widgets = plane.resources(Widget, { namespace: "shop" });
      for (const name of ["a", "b", "c"])
        await widgets.create({ metadata: { name }, spec: { replicas: 1 } });
      await eventually(() => expect(reconciles).toBe(3));
      const url = manager.healthUrl!;
      const metrics = await get(`${url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(
        /controller_runtime_reconcile_total\{controller="widgets",result="success"\} 3/,
      );
      expect(metrics.text).toMatch(/workqueue_adds_total\{name="widgets"\} 3/);
      expect(metrics.text).toMatch(
        /controller_runtime_reconcile_time_seconds_count\{controller="widgets"\} 3/,
      );
      expect(metrics.text).toMatch(/workqueue_depth\{name="widgets"\} 0/);
      expect(metrics.text).toMatch(/controller_runtime_active_workers\{controller="widgets"\} 0/);
      expect(await get(`${url}/healthz`)).toEqual({
        status: 200,
        text: "[+]running ok\n[+]watcher example.setpoint.dev/Widget ok\n[+]workers widgets ok\nok\n",
      });
      expect(await get(`${url}/readyz`)).toEqual({
        status: 200,
        text: "[+]caches synced ok\nok\n",
      });
      expect((await get(`${url}/nope`)).status).toBe(404);
    } finally {
      stop.abort();
      await running;
    }
    // Stopped: the server is gone with the manager.
    expect(manager.healthUrl).toBeUndefined();
  });

  it("is ready while standing by for the lease", async () => {
    const plane = createControlPlane();
    const timing = { leaseDurationMs: 900, renewDeadlineMs: 600, retryPeriodMs: 150 };
    const managers = ["a", "b"].map((identity) =>
      new Manager({
        plane,
        logger: silentLogger(),
        healthPort: 0,
        leaderElection: { name: "widgets", identity, ...timing },
      }).add(controller(Widget, { name: "widgets", reconcile: () => {} })),
    );
    const stop = new AbortController();
    const runs = managers.map((m) => m.run({ signal: stop.signal }));
    try {
      await eventually(() => expect(managers.filter((m) => m.leading)).toHaveLength(1));
      const standby = managers.find((m) => !m.leading)!;
      expect(await get(`${standby.healthUrl}/readyz`)).toEqual({
        status: 200,
        text: "[+]standby ok\nok\n",
      });
      expect((await get(`${standby.healthUrl}/healthz`)).status).toBe(200);
    } finally {
      stop.abort();
      await Promise.all(runs);
    }
  });

  it("turns /healthz red for a watcher whose store has gone silent past its watchdog", async () => {
    const clock = new FakeClock();
    const memory = new MemoryBackend({ clock });
    // A store whose watches never say anything again: no event, no bookmark.
    const silent: Backend = Object.assign(Object.create(memory), {
      watch: (): Watch => {
        const never: Watch = {
          [Symbol.asyncIterator]: () => never,
          next: () => new Promise(() => {}),
          return: async () => ({ done: true, value: undefined }),
          close: () => {},
        };
        return never;
      },
    });
    const plane = createControlPlane({ backend: silent });
    const manager = new Manager({ plane, clock, logger: silentLogger(), healthPort: 0 });
    manager.add(controller(Widget, { name: "widgets", reconcile: () => {} }));
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    try {
      await eventually(async () => expect(manager.healthUrl).toBeDefined());
      await clock.advance(1_000);
      await manager.ready();
      expect((await get(`${manager.healthUrl}/healthz`)).status).toBe(200);
      // The watcher restarts its silent stream every 3 minutes; nothing answers.
      await clock.advance(7 * 60_000);
      const health = await get(`${manager.healthUrl}/healthz`);
      expect(health.status).toBe(503);
      expect(health.text).toContain(
        "[-]watcher example.setpoint.dev/Widget failed: silent for 421 s (watchdog 180 s)",
      );
      expect(health.text.endsWith("failed\n")).toBe(true);
    } finally {
      stop.abort();
      await clock.advance(60_000);
      await running;
    }
  });
});
