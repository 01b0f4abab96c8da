/**
 * The in-memory control plane: writes/s, list, watch fan-out, write→watch latency at a steady
 * 1,000 writes/s, and heap bytes per stored object against the object's JSON — beside a bare
 * `Map` of `JSON.parse`d objects, the representation an informer cache (client-node's) holds.
 */
import { createControlPlane, MemoryBackend, type Watch } from "../src/index.js";
import { benchWidget, BenchWidget as Workload } from "./objects.js";

/** The store's figures have always been quoted for these names (646 bytes of JSON). */
const workload = (i: number) => benchWidget(i, "workload");

import { heapUsed, percentile, rate, table } from "./report.js";

async function drain(watch: Watch, count: number, onEvent?: (n: number) => void): Promise<void> {
  let seen = 0;
  for await (const event of watch) {
    if (event.type === "BOOKMARK") continue;
    onEvent?.(seen);
    if (++seen === count) return;
  }
}

async function createAndUpdate(
  client: ReturnType<ReturnType<typeof createControlPlane>["resources"]>,
  objects: number,
) {
  let started = performance.now();
  for (let i = 0; i < objects; i++) await client.create(workload(i));
  const createMs = performance.now() - started;
  const { items } = await client.list();
  started = performance.now();
  for (const item of items) await client.update({ ...item, spec: { ...item.spec, replicas: 4 } });
  return { createMs, updateMs: performance.now() - started };
}

export async function storeBenchmarks(objects = 100_000, watchers = 10): Promise<void> {
  // The store alone: throughput, list, memory.
  const before = heapUsed();
  const plane = createControlPlane({ backend: new MemoryBackend() });
  const client = plane.resources(Workload as typeof Workload);
  const alone = await createAndUpdate(client as never, objects);

  let started = performance.now();
  const listed = await client.list();
  const listMs = performance.now() - started;
  started = performance.now();
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await client.list({ limit: 500, ...(token ? { continue: token } : {}) });
    token = page.continue;
    pages++;
  } while (token);
  const pagedMs = performance.now() - started;

  const storedBytes = (heapUsed() - before) / objects;
  const sample = await client.get({ namespace: "team-1", name: "workload-1" });
  const jsonBytes = Buffer.byteLength(JSON.stringify(sample));

  // The informer-cache representation: parsed JSON in a Map by key.
  const bare = new Map<string, unknown>();
  const bareBefore = heapUsed();
  for (const item of listed.items)
    bare.set(`${item.metadata.namespace}/${item.metadata.name}`, JSON.parse(JSON.stringify(item)));
  const bareBytes = (heapUsed() - bareBefore) / objects;
  bare.clear();
  await plane.close();

  // The same writes with watchers streaming every change.
  const fanout = createControlPlane();
  const fanoutClient = fanout.resources(Workload);
  const streams = Array.from({ length: watchers }, () =>
    drain(fanoutClient.watch({ resourceVersion: "0" }), objects * 2),
  );
  const watched = await createAndUpdate(fanoutClient as never, objects);
  started = performance.now();
  await Promise.all(streams);
  const drainMs = performance.now() - started;
  await fanout.close();

  const writes = (r: { createMs: number; updateMs: number }) =>
    rate(objects * 2, r.createMs + r.updateMs);
  table(
    `Memory control plane: ${objects.toLocaleString("en-US")} objects created, then each updated once`,
    ["measure", "result"],
    [
      [
        "writes, store alone (create / update)",
        `${writes(alone)} (${rate(objects, alone.createMs)} / ${rate(objects, alone.updateMs)})`,
      ],
      [
        `writes, ${watchers} watchers streaming every change`,
        `${writes(watched)} (${rate(objects, watched.createMs)} / ${rate(objects, watched.updateMs)})`,
      ],
      [
        `events delivered to ${watchers} watchers`,
        `${rate(objects * 2 * watchers, watched.createMs + watched.updateMs + drainMs)} (caught up ${drainMs.toFixed(0)} ms after the last write)`,
      ],
      [`list all ${listed.items.length.toLocaleString("en-US")}`, `${listMs.toFixed(1)} ms`],
      [`list in ${pages} pages of 500`, `${pagedMs.toFixed(1)} ms`],
      ["JSON bytes of one stored object", `${jsonBytes} B`],
      [
        "heap per stored object (objects, index, history)",
        `${storedBytes.toFixed(0)} B = ${(storedBytes / jsonBytes).toFixed(2)}× JSON`,
      ],
      [
        "heap per object, bare Map of parsed JSON",
        `${bareBytes.toFixed(0)} B = ${(bareBytes / jsonBytes).toFixed(2)}× JSON`,
      ],
      ["store ÷ bare Map", `${(storedBytes / bareBytes).toFixed(2)}×`],
    ],
  );

  // Latency from write to delivery at a steady 1,000 writes/s.
  const latencyPlane = createControlPlane();
  const latencyClient = latencyPlane.resources(Workload);
  const count = 3_000;
  const writtenAt = new Float64Array(count);
  const latencies: number[] = [];
  const latencyWatches = Array.from({ length: watchers }, () =>
    drain(latencyClient.watch(), count, (n) => latencies.push(performance.now() - writtenAt[n]!)),
  );
  started = performance.now();
  for (let i = 0; i < count; i++) {
    const due = started + i; // one write per millisecond
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    writtenAt[i] = performance.now();
    await latencyClient.create(workload(i));
  }
  const paceMs = performance.now() - started;
  await Promise.all(latencyWatches);
  await latencyPlane.close();
  latencies.sort((a, b) => a - b);
  table(
    `Write → watch delivery at ${rate(count, paceMs)} (${count.toLocaleString("en-US")} writes, ${watchers} watchers)`,
    ["p50", "p99", "max"],
    [
      [
        `${(percentile(latencies, 50) * 1000).toFixed(0)} µs`,
        `${(percentile(latencies, 99) * 1000).toFixed(0)} µs`,
        `${(latencies.at(-1)! * 1000).toFixed(0)} µs`,
      ],
    ],
  );
}
