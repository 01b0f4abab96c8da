/**
 * The server side of the Kubernetes benchmarks, in a process of its own: a memory plane with N
 * objects behind `setpoint serve`. Prints `ready <url>`; on `churn <count>` on standard input it
 * updates objects that many times, as fast as it can, stamping each with the time it was written.
 */
import { createInterface } from "node:readline";
import { createControlPlane, serveKubernetesApi } from "../src/index.js";
import { BenchWidget, benchWidget } from "./objects.js";

const count = Number(process.argv[2] ?? 10_000);
// History deep enough that a watch connecting during a burst of changes is not sent a 410.
const plane = createControlPlane({ kinds: [BenchWidget], historyLimit: 200_000 });
const widgets = plane.resources(BenchWidget);
for (let i = 0; i < count; i++) await widgets.create(benchWidget(i));

/**
 * Patches `n` objects, one after another. The patches resolve without yielding to the event loop,
 * so a watch's writes reach its socket together at the end: clients see one burst.
 */
async function churn(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const key = { namespace: `team-${i % 20}`, name: `widget-${i % count}` };
    await widgets.patch(key, {
      type: "merge",
      patch: {
        metadata: { annotations: { "bench/written": String(Date.now()) } },
        spec: { replicas: i },
      },
    });
  }
}

// Warm up, so that whichever client is measured first does not pay for the server's JIT.
await churn(Math.min(count, 10_000));
const server = await serveKubernetesApi(plane, { maxBodyBytes: 64 * 1024 * 1024 });
console.log(`ready ${server.url}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === "churn") {
    await churn(Number(arg));
    console.log("churned");
  } else if (command === "exit") break;
}
await server.close();
process.exit(0);
