/**
 * `npm run test:loaded`: the whole suite beside two busy CPU loops (on a two-core machine, a
 * load of about 4), as the suite must pass on a busy machine: tests are bound by progress, not
 * by wall time. Arguments go to vitest.
 */
import { spawn, spawnSync } from "node:child_process";

const loops = Array.from({ length: Number(process.env.LOAD_LOOPS ?? 2) }, () =>
  spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
);
try {
  const result = spawnSync(
    process.execPath,
    ["node_modules/vitest/vitest.mjs", "run", ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  process.exitCode = result.status ?? 1;
} finally {
  for (const loop of loops) loop.kill("SIGKILL");
}
