/**
 * The server side of the Kubernetes benchmarks, in a process of its own: a memory plane with N
 * objects behind `setpoint serve`. Prints `ready <url>`; on `churn <count> [perSecond]` on standard
 * input it updates objects that many times, as fast as it can or at that rate, stamping each with
 * the time it was written.
 */
import { createInterface } from "node:readline";
import { createControlPlane, serveKubernetesApi } from "../src/index.js";
import { BenchWidget, benchWidget } from "./objects.js";

const count = Number(process.argv[2] ?? 10_000);
// History deep enough that a watch connecting during a burst of changes is not sent a 410.
const plane = createControlPlane({ kinds: [BenchWidget], historyLimit: 200_000 });
const widgets = plane.resources(BenchWidget);
for (let i = 0; i < count; i++) await widgets.create(benchWidget(i));

function change(i: number) {
  const key = { namespace: `team-${i % 20}`, name: `widget-${i % count}` };
  return widgets.patch(key, {
    type: "merge",
    patch: {
      metadata: { annotations: { "bench/written": String(Date.now()) } },
      spec: { replicas: i },
    },
  });
}

/**
 * Patches `n` objects, one after another. Without `perSecond`, as fast as it can: the patches
 * resolve without yielding to the event loop, so a watch's writes reach its socket together at
 * the end and clients see one burst. With it, at that steady rate, in steps of 10 ms.
 */
async function churn(n: number, perSecond?: number): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    if (perSecond !== undefined) {
      const due = started + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(wait, 10)));
    }
    await change(i);
  }
}

// Warm up, so that whichever client is measured first does not pay for the server's JIT.
await churn(Math.min(count, 10_000));
const server = await serveKubernetesApi(plane, { maxBodyBytes: 64 * 1024 * 1024 });
console.log(`ready ${server.url}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg, rate] = line.trim().split(/\s+/);
  if (command === "churn") {
    await churn(Number(arg), rate === undefined ? undefined : Number(rate));
    console.log("churned");
  } else if (command === "exit") break;
}
await server.close();
process.exit(0);
