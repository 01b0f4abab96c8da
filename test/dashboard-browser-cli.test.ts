/**
 * The dashboard as the CLI serves it: `setpoint run <module> --serve` announces its URL and shows
 * the module's controllers and the objects kubectl applies, in Chromium.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { StaticSite } from "../examples/static-site.js";
import { eventually } from "../src/testing/eventually.js";
import { browserAvailable, launchBrowser, objectRoute, openPage } from "./support/browser.js";
import { hasKubectl } from "./support/kubectl.js";

const exec = promisify(execFile);
const root = new URL("..", import.meta.url);
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

describe.runIf(browserAvailable() && hasKubectl)("the dashboard of setpoint run --serve", () => {
  it("announces its URL and shows the module's controller and what kubectl applied", async () => {
    const dir = await mkdtemp(join(tmpdir(), "setpoint-dashboard-cli-"));
    const kubeconfig = join(dir, "kubeconfig");
    const child = spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        "src/cli/main.ts",
        "run",
        "examples/static-site.ts",
        "--memory",
        "--serve",
        "127.0.0.1:0",
        "--kubeconfig-out",
        kubeconfig,
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    let output = "";
    for (const stream of [child.stdout!, child.stderr!])
      stream.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
    const browser = await launchBrowser();
    try {
      const url = await eventually(
        () => {
          expect(output).toContain("all controllers running");
          const announced = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/ui\/)/.exec(output);
          expect(announced, output).not.toBeNull();
          return announced![1]!;
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      await exec(
        "kubectl",
        [
          "--kubeconfig",
          kubeconfig,
          "--cache-dir",
          `${kubeconfig}.cache`,
          "apply",
          "-f",
          "examples/static-site.yaml",
        ],
        { cwd: root, timeout: 30_000 },
      );

      const watched = await openPage(browser);
      const { page } = watched;
      await page.goto(`${url}#/controllers`);
      await page.getByRole("heading", { level: 1, name: "Controllers" }).waitFor();
      await page.getByRole("table", { name: "Backoff of static-sites" }).waitFor();

      await page.goto(`${url}${objectRoute(StaticSite, "default", "home")}`);
      await page.getByRole("heading", { level: 1, name: "home" }).waitFor();
      const tree = page.getByRole("tree", { name: "Children" });
      for (const name of ["home-index", "home-about"])
        await tree.getByRole("treeitem").filter({ hasText: name }).first().waitFor();
      await page.getByRole("button", { name: "Reconcile now" }).waitFor();
      watched.assertNoProblems();
      await watched.close();
    } finally {
      await browser.close();
      child.kill("SIGINT");
      await new Promise((resolve) =>
        child.exitCode === null ? child.once("exit", resolve) : resolve(null),
      );
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
