/**
 * One controller, two worlds: the Workload controller of workload.ts, unchanged, on the
 * in-memory control plane — or, given a kubeconfig, against a Kubernetes API: `setpoint serve`
 * or a real cluster (with the Workload CRD applied: `setpoint crd examples/workload.ts`).
 *
 *   npx tsx --conditions=source examples/operator.ts                          # memory
 *   npx tsx --conditions=source examples/operator.ts --kubeconfig ./kubeconfig # Kubernetes
 */
import { parseArgs } from "node:util";
import { createControlPlane, run } from "setpoint";
import { connectKubernetes } from "setpoint/kubernetes";
import { Workload, workloadController } from "./workload.js";

const { values } = parseArgs({
  options: { kubeconfig: { type: "string" }, context: { type: "string" } },
});
const backend =
  values.kubeconfig === undefined
    ? undefined
    : await connectKubernetes({
        kubeconfig: values.kubeconfig,
        ...(values.context ? { context: values.context } : {}),
      });
const plane = createControlPlane(backend === undefined ? {} : { backend });
if (backend === undefined) {
  // On memory nothing else writes Workloads: start with one.
  await plane.resources(Workload).create({
    metadata: { name: "hello", namespace: "default" },
    spec: { command: ["sleep", "600"], replicas: 1 },
  });
}

const { controller, stopAll } = workloadController();
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());
await run([controller], { plane, signal: stop.signal });
await stopAll();
await plane.close();
