/**
 * Through the Kubernetes REST API: setpoint serve in one process, clients in others.
 * - Startup: list+watch+cache of 10,000 and 100,000 objects by setpoint's Kubernetes backend (an
 *   Informer over connectKubernetes), the @kubernetes/client-node 1.4 informer, and a raw
 *   http.get + JSON.parse + Map baseline; time and heap per cached object.
 * - Watch throughput of the same three while the server churns.
 * - Fan-out: 100 watchers × 10,000 changes from one serve; events/s and delivery latency — the
 *   watchers in one process, and in ten processes of ten (so that the server, not one client
 *   process, is what is measured).
 * - `kubectl get` of 10,000 objects: wall time.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { kubeconfigFor } from "../src/kubernetes/index.js";
import { rate, table } from "./report.js";

const exec = promisify(execFile);
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const node = (script: string, args: string[]) =>
  spawn(
    process.execPath,
    ["--expose-gc", "--conditions=source", "--import", "tsx", here(script), ...args],
    { stdio: ["pipe", "pipe", "inherit"] },
  );

function lines(child: ChildProcess): AsyncIterableIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function startServer(count: number) {
  const child = node("k8s-serve-run.ts", [String(count)]);
  const out = lines(child);
  const first = (await out.next()).value as string;
  const url = first.replace(/^ready /, "");
  return {
    url,
    out,
    send: (line: string) => child.stdin!.write(`${line}\n`),
    /** Reads lines until `expected` (a for-await with break would close the reader). */
    async until(expected: string) {
      for (;;) {
        const { value, done } = await out.next();
        if (done || value === expected) return;
      }
    },
    stop: () => {
      child.stdin!.write("exit\n");
      return new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

/** Runs one client; gives up (and says so) after a minute rather than hang the run. */
async function client(args: string[], onWatching?: () => void): Promise<Record<string, unknown>> {
  const child = node("k8s-client-run.ts", args);
  const timer = setTimeout(() => child.kill(), 60_000);
  try {
    for await (const line of lines(child)) {
      if (line === "watching") onWatching?.();
      else if (line.startsWith("{")) return JSON.parse(line);
    }
  } finally {
    clearTimeout(timer);
    child.kill();
  }
  return { error: `client ${args.slice(0, 2).join(" ")} did not finish in a minute` };
}

/**
 * `processes` fan-out clients of `each` watchers; the burst starts once all watch. The rate is
 * over the slowest process; p50 the median of theirs, p99 the worst of theirs.
 */
async function fanoutInProcesses(
  server: Awaited<ReturnType<typeof startServer>>,
  processes: number,
  each: number,
  changes: number,
): Promise<{ ms: number; p50: number; p99: number; error?: string }> {
  const children = Array.from({ length: processes }, () =>
    node("k8s-client-run.ts", ["fanout", String(each), server.url, "10000", String(changes)]),
  );
  const outputs = children.map((child) => lines(child));
  const timer = setTimeout(() => {
    for (const child of children) child.kill();
  }, 120_000);
  try {
    for (const out of outputs) {
      const { value } = await out.next();
      if (value !== "watching") return { ms: 0, p50: 0, p99: 0, error: "a client did not start" };
    }
    server.send(`churn ${changes}`);
    const results: { ms: number; p50: number; p99: number }[] = [];
    for (const out of outputs) {
      const { value, done } = await out.next();
      if (done) return { ms: 0, p50: 0, p99: 0, error: "a client did not finish in 2 minutes" };
      results.push(JSON.parse(value));
    }
    await server.until("churned");
    const p50s = results.map((r) => r.p50).sort((a, b) => a - b);
    return {
      ms: Math.max(...results.map((r) => r.ms)),
      p50: p50s[p50s.length >> 1]!,
      p99: Math.max(...results.map((r) => r.p99)),
    };
  } finally {
    clearTimeout(timer);
    for (const child of children) child.kill();
  }
}

const consumers = ["setpoint", "client-node", "raw"] as const;

/**
 * Each consumer, in two interleaved passes of five bursts each, so that a noisy moment on this
 * shared machine does not fall on one consumer alone; medians of the ten.
 */
async function watchThroughput(server: Awaited<ReturnType<typeof startServer>>): Promise<void> {
  const events = 20_000;
  const handling = new Map<string, number[]>(consumers.map((c) => [c, []]));
  const total = new Map<string, number[]>(consumers.map((c) => [c, []]));
  const cpu = new Map<string, number[]>(consumers.map((c) => [c, []]));
  const errors = new Map<string, string>();
  for (let pass = 0; pass < 2; pass++) {
    for (const consumer of consumers) {
      let bursts = 0;
      const result = await client(["watch", consumer, server.url, "10000", String(events)], () => {
        bursts++;
        server.send(`churn ${events}`);
      });
      for (; bursts > 0; bursts--) await server.until("churned");
      if (result.error !== undefined) errors.set(consumer, String(result.error));
      else {
        handling.get(consumer)!.push(...(result.handlingMs as number[]));
        total.get(consumer)!.push(...(result.totalMs as number[]));
        cpu.get(consumer)!.push(...(result.cpuUs as number[]));
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
  const rawMs = median(handling.get("raw")!);
  table(
    `Watch throughput: bursts of ${events.toLocaleString("en-US")} changes, first to last event handled (median of 10)`,
    [
      "consumer",
      "events/s",
      "speed ÷ raw's",
      "CPU per event",
      "from the change command to the last event",
    ],
    consumers.map((consumer) => {
      const error = errors.get(consumer);
      if (error !== undefined) return [consumer, error, "—", "—", "—"];
      const ms = median(handling.get(consumer)!);
      return [
        consumer,
        rate(events - 1, ms),
        `${(rawMs / ms).toFixed(2)}×`,
        `${median(cpu.get(consumer)!).toFixed(1)} µs`,
        `${median(total.get(consumer)!).toFixed(0)} ms`,
      ];
    }),
  );
}

export async function kubernetesBenchmarks(): Promise<void> {
  const startupRows: string[][] = [];
  /** Heap in use after startup, by consumer and object count. */
  const heap = new Map<string, Map<number, number>>(consumers.map((c) => [c, new Map()]));
  for (const count of process.env.BENCH_K8S_QUICK ? [] : [10_000, 100_000]) {
    const server = await startServer(count);
    const results = new Map<string, Record<string, unknown>>();
    for (const consumer of consumers)
      results.set(consumer, await client(["startup", consumer, server.url, String(count)]));
    const raw = results.get("raw")!;
    for (const consumer of consumers) {
      const r = results.get(consumer)!;
      heap.get(consumer)!.set(count, Number(r.bytesPerObject) * count);
      startupRows.push([
        count.toLocaleString("en-US"),
        consumer,
        `${Number(r.ms).toFixed(0)} ms`,
        `${(Number(r.ms) / Number(raw.ms)).toFixed(2)}×`,
        `${Number(r.bytesPerObject).toFixed(0)} B`,
      ]);
    }
    await server.stop();
  }
  table(
    "Kubernetes API: list + watch + cache through setpoint serve (clients in their own processes)",
    ["objects", "consumer", "time", "÷ raw", "heap per cached object"],
    startupRows,
  );
  if (!process.env.BENCH_K8S_QUICK)
    // The difference between the two runs leaves out what does not grow with the cache (compiled
    // code, modules, connections): what each further object costs.
    table(
      "Heap per further cached object: (heap at 100,000 − heap at 10,000) ÷ 90,000",
      ["consumer", "bytes"],
      consumers.map((consumer) => {
        const used = heap.get(consumer)!;
        return [consumer, `${((used.get(100_000)! - used.get(10_000)!) / 90_000).toFixed(0)} B`];
      }),
    );

  const server = await startServer(10_000);
  await watchThroughput(server);

  const fanoutRows: string[][] = [];
  for (const [changes, perSecond] of [
    [10_000, undefined],
    [5_000, 1_000],
  ] as const) {
    let churning = false;
    const fanout = await client(["fanout", "100", server.url, "10000", String(changes)], () => {
      churning = true;
      server.send(`churn ${changes}${perSecond === undefined ? "" : ` ${perSecond}`}`);
    });
    if (churning) await server.until("churned");
    fanoutRows.push([
      perSecond === undefined
        ? `${changes.toLocaleString("en-US")} changes at once`
        : `${changes.toLocaleString("en-US")} changes at ${perSecond.toLocaleString("en-US")}/s`,
      (100 * changes).toLocaleString("en-US"),
      fanout.error === undefined ? rate(100 * changes, Number(fanout.ms)) : String(fanout.error),
      `${fanout.p50} ms`,
      `${fanout.p99} ms`,
    ]);
  }
  {
    // The same burst to 100 watchers in ten processes of ten: the server's fan-out, not one
    // client process's parsing.
    const changes = 10_000;
    const result = await fanoutInProcesses(server, 10, 10, changes);
    fanoutRows.push([
      `${changes.toLocaleString("en-US")} changes at once, watchers in 10 processes`,
      (100 * changes).toLocaleString("en-US"),
      result.error ?? rate(100 * changes, result.ms),
      `${result.p50} ms`,
      `${result.p99} ms`,
    ]);
  }
  table(
    "Fan-out: 100 watchers of one setpoint serve (delivery: from the write to the watcher reading it)",
    ["changes", "events delivered", "rate", "delivery p50", "delivery p99"],
    fanoutRows,
  );

  const dir = await mkdtemp(join(tmpdir(), "bench-kubectl-"));
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, kubeconfigFor(server.url));
  try {
    const started = performance.now();
    const { stdout } = await exec(
      "kubectl",
      [
        "--kubeconfig",
        kubeconfig,
        "--cache-dir",
        join(dir, "cache"),
        "get",
        "widgets.bench.setpoint.dev",
        "-A",
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const ms = performance.now() - started;
    table(
      "kubectl get of 10,000 objects (Table, all namespaces)",
      ["rows", "wall time"],
      [[String(stdout.trim().split("\n").length - 1), `${ms.toFixed(0)} ms`]],
    );
  } catch (err) {
    console.log(`\nkubectl get: not measured (${(err as Error).message.split("\n")[0]})`);
  }
  await server.stop();
}
