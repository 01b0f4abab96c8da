/**
 * Through the Kubernetes REST API: setpoint serve in one process, clients in others.
 * - Startup: list+watch+cache of 10,000 and 100,000 objects by setpoint's Kubernetes backend (an
 *   Informer over connectKubernetes), the @kubernetes/client-node 1.4 informer, and a raw
 *   http.get + JSON.parse + Map baseline; time and heap per cached object.
 * - Watch throughput of the same three while the server churns.
 * - Fan-out: 100 watchers × 10,000 changes from one serve; events/s and delivery latency.
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
async function client(
  args: string[],
  onWatching?: () => void,
): Promise<Record<string, number | string>> {
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

const consumers = ["setpoint", "client-node", "raw"] as const;

async function watchThroughput(server: Awaited<ReturnType<typeof startServer>>): Promise<void> {
  const events = 10_000;
  const watchRows: string[][] = [];
  const watchResults = new Map<string, Record<string, number | string>>();
  for (const consumer of consumers) {
    let churning = false;
    const result = await client(["watch", consumer, server.url, "10000", String(events)], () => {
      churning = true;
      server.send(`churn ${events}`);
    });
    watchResults.set(consumer, result);
    if (churning) await server.until("churned");
  }
  for (const consumer of consumers) {
    const r = watchResults.get(consumer)!;
    watchRows.push(
      r.error !== undefined
        ? [consumer, String(r.error), "—"]
        : [
            consumer,
            rate(events, Number(r.ms)),
            `${(Number(watchResults.get("raw")!.ms) / Number(r.ms)).toFixed(2)}×`,
          ],
    );
  }
  table(
    `Watch throughput: ${events.toLocaleString("en-US")} changes made in the server process`,
    ["consumer", "events/s", "speed ÷ raw's"],
    watchRows,
  );
}

export async function kubernetesBenchmarks(): Promise<void> {
  const startupRows: string[][] = [];
  for (const count of process.env.BENCH_K8S_QUICK ? [] : [10_000, 100_000]) {
    const server = await startServer(count);
    const results = new Map<string, Record<string, number | string>>();
    for (const consumer of consumers)
      results.set(consumer, await client(["startup", consumer, server.url, String(count)]));
    const raw = results.get("raw")!;
    for (const consumer of consumers) {
      const r = results.get(consumer)!;
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

  const server = await startServer(10_000);
  await watchThroughput(server);

  let fanoutChurning = false;
  const fanout = await client(["fanout", "100", server.url, "10000", "10000"], () => {
    fanoutChurning = true;
    server.send("churn 10000");
  });
  if (fanoutChurning) await server.until("churned");
  table(
    "Fan-out: 100 watchers × 10,000 changes from one setpoint serve",
    ["events delivered", "rate", "delivery p50", "delivery p99"],
    [
      [
        (100 * 10_000).toLocaleString("en-US"),
        rate(100 * 10_000, Number(fanout.ms)),
        `${fanout.p50} ms`,
        `${fanout.p99} ms`,
      ],
    ],
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
