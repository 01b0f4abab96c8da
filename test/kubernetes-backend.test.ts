/**
 * The Kubernetes backend runs the backend conformance suite against `setpoint serve` on memory:
 * every Store rule holds end to end through the REST API, both halves judged at once.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../src/backend/backend.js";
import { createControlPlane, MemoryBackend, Namespace } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { conformanceKinds, runBackendConformance } from "../src/testing/conformance.js";

const served = new Map<
  Backend,
  { memory: MemoryBackend; server: KubernetesApiServer; dir: string }
>();

runBackendConformance(
  "kubernetes, through setpoint serve",
  async () => {
    const memory = new MemoryBackend();
    const plane = createControlPlane({ backend: memory, kinds: Object.values(conformanceKinds) });
    // The served API refuses writes into namespaces that do not exist, as Kubernetes does.
    for (const name of ["conformance", "other"])
      await plane.resources(Namespace).create({ metadata: { name }, spec: {} });
    const server = await serveKubernetesApi(plane, { bookmarkIntervalMs: 50 });
    const dir = await mkdtemp(join(tmpdir(), "setpoint-k8s-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const backend = await connectKubernetes({ kubeconfig });
    served.set(backend, { memory, server, dir });
    return backend;
  },
  {
    compact: (backend) => served.get(backend)!.memory.compact(),
    // Kubernetes has no atomic fence for writes: the backend ignores it.
    fencing: false,
    cleanup: async (backend) => {
      const { server, dir } = served.get(backend)!;
      served.delete(backend);
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  },
);
