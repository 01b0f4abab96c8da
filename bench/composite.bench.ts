/**
 * A composite controller at scale, on the memory control plane: 1,000 parents with 100 children
 * each. Time for everything to converge from empty (100,000 children created, every parent's
 * status reporting them), then the writes a full resync makes when nothing changed (target: 0).
 */
import { z } from "zod";
import {
  composite,
  createControlPlane,
  defineKind,
  Manager,
  MemoryBackend,
  silentLogger,
} from "../src/index.js";
import { table } from "./report.js";

const Parent = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Parent",
  scope: "Namespaced",
  spec: z.object({ children: z.number().int() }),
  status: z.record(z.string(), z.unknown()),
});
const Child = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Child",
  scope: "Namespaced",
  spec: z.object({
    index: z.number().int(),
    image: z.string(),
    replicas: z.number().int().default(1),
  }),
});

export async function compositeBenchmarks(parents = 1_000, perParent = 100): Promise<void> {
  const backend = new MemoryBackend({ historyLimit: 500_000 });
  const plane = createControlPlane({ backend });
  let syncs = 0;
  const controller = composite(Parent, {
    name: "parents",
    concurrency: 16,
    children: [{ kind: Child }],
    sync: ({ parent, children }) => {
      syncs++;
      return {
        children: Array.from({ length: parent.spec.children }, (_, index) => ({
          apiVersion: Child.apiVersion,
          kind: "Child",
          metadata: { name: `${parent.metadata.name}-${index}` },
          spec: { index, image: "registry.example.com/app:v1" },
        })),
        status: { children: children.of(Child).length },
      };
    },
  });
  const manager = new Manager({ plane, logger: silentLogger() });
  manager.add(controller);
  const stop = new AbortController();
  const running = manager.run({ signal: stop.signal });
  await manager.ready();
  const parentsClient = plane.resources(Parent, { namespace: "bench" });
  const started = performance.now();
  for (let i = 0; i < parents; i++)
    await parentsClient.create({ metadata: { name: `p${i}` }, spec: { children: perParent } });
  for (;;) {
    const { items } = await parentsClient.list();
    if (items.every((p) => (p.status as { children?: number } | undefined)?.children === perParent))
      break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const convergedMs = performance.now() - started;
  const children = (await plane.resources(Child).list()).items.length;

  // Nothing changed: a full resync must write nothing.
  const revisionBefore = backend.revision;
  const syncsBefore = syncs;
  manager.reconcileAll("parents");
  while (syncs < syncsBefore + parents) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const writes = backend.revision - revisionBefore;
  stop.abort();
  await running;

  table(
    `Composite: ${parents.toLocaleString("en-US")} parents × ${perParent} children, memory control plane`,
    ["measure", "result"],
    [
      [
        "converge from empty (children created, statuses written)",
        `${(convergedMs / 1000).toFixed(1)} s (${children.toLocaleString("en-US")} children)`,
      ],
      [
        "child writes per second while converging",
        `${Math.round((children / convergedMs) * 1000).toLocaleString("en-US")}/s`,
      ],
      ["writes of a full resync with nothing changed", String(writes)],
    ],
  );
}
