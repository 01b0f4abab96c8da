/**
 * `npm run bench`: every benchmark, in one run, each beside its peers. Figures vary with the
 * machine's load; compare ratios from the same run. `BENCH=store,durable,postgres,replicas,queue,controller,composite,kubernetes,simulate,dashboard` picks some (`dashboard` needs Chromium); `BENCH=million` (not in the default run) measures
 * 1,000,000 objects in memory and in PostgreSQL.
 */
import { compositeBenchmarks } from "./composite.bench.js";
import { controllerBenchmarks } from "./controller.bench.js";
import { dashboardBenchmarks } from "./dashboard.bench.js";
import { durableBenchmarks } from "./durable.bench.js";
import { kubernetesBenchmarks } from "./k8s.bench.js";
import { millionBenchmarks } from "./million.bench.js";
import { postgresBenchmarks } from "./postgres.bench.js";
import { queueBenchmarks } from "./queue.bench.js";
import { replicaBenchmarks } from "./replicas.bench.js";
import { simulateBenchmarks } from "./simulate.bench.js";
import { storeBenchmarks } from "./store.bench.js";

const objects = Number(process.env.BENCH_OBJECTS ?? 100_000);
const only = new Set(
  (
    process.env.BENCH ??
    "store,durable,postgres,replicas,queue,controller,composite,kubernetes,simulate,dashboard"
  ).split(","),
);
console.log(`setpoint benchmarks — node ${process.version}, ${new Date().toISOString()}`);
if (only.has("store")) await storeBenchmarks(objects);
if (only.has("durable")) await durableBenchmarks();
if (only.has("postgres")) await postgresBenchmarks();
if (only.has("replicas")) await replicaBenchmarks();
if (only.has("queue")) await queueBenchmarks();
if (only.has("controller")) await controllerBenchmarks(objects);
if (only.has("composite")) await compositeBenchmarks();
if (only.has("kubernetes")) await kubernetesBenchmarks();
if (only.has("simulate")) await simulateBenchmarks();
if (only.has("dashboard")) await dashboardBenchmarks();
// Not in the default run: minutes and a few GB of heap.
if (only.has("million")) await millionBenchmarks();
