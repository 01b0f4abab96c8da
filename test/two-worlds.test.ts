/**
 * One controller, two worlds: the demo's Workload controller runs through the Kubernetes backend
 * against `setpoint serve`, and kubectl drives it as it would on a cluster.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { Workload, workloadController } from "../examples/workload.js";
import { createControlPlane, Manager, silentLogger } from "../src/index.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { eventually } from "../src/testing/eventually.js";

const exec = promisify(execFile);
const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
if (!hasKubectl && process.env.CI === "true")
  throw new Error("kubectl is missing: CI on these machines must run this test");

describe.runIf(hasKubectl)("the Workload controller through the Kubernetes backend", () => {
  it("runs processes for a Workload applied with kubectl, reports status, and cleans up on kubectl delete", async () => {
    const served = createControlPlane({ kinds: [Workload] });
    const server = await serveKubernetesApi(served);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-two-worlds-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const kubectl = (...args: string[]) =>
      exec("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, ...args], {
        timeout: 30_000,
      });

    const plane = createControlPlane({ backend: await connectKubernetes({ kubeconfig }) });
    const workloads = workloadController();
    const manager = new Manager({ plane, logger: silentLogger(), shutdownTimeoutMs: 5_000 });
    manager.add(workloads.controller);
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    try {
      await manager.ready();
      const manifest = join(dir, "web.yaml");
      await writeFile(
        manifest,
        `apiVersion: demo.setpoint.dev/v1\nkind: Workload\nmetadata: {name: web}\nspec:\n  command: ["${process.execPath}", "-e", "setInterval(() => {}, 1000)"]\n  replicas: 2\n`,
      );
      await kubectl("apply", "-f", manifest);
      await eventually(
        async () =>
          expect((await kubectl("get", "workloads", "web")).stdout).toMatch(/web\s+2\s+2\s+0\s+/),
        { timeoutMs: 15_000 },
      );
      expect(workloads.pids("default/web")).toHaveLength(2);
      expect((await served.resources(Workload).get("web")).metadata.finalizers).toEqual([
        "demo.setpoint.dev/stop-processes",
      ]);

      const pids = workloads.pids("default/web");
      await kubectl("delete", "workload", "web", "--timeout=20s");
      await expect(served.resources(Workload).get("web")).rejects.toMatchObject({
        reason: "NotFound",
      });
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      stop.abort();
      await running;
      await workloads.stopAll();
      await plane.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
