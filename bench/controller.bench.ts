/**
 * End to end on the memory control plane: objects reconciled per second by a no-op reconcile at
 * concurrency 16 (from a cold start over 100,000 existing objects, and while they are being
 * created), and the latency from a write to the start of its reconcile at 1,000 writes/s.
 */
import { z } from "zod";
import { controller, createControlPlane, defineKind, Manager, silentLogger } from "../src/index.js";
import { percentile, rate, table } from "./report.js";

const Item = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Item",
  scope: "Namespaced",
  spec: z.object({ n: z.number() }),
});
const item = (i: number) => ({
  metadata: { name: `item-${i}`, namespace: `ns-${i % 10}` },
  spec: { n: i },
});

async function withManager(
  onReconcile: (name: string) => void,
  body: (plane: ReturnType<typeof createControlPlane>, started: Promise<void>) => Promise<void>,
  existing = 0,
) {
  const plane = createControlPlane();
  const items = plane.resources(Item);
  for (let i = 0; i < existing; i++) await items.create(item(i));
  const manager = new Manager({ plane, logger: silentLogger() });
  manager.add(
    controller(Item, {
      name: "items",
      concurrency: 16,
      resyncMs: 0,
      reconcile(object) {
        onReconcile(object.metadata.name);
      },
    }),
  );
  const stop = new AbortController();
  const running = manager.run({ signal: stop.signal });
  await body(plane, manager.ready());
  stop.abort();
  await running;
  await plane.close();
}

export async function controllerBenchmarks(objects = 100_000): Promise<void> {
  // Cold start: every object exists before the manager starts.
  let reconciled = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  let coldMs = 0;
  await withManager(
    () => {
      if (++reconciled === objects) allDone();
    },
    async () => {
      const started = performance.now();
      await finished;
      coldMs = performance.now() - started;
    },
    objects,
  );
  // Warm: the manager runs while the objects are created.
  reconciled = 0;
  const warmFinished = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  let warmMs = 0;
  await withManager(
    () => {
      if (++reconciled === objects) allDone();
    },
    async (plane, ready) => {
      await ready;
      const items = plane.resources(Item);
      const started = performance.now();
      for (let i = 0; i < objects; i++) await items.create(item(i));
      await warmFinished;
      warmMs = performance.now() - started;
    },
  );

  // Latency at 1,000 writes/s.
  const count = 3_000;
  const writtenAt = new Map<string, number>();
  const latencies: number[] = [];
  let paceMs = 0;
  await withManager(
    (name) => latencies.push(performance.now() - writtenAt.get(name)!),
    async (plane, ready) => {
      await ready;
      const items = plane.resources(Item);
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        const wait = started + i - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        writtenAt.set(`item-${i}`, performance.now());
        await items.create(item(i));
      }
      paceMs = performance.now() - started;
      while (latencies.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  );
  latencies.sort((a, b) => a - b);

  table(
    `Controllers: a no-op reconcile at concurrency 16, ${objects.toLocaleString("en-US")} objects`,
    ["measure", "result"],
    [
      [
        "cold start: list, cache and reconcile every existing object",
        `${rate(objects, coldMs)} reconciles (${coldMs.toFixed(0)} ms)`,
      ],
      [
        "live: create each object, reconcile it (writes included)",
        `${rate(objects, warmMs)} objects`,
      ],
      [
        `write → reconcile start at ${rate(count, paceMs)}`,
        `p50 ${(percentile(latencies, 50) * 1000).toFixed(0)} µs, p99 ${(percentile(latencies, 99) * 1000).toFixed(0)} µs`,
      ],
    ],
  );
}
