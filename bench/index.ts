/**
 * `npm run bench`: every benchmark, in one run, each beside its peers. Figures vary with the
 * machine's load; compare ratios from the same run.
 */
import { storeBenchmarks } from "./store.bench.js";

const objects = Number(process.env.BENCH_OBJECTS ?? 100_000);
console.log(`setpoint benchmarks — node ${process.version}, ${new Date().toISOString()}`);
await storeBenchmarks(objects);
