/**
 * The client side of the Kubernetes benchmarks, in a process of its own:
 *   startup <consumer> <url> <count>   list+watch+cache every object; time and heap per object
 *   watch <consumer> <url> <count> <events>    how fast each of 5 bursts of changes is handled
 *   fanout <watchers> <url> <count> <events>   delivery latency of many raw watchers
 * Consumers: setpoint (Informer over connectKubernetes), client-node (makeInformer), raw
 * (http.get + JSON.parse + Map). Prints one JSON line; for `watch`, prints `watching` before each burst it awaits.
 */

import { mkdtemp, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CustomObjectsApi, KubeConfig, makeInformer } from "@kubernetes/client-node";
import { Informer } from "../src/index.js";
import { connectKubernetes, kubeconfigFor } from "../src/kubernetes/index.js";
import { BenchWidget } from "./objects.js";

const [
  mode = "startup",
  consumer = "setpoint",
  url = "",
  countText = "10000",
  eventsText = "10000",
] = process.argv.slice(2);
const count = Number(countText);
const gc = (globalThis as { gc?: () => void }).gc!;
const path = "/apis/bench.setpoint.dev/v1/widgets";

/** When the first and the last of a run of watch events were handled (performance.now()). */
interface Burst {
  readonly first: number;
  readonly last: number;
}

interface Consumer {
  size(): number;
  /** Resolves once `n` more watch events have been handled (after the initial list). */
  events(n: number): Promise<Burst>;
  stop(): Promise<void>;
}

/** Counts handled watch events; `events(n)` resolves once `n` more have been counted. */
function eventCounter() {
  let seen = 0;
  let base = 0;
  let wanted = Number.POSITIVE_INFINITY;
  let first = 0;
  let onEnough: (burst: Burst) => void = () => {};
  return {
    count(): void {
      if (++seen === base + 1) first = performance.now();
      if (seen === wanted) onEnough({ first, last: performance.now() });
    },
    events(n: number): Promise<Burst> {
      base = seen;
      wanted = seen + n;
      return new Promise((resolve) => {
        onEnough = resolve;
      });
    },
  };
}

// Setpoint reads its kubeconfig from a file; writing it is set-up, not startup (client-node is
// handed the same configuration as a string).
const kubeconfigFile = join(await mkdtemp(join(tmpdir(), "bench-")), "kubeconfig");
await writeFile(kubeconfigFile, kubeconfigFor(url));

async function startSetpoint(): Promise<Consumer> {
  const backend = await connectKubernetes({ kubeconfig: kubeconfigFile });
  const informer = new Informer(backend, BenchWidget);
  const counter = eventCounter();
  informer.writer.subscribe((_c, fromList) => {
    if (!fromList) counter.count();
  });
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  await informer.cache.ready();
  return {
    size: () => informer.cache.size,
    events: counter.events,
    stop: async () => {
      stop.abort();
      await running;
      await backend.close();
    },
  };
}

async function startClientNode(): Promise<Consumer> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigFor(url));
  const api = kc.makeApiClient(CustomObjectsApi);
  const informer = makeInformer(kc, path, () =>
    api.listClusterCustomObject({ group: "bench.setpoint.dev", version: "v1", plural: "widgets" }),
  );
  const counter = eventCounter();
  let listed = false;
  informer.on("update", () => {
    if (listed) counter.count();
  });
  await informer.start();
  listed = true;
  return {
    size: () => informer.list().length,
    events: counter.events,
    stop: () => informer.stop(),
  };
}

function getJson(target: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    get(target, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve(JSON.parse(text)));
    }).on("error", reject);
  });
}

