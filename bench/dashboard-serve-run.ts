/**
 * The server of the dashboard benchmark, in a process of its own (so that the CPU measured is the
 * server's, not the browser driver's): 10,000 objects of a typical size behind `setpoint serve`.
 * Prints `ready <url>`; on `burst` changes every object once (item-00000 last) and prints
 * `burst <seq>`, the value its watchers wait for; on `cpu` prints its CPU time so far in ms (user
 * + system); exits on `exit`.
 */
import { createInterface } from "node:readline";
import { z } from "zod";
import { createControlPlane, defineKind } from "../src/index.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";

const BenchItem = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Item",
  scope: "Namespaced",
  spec: z.object({
    seq: z.number().int(),
    image: z.string(),
    command: z.array(z.string()),
    env: z.array(z.object({ name: z.string(), value: z.string() })),
    resources: z.record(z.string(), z.record(z.string(), z.string())),
  }),
  printerColumns: [{ name: "Seq", type: "integer", jsonPath: ".spec.seq" }],
});
const count = 10_000;
const name = (i: number) => `item-${String(i).padStart(5, "0")}`;

// History deep enough that a watch connecting during a burst is not sent a 410.
const plane = createControlPlane({ kinds: [BenchItem], historyLimit: 200_000 });
const items = plane.resources(BenchItem, { namespace: "default" });
for (let i = 0; i < count; i += 500)
  await Promise.all(
    Array.from({ length: Math.min(500, count - i) }, (_, j) =>
      items.create({
        // A typical object (about 700 bytes of JSON, a small Deployment's size): what a watcher
        // pays per change depends on it (a plain watch sends the whole object, a Table watch
        // its row and metadata).
        metadata: {
          name: name(i + j),
          labels: { app: "backend", tier: "api", team: "payments" },
          annotations: { "example.com/owner": "payments-team@example.com" },
        },
        spec: {
          seq: 0,
          image: "registry.example.com/shop/backend:v1.24.3",
          command: ["node", "server.js", "--port", "8080"],
          env: [
            { name: "LOG_LEVEL", value: "info" },
            { name: "REGION", value: "eu-west-1" },
          ],
          resources: {
            requests: { cpu: "250m", memory: "256Mi" },
            limits: { cpu: "1", memory: "512Mi" },
          },
        },
      }),
    ),
  );

/** A burst of 10,000 changes, item-00000's last: every watcher that shows it saw them all. */
let marker = 0;
async function burst(): Promise<string> {
  marker += 1_000_000;
  const seq = marker;
  for (let i = 1; i < count; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, (_, j) =>
        items.patch(name(i + j), { type: "merge", patch: { spec: { seq } } }),
      ),
    );
  await items.patch(name(0), { type: "merge", patch: { spec: { seq } } });
  return String(seq);
}

// Warm up, so that whichever watcher is measured first does not pay for the server's JIT.
await burst();
const server = await serveKubernetesApi(plane, { builtinKinds: false });
console.log(`ready ${server.url}`);
for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === "burst") console.log(`burst ${await burst()}`);
  else if (command === "cpu") {
    const { user, system } = process.cpuUsage();
    console.log(`cpu ${(user + system) / 1000}`);
  } else if (command === "exit") break;
}
await server.close();
process.exit(0);
