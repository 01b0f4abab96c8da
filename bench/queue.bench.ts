/**
 * The work queue beside the JS limit (a bare array + Set loop), fastq + Set, p-queue + Set and a
 * 40-line client-go-style queue; each run in a fresh process for its own peak RSS, three times,
 * medians reported.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { table } from "./report.js";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./queue-run.ts", import.meta.url));

type Result = {
  ms: number;
  processed: number;
  peakRssMb: number;
  bytesPerKey: number;
  p50: number;
  p99: number;
};

async function measure(scenario: string, implementation: string, runs = 3): Promise<Result> {
  const results: Result[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(
      process.execPath,
      ["--expose-gc", "--conditions=source", "--import", "tsx", script, scenario, implementation],
      {
        maxBuffer: 1 << 20,
      },
    );
    results.push(JSON.parse(stdout.trim().split("\n").at(-1)!));
  }
  const median = (pick: (r: Result) => number) =>
    results.map(pick).sort((a, b) => a - b)[Math.floor(runs / 2)]!;
  return {
    ms: median((r) => r.ms),
    processed: median((r) => r.processed),
    peakRssMb: median((r) => r.peakRssMb),
    bytesPerKey: median((r) => r.bytesPerKey),
    p50: median((r) => r.p50),
    p99: median((r) => r.p99),
  };
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

export async function queueBenchmarks(): Promise<void> {
  const cycleImpls = ["setpoint", "bare", "fastq", "p-queue"];
  const cycles = new Map<string, Result>();
  for (const impl of cycleImpls) cycles.set(impl, await measure("cycles", impl));
  const ours = cycles.get("setpoint")!;
  table(
    "Work queue: 1,000,000 add/get/done cycles over 100,000 keys, 16 async workers (median of 3)",
    ["implementation", "cycles/s", "setpoint's speed ÷ its", "peak RSS"],
    cycleImpls.map((impl) => {
      const r = cycles.get(impl)!;
      return [
        impl,
        fmt((1e6 / r.ms) * 1000),
        `${(r.ms / ours.ms).toFixed(2)}×`,
        `${fmt(r.peakRssMb)} MB`,
      ];
    }),
  );

  const dedupImpls = ["setpoint", "client-go-style", "fastq", "p-queue"];
  const dedup = new Map<string, Result>();
  for (const impl of dedupImpls) dedup.set(impl, await measure("dedup", impl));
  const oursDedup = dedup.get("setpoint")!;
  table(
    "Dedup: 100,000 keys each added 5 times in random order at once, 16 workers (median of 3)",
    ["implementation", "items processed", "time", "time ÷ setpoint's"],
    dedupImpls.map((impl) => {
      const r = dedup.get(impl)!;
      return [impl, fmt(r.processed), `${fmt(r.ms, 1)} ms`, `${(r.ms / oursDedup.ms).toFixed(2)}×`];
    }),
  );

  const starvation = new Map<string, Result>();
  for (const impl of ["setpoint", "client-go-style"])
    starvation.set(impl, await measure("starvation", impl));
  table(
    "Saturated: 10,000 keys of an initial list (low lane) behind 100 keys requeued at once, 16 workers (median of 3)",
    ["implementation", "max wait of a listed key", "handouts meanwhile", "handouts/s"],
    [...starvation].map(([impl, r]) => [
      impl === "setpoint" ? "setpoint (low lane: 1 handout in 5)" : "client-go-style (one FIFO)",
      `${fmt(r.ms, 1)} ms`,
      fmt(r.processed),
      fmt((r.processed / r.ms) * 1000),
    ]),
  );

  const delays = new Map<string, Result>();
  for (const impl of ["setpoint", "setTimeout"]) delays.set(impl, await measure("delays", impl));
  table(
    "Delays: 100,000 keys with random delays up to 1 s (median of 3)",
    ["implementation", "heap per key", "lateness p50", "lateness p99"],
    [...delays].map(([impl, r]) => [
      impl === "setpoint" ? "WorkQueue.addAfter (one timer)" : "one setTimeout per key",
      `${fmt(r.bytesPerKey)} B`,
      `${r.p50.toFixed(1)} ms`,
      `${r.p99.toFixed(1)} ms`,
    ]),
  );
}
