/**
 * The composite example, end to end: on the memory control plane, and through the Kubernetes
 * backend against `setpoint serve`, driven by kubectl.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Page, Server, StaticSite, staticSites } from "../examples/static-site.js";
import { createControlPlane, Manager, silentLogger } from "../src/index.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { eventually } from "../src/testing/eventually.js";
import { createTestEnv, type TestEnv } from "../src/testing/test-env.js";

const exec = promisify(execFile);
const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
if (!hasKubectl && process.env.CI === "true")
  throw new Error("kubectl is missing: CI on these machines must run this test");

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const page = (path: string) => ({ path, title: path.toUpperCase(), body: `about ${path}` });

describe("the StaticSite composite on memory", () => {
  it("makes a Page per page and a Server, reports them, follows changes, and goes with its site", async () => {
    env = createTestEnv();
    await env.start(staticSites as never);
    const sites = env.plane.resources(StaticSite, { namespace: "web" });
    const pages = env.plane.resources(Page, { namespace: "web" });
    const servers = env.plane.resources(Server, { namespace: "web" });
    await sites.create({
      metadata: { name: "blog" },
      spec: { pages: [page("home"), page("about")] },
    });
    await eventually(async () =>
      expect((await sites.get("blog")).status).toMatchObject({ pages: 2, serving: true }),
    );
    expect((await pages.get("blog-home")).spec).toEqual({
      path: "/home",
      html: "<h1>HOME</h1>\nabout home",
    });
    const firstServer = await servers.get("blog");
    expect(firstServer.spec).toEqual({ port: 8080, paths: ["/home", "/about"] });

    // One page less, a new port: the page goes, the server is replaced (Recreate).
    const site = await sites.get("blog");
    await sites.update({ ...site, spec: { pages: [page("home")], port: 9090 } });
    await eventually(async () => {
      expect((await pages.list()).items.map((p) => p.metadata.name)).toEqual(["blog-home"]);
      const server = await servers.get("blog");
      expect(server.spec).toEqual({ port: 9090, paths: ["/home"] });
      expect(server.metadata.uid).not.toBe(firstServer.metadata.uid);
      expect((await sites.get("blog")).status).toMatchObject({
        pages: 1,
        serving: true,
        observedGeneration: 2,
      });
    });

    await sites.delete("blog");
    await eventually(async () => {
      expect((await pages.list()).items).toEqual([]);
      expect((await servers.list()).items).toEqual([]);
    });
  });
});

describe.runIf(hasKubectl)("the StaticSite composite through the Kubernetes backend", () => {
  it("reconciles a site applied with kubectl against setpoint serve", async () => {
    const served = createControlPlane({ kinds: [StaticSite, Page, Server] });
    const server = await serveKubernetesApi(served);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-site-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const kubectl = (...args: string[]) =>
      exec("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, ...args], {
        timeout: 30_000,
      });
    const plane = createControlPlane({ backend: await connectKubernetes({ kubeconfig }) });
    const manager = new Manager({ plane, logger: silentLogger(), shutdownTimeoutMs: 5_000 });
    manager.add(staticSites);
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    try {
      await manager.ready();
      const manifest = join(dir, "site.yaml");
      await writeFile(
        manifest,
        `apiVersion: sites.setpoint.dev/v1\nkind: StaticSite\nmetadata: {name: docs}\nspec:\n  pages:\n  - {path: intro, title: Intro, body: Hello}\n  - {path: guide, title: Guide, body: Steps}\n`,
      );
      await kubectl("apply", "-f", manifest);
      await eventually(
        async () =>
          expect((await kubectl("get", "staticsites", "docs")).stdout).toMatch(/docs\s+2\s+true/),
        { timeoutMs: 15_000 },
      );
      expect(
        (await kubectl("get", "pages", "-o", "name")).stdout.trim().split("\n").sort(),
      ).toEqual(["page.sites.setpoint.dev/docs-guide", "page.sites.setpoint.dev/docs-intro"]);
    } finally {
      stop.abort();
      await running;
      await plane.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
