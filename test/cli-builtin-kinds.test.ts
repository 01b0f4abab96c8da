/**
 * `setpoint serve` serves Kubernetes' built-in kinds by default, and `--no-builtin-kinds` turns
 * them off (`setpoint run --serve` takes the flag too, and only with `--serve`).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../src/testing/eventually.js";

const exec = promisify(execFile);
const root = new URL("..", import.meta.url);
const cli = ["--conditions=source", "--import", "tsx", "src/cli/main.ts"];

let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "setpoint-cli-builtin-"));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
});

/** Starts `setpoint serve` with `flags` and resolves to its URL once it serves. */
async function serve(...flags: string[]): Promise<string> {
  const kubeconfig = join(dir, `kubeconfig-${children.length}`);
  const child = spawn(
    process.execPath,
    [...cli, "serve", "--port", "0", "--kubeconfig-out", kubeconfig, ...flags],
    { cwd: root },
  );
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await eventually(() => expect(stderr).toContain("serving the Kubernetes API at"), {
    timeoutMs: 20_000,
  });
  return /serving the Kubernetes API at (\S+?);?\s/.exec(stderr)![1]!;
}

async function resources(url: string, path: string): Promise<string[] | number> {
  const response = await fetch(`${url}${path}`);
  if (response.status !== 200) return response.status;
  const list = (await response.json()) as { resources: { name: string }[] };
  return list.resources.map((r) => r.name);
}

describe("setpoint serve and Kubernetes' built-in kinds", () => {
  it("serves them by default, with their subresources", async () => {
    const url = await serve();
    expect(await resources(url, "/api/v1")).toEqual(
      expect.arrayContaining(["configmaps", "secrets", "pods", "services", "serviceaccounts"]),
    );
    expect(await resources(url, "/apis/apps/v1")).toEqual(
      expect.arrayContaining(["deployments", "deployments/scale", "statefulsets/scale"]),
    );
  }, 30_000);

  it("serves none of them with --no-builtin-kinds, but Namespaces and Services still", async () => {
    const url = await serve("--no-builtin-kinds");
    const core = await resources(url, "/api/v1");
    expect(core).toEqual(expect.arrayContaining(["namespaces", "services"]));
    expect(core).not.toContain("configmaps");
    expect(await resources(url, "/apis/apps/v1")).toBe(404);
  }, 30_000);

  it("takes --no-builtin-kinds in setpoint run only with --serve", async () => {
    const failure = await exec(
      process.execPath,
      [...cli, "run", "examples/nocontrol.ts", "--no-builtin-kinds"],
      { cwd: root, timeout: 30_000 },
    ).catch((error: { stderr: string }) => error);
    expect((failure as { stderr: string }).stderr).toContain(
      "--no-builtin-kinds goes with --serve",
    );
  }, 30_000);
});
