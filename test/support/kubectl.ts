/**
 * The real kubectl against `setpoint serve`, for end-to-end tests: a server over a plane, its
 * kubeconfig, and a kubectl of the minor the server reports (the dispatcher on PATH picks it from
 * `/version`), with a cache directory of its own per server (kubectl caches discovery by host and
 * port, and a port reused by another server would answer from the cache).
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ControlPlane } from "../../src/backend/control-plane.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../../src/kubernetes/apiserver/server.js";
import { eventually } from "../../src/testing/eventually.js";

const exec = promisify(execFile);

/** Whether kubectl is on PATH; CI must have it. */
export const hasKubectl =
  spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
if (!hasKubectl && process.env.CI === "true")
  throw new Error("kubectl is missing: CI on these machines must run the kubectl end-to-end tests");
if (!hasKubectl) console.warn("kubectl is not on PATH: skipping the kubectl end-to-end tests");

/** A server and a kubectl pointed at it. */
export interface Served {
  readonly server: KubernetesApiServer;
  readonly dir: string;
  readonly kubeconfig: string;
  /** Runs kubectl; resolves to its standard output, rejects (with `stderr`) on failure. */
  kubectl(...args: string[]): Promise<string>;
  /** Starts a long-running kubectl (`get -w`, `delete` that waits); its output so far. */
  start(...args: string[]): { readonly child: ChildProcess; output(): string };
  /** Writes a file in the server's temporary directory and returns its path. */
  file(name: string, text: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Serves `plane` reporting kubectl minor `minor`, and checks that the dispatcher runs that
 * kubectl.
 */
export async function serveForKubectl(plane: ControlPlane, minor = 32): Promise<Served> {
  const server = await serveKubernetesApi(plane, { minorVersion: minor });
  const dir = await mkdtemp(join(tmpdir(), "setpoint-kubectl-"));
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, server.kubeconfig());
  const base = ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`];
  const children: ChildProcess[] = [];
  const served: Served = {
    server,
    dir,
    kubeconfig,
    kubectl: async (...args) =>
      (await exec("kubectl", [...base, ...args], { timeout: 30_000 })).stdout,
    start: (...args) => {
      const child = spawn("kubectl", [...base, ...args]);
      children.push(child);
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      return { child, output: () => out };
    },
    file: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
    close: async () => {
      for (const child of children) if (child.exitCode === null) child.kill();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await eventually(
    async () => {
      const reported = JSON.parse(await served.kubectl("version", "-o", "json")).clientVersion
        .minor;
      if (!new RegExp(`^${minor}\\+?$`).test(reported))
        throw new Error(`kubectl ${reported} ran, not 1.${minor}`);
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
  return served;
}

/** The kubectl minors this repository tests against. */
export const kubectlMinors = [29, 30, 31, 32, 33] as const;
