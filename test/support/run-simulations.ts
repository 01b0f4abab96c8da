/**
 * `npm run simulate -- --seeds 100000 [--from 1]`: the examples' deterministic simulations
 * (test/simulate-examples.test.ts) for as many seeds as asked, each failure printed with its
 * seed and trace. `npm test` runs 200 seeds of each.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { seeds: { type: "string", default: "10000" }, from: { type: "string", default: "1" } },
});
for (const [flag, value] of Object.entries(values))
  if (!/^\d+$/.test(value ?? "") || Number(value) < 1)
    throw new Error(`--${flag} ${value}: expected a positive whole number`);
const result = spawnSync(
  process.execPath,
  [
    "node_modules/vitest/vitest.mjs",
    "run",
    "test/simulate-examples.test.ts",
    "--testTimeout",
    String(Math.max(60_000, Number(values.seeds) * 500)),
  ],
  {
    stdio: "inherit",
    env: { ...process.env, SIM_SEEDS: values.seeds, SIM_FROM: values.from },
  },
);
process.exitCode = result.status ?? 1;