async function startRaw(): Promise<Consumer> {
  const cache = new Map<string, unknown>();
  let token: string | undefined;
  let rv = "";
  do {
    const page = await getJson(
      `${url}${path}?limit=500${token ? `&continue=${encodeURIComponent(token)}` : ""}`,
    );
    for (const item of page.items as { metadata: { namespace: string; name: string } }[])
      cache.set(`${item.metadata.namespace}/${item.metadata.name}`, item);
    const metadata = page.metadata as { continue?: string; resourceVersion: string };
    token = metadata.continue;
    rv = metadata.resourceVersion;
  } while (token);
  const counter = eventCounter();
  const req = get(`${url}${path}?watch=true&resourceVersion=${rv}`, (res) => {
    let buffer = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const event = JSON.parse(buffer.slice(0, newline)) as {
          object: { metadata: { namespace: string; name: string } };
        };
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        cache.set(`${event.object.metadata.namespace}/${event.object.metadata.name}`, event.object);
        counter.count();
      }
    });
  });
  return {
    size: () => cache.size,
    events: counter.events,
    stop: async () => {
      req.destroy();
    },
  };
}

const writtenMark = '"bench/written":"';

if (mode === "fanout") {
  // `consumer` is the number of watchers here; every one parses every event.
  const watchers = Number(consumer);
  const events = Number(eventsText);
  const latencies: number[] = [];
  let done = 0;
  const rv = ((await getJson(`${url}${path}?limit=1`)).metadata as { resourceVersion: string })
    .resourceVersion;
  const finished = new Promise<void>((resolve) => {
    for (let w = 0; w < watchers; w++) {
      let seen = 0;
      get(`${url}${path}?watch=true&resourceVersion=${rv}`, (res) => {
        let buffer = "";
        res.setEncoding("utf8");
        // No JSON.parse: a hundred watchers in one process would measure this process, not
        // the server. Each line's write time is found by its annotation.
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let start = 0;
          let newline = buffer.indexOf("\n");
          while (newline >= 0) {
            const at = buffer.indexOf(writtenMark, start);
            latencies.push(
              Date.now() -
                Number(buffer.slice(at + writtenMark.length, at + writtenMark.length + 13)),
            );
            start = newline + 1;
            newline = buffer.indexOf("\n", start);
            if (++seen === events && ++done === watchers) resolve();
          }
          buffer = buffer.slice(start);
        });
      });
    }
  });
  console.log("watching");
  const started = performance.now();
  await finished;
  const ms = performance.now() - started;
  latencies.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      watchers,
      events,
      ms,
      p50: latencies[Math.floor(latencies.length / 2)],
      p99: latencies[Math.floor(latencies.length * 0.99)],
    }),
  );
  process.exit(0);
}

const start = { setpoint: startSetpoint, "client-node": startClientNode, raw: startRaw }[
  consumer as "raw"
];
if (start === undefined) throw new Error(`unknown consumer ${consumer}`);
gc();
const heapBefore = process.memoryUsage().heapUsed;
const started = performance.now();
const running = await start();
const ms = performance.now() - started;
if (running.size() !== count)
  throw new Error(`${consumer} cached ${running.size()} objects, not ${count}`);
if (mode === "startup") {
  gc();
  gc();
  const bytesPerObject = (process.memoryUsage().heapUsed - heapBefore) / count;
  console.log(JSON.stringify({ consumer, ms, bytesPerObject }));
} else {
  // Several bursts, one after another; the caller takes medians.
  const events = Number(eventsText);
  const handlingMs: number[] = [];
  const totalMs: number[] = [];
  /** CPU time of the whole process (GC threads included) per event, in µs. */
  const cpuUs: number[] = [];
  for (let round = 0; round < 5; round++) {
    const arrived = running.events(events);
    console.log("watching");
    const watchStarted = performance.now();
    const cpuBefore = process.cpuUsage();
    const { first, last } = await arrived;
    const cpu = process.cpuUsage(cpuBefore);
    handlingMs.push(last - first);
    totalMs.push(last - watchStarted);
    cpuUs.push((cpu.user + cpu.system) / events);
  }
  console.log(JSON.stringify({ consumer, events, totalMs, handlingMs, cpuUs }));
}
await running.stop();
process.exit(0);
