import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

/** Every child process a test started, killed after the file so that none outlives a timed-out test. */
const children = new Set<ChildProcess>();
const spawnTracked = ((...args: never[]) => {
  const child = (spawn as (...a: never[]) => ChildProcess)(...args);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}) as typeof spawn;
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

import { App } from "../examples/nocontrol.js";
import { createControlPlane } from "../src/index.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { connectPostgres } from "../src/postgres/index.js";
import { eventually, withDeadline } from "../src/testing/eventually.js";

const exec = promisify(execFile);
const root = new URL("..", import.meta.url);
const cli = ["--conditions=source", "--import", "tsx", "src/cli/main.ts"];
const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
if (!hasKubectl && process.env.CI === "true")
  throw new Error("kubectl is missing: CI on these machines must run the CLI's kubectl tests");

/** A GET to a server with a self-signed certificate. */
function httpsGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const setpoint = (...args: string[]) =>
  exec(process.execPath, [...cli, ...args], { cwd: root, timeout: 30_000 });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "setpoint-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("setpoint --help", () => {
  it("lists the commands, and each command's help shows examples", async () => {
    expect((await setpoint("--help")).stdout).toMatch(
      /setpoint run[\s\S]*setpoint serve[\s\S]*setpoint crd/,
    );
    expect((await setpoint("run", "--help")).stdout).toMatch(
      /Examples:\n\s+setpoint run examples\/nocontrol.ts --serve 8080 --kubeconfig-out \.\/kubeconfig\n\s+kubectl --kubeconfig \.\/kubeconfig apply -f examples\/nocontrol.yaml/,
    );
    expect((await setpoint("serve", "--help")).stdout).toMatch(
      /Examples:\n\s+setpoint serve --kubeconfig/,
    );
    expect((await setpoint("crd", "--help")).stdout).toMatch(
      /Examples:\n\s+setpoint crd examples\/workload.ts/,
    );
  });

  it("refuses an unknown command and bad options, naming them", async () => {
    await expect(setpoint("launch")).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown command "launch"'),
    });
    await expect(setpoint("serve", "--port", "http")).rejects.toMatchObject({
      stderr: expect.stringContaining("--port http: expected a port number"),
    });
    await expect(setpoint("crd", "README.md")).rejects.toMatchObject({
      stderr: expect.stringContaining("setpoint crd:"),
    });
  });
});

describe.runIf(hasKubectl)("setpoint crd and setpoint serve with kubectl", () => {
  it("prints CRDs that kubectl apply accepts", async () => {
    const { stdout } = await setpoint("crd", "examples/workload.ts");
    const crdFile = join(dir, "crd.yaml");
    await writeFile(crdFile, stdout);
    const server = await serveKubernetesApi(createControlPlane());
    const kubeconfig = join(dir, "crd-kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    try {
      const kubectl = (...args: string[]) =>
        exec(
          "kubectl",
          ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, ...args],
          { timeout: 30_000 },
        );
      expect((await kubectl("apply", "-f", crdFile)).stdout).toContain(
        "workloads.demo.setpoint.dev created",
      );
      await kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workloads.demo.setpoint.dev",
        "--timeout=20s",
      );
      const workload = join(dir, "wl.yaml");
      await writeFile(
        workload,
        "apiVersion: demo.setpoint.dev/v1\nkind: Workload\nmetadata: {name: w}\nspec: {command: [sleep, '1'], replicas: 2}\n",
      );
      expect((await kubectl("apply", "-f", workload)).stdout).toContain(
        "workload.demo.setpoint.dev/w created",
      );
      expect((await kubectl("get", "wl")).stdout).toMatch(
        /NAME\s+REPLICAS\s+READY\s+RESTARTS\s+AGE\nw\s+2\s+/,
      );
    } finally {
      await server.close();
    }
  });

  it("serves over TLS with a token, writes a kubeconfig that works, refuses requests without the token, and stops on SIGINT", async () => {
    // client-go sends bearer tokens only over HTTPS: a token goes with TLS.
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    await exec("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ]);
    const kubeconfig = join(dir, "serve-kubeconfig");
    const args = [
      "serve",
      "examples/workload.ts",
      "--port",
      "0",
      "--token",
      "s3cret",
      "--tls-cert",
      cert,
      "--tls-key",
      key,
      "--kubeconfig",
      kubeconfig,
    ];
    const child = spawnTracked(process.execPath, [...cli, ...args], { cwd: root });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      await eventually(() => expect(stderr).toContain("wrote"), { timeoutMs: 20_000 });
      const url = /serving the Kubernetes API at (\S+);/.exec(stderr)![1]!;
      expect(await readFile(kubeconfig, "utf8")).toContain('token: "s3cret"');
      const listed = await exec(
        "kubectl",
        ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, "get", "workloads"],
        {
          timeout: 30_000,
        },
      );
      expect(listed.stderr).toContain("No resources found in default namespace.");
      expect(url).toMatch(/^https:/);
      const anonymous = await httpsGet(`${url}/api/v1/namespaces`, {});
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body)).toMatchObject({
        kind: "Status",
        reason: "Unauthorized",
        code: 401,
      });
      const authorized = await httpsGet(`${url}/apis/demo.setpoint.dev/v1/workloads`, {
        authorization: "Bearer s3cret",
      });
      expect(authorized.status).toBe(200);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain("setpoint serve: stopped");
  });
});

describe("setpoint run", () => {
  it("runs a module's controllers on memory, tells people what runs, serves metrics, and stops on SIGTERM", async () => {
    const child = spawnTracked(
      process.execPath,
      [...cli, "run", "examples/nocontrol.ts", "--memory", "--metrics-port", "0"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    try {
      await eventually(() => expect(out).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      expect(out).toContain("setpoint run: apps on memory (Ctrl-C to stop)");
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain(
        "controller_runtime_reconcile_total",
      );
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    expect(out).toContain("manager stopped");
  });

  it("answers its probes while a reconcile asks to run again at once, and exits on SIGTERM within its shutdown timeout though a reconcile ignores its signal (requeueAfter(0) froze the process; shutdown waited for the reconcile timeout)", async () => {
    const child = spawnTracked(
      process.execPath,
      [
        ...cli,
        "run",
        "test/fixtures/hot-loop.ts",
        "--metrics-port",
        "0",
        "--shutdown-timeout",
        "1",
        "--log-format",
        "json",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      await eventually(() => expect(out).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
      expect(url).toBeDefined();
      // The hot loop spins: the probe is answered all the same.
      await eventually(
        async () =>
          expect(await (await fetch(`${url}/metrics`)).text()).toMatch(
            /controller_runtime_reconcile_total\{controller="hot",result="requeue_after"\} [1-9]\d{2,}/,
          ),
        { timeoutMs: 10_000 },
      );
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
    // Without the fixes the process never sees SIGTERM, or waits out the reconcile's 5 minutes.
    const code = await withDeadline(exited, 15_000, "the process to exit after SIGTERM");
    expect(code).toBe(0);
    expect(out).toContain("abandoned");
    expect(out).toContain("manager stopped");
  });

  it("writes JSON logs with --log-format json, and refuses bad options by name", async () => {
    await expect(
      setpoint("run", "examples/nocontrol.ts", "--memory", "--data", "x"),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining(
        "choose one store: --memory, --data, --postgres, --kubeconfig or --in-cluster",
      ),
    });
    await expect(setpoint("run", "examples/nocontrol.ts", "--shards", "0")).rejects.toMatchObject({
      stderr: expect.stringContaining("--shards 0: expected a positive whole number"),
    });
    await expect(setpoint("run", "examples/workload.ts")).rejects.toMatchObject({
      stderr: expect.stringContaining("exports no controller"),
    });
    const child = spawnTracked(
      process.execPath,
      [...cli, "run", "examples/nocontrol.ts", "--log-format", "json"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    try {
      await eventually(() => expect(out).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      for (const line of out.trim().split("\n")) expect(JSON.parse(line)).toHaveProperty("msg");
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  });

  it.runIf(inject("postgresUrl") !== "")(
    "runs them on PostgreSQL, leader-elected and sharded, reconciling what is there",
    async () => {
      const url = inject("postgresUrl");
      const schema = `cli_${Date.now().toString(36)}`;
      const backend = await connectPostgres({ postgres: url, schema });
      await backend.create(App, {
        metadata: { name: "my-app", namespace: "default" },
        spec: { replicas: 3 },
      });
      const child = spawnTracked(
        process.execPath,
        [
          ...cli,
          "run",
          "examples/nocontrol.ts",
          "--postgres",
          url,
          "--schema",
          schema,
          "--leader-elect",
          "--shards",
          "4",
        ],
        { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      const collect = (chunk: Buffer) => {
        out += chunk.toString();
      };
      child.stdout!.on("data", collect);
      child.stderr!.on("data", collect);
      try {
        await eventually(() => expect(out).toContain("reconciling my-app"), { timeoutMs: 20_000 });
        expect(out).toContain(
          `setpoint run: apps on PostgreSQL (schema ${schema}), leader-elected, 4 shards`,
        );
        expect(out).toContain("took a shard");
      } finally {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
        await backend.close();
      }
    },
  );

  it("runs them against a cluster through --kubeconfig (here, setpoint serve)", async () => {
    const served = createControlPlane({ kinds: [App] });
    const server = await serveKubernetesApi(served);
    const kubeconfig = join(dir, "run-kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    await served.resources(App, { namespace: "default" }).create({
      metadata: { name: "in-cluster" },
      spec: { replicas: 1 },
    });
    const child = spawnTracked(
      process.execPath,
      [...cli, "run", "examples/nocontrol.ts", "--kubeconfig", kubeconfig],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    const collect = (chunk: Buffer) => {
      out += chunk.toString();
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    try {
      await eventually(() => expect(out).toContain("reconciling in-cluster"), {
        timeoutMs: 20_000,
      });
      expect(out).toContain(`setpoint run: apps on the cluster of ${kubeconfig}`);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      await server.close();
    }
  });
});

/** Starts `setpoint <args>`, collecting its output; `exited` resolves with its exit code. */
function startSetpoint(...args: string[]) {
  const child = spawnTracked(process.execPath, [...cli, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { text: "" };
  const collect = (chunk: Buffer) => {
    output.text += chunk.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, output, exited };
}

describe.runIf(hasKubectl)("setpoint run --serve: one plane, driven with kubectl", () => {
  it("serves the durable plane its controllers use: kubectl applies, the controller reacts, and a restart keeps it all", async () => {
    const data = join(dir, "served-data");
    const kubeconfig = join(dir, "served-kubeconfig");
    const kubectl = (...args: string[]) =>
      exec("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, ...args], {
        timeout: 30_000,
      });
    const start = () =>
      startSetpoint(
        "run",
        "examples/static-site.ts",
        "--data",
        data,
        "--serve",
        "127.0.0.1:0",
        "--kubeconfig-out",
        kubeconfig,
      );
    const first = start();
    try {
      await eventually(() => expect(first.output.text).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      expect(first.output.text).toContain(`wrote ${kubeconfig}`);
      expect((await kubectl("apply", "-f", "examples/static-site.yaml")).stdout).toContain(
        "staticsite.sites.setpoint.dev/home created",
      );
      // The controller reacts: children made, status written.
      await eventually(
        async () =>
          expect(
            (await kubectl("get", "staticsite", "home", "-o", "jsonpath={.status.pages}")).stdout,
          ).toBe("2"),
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect((await kubectl("get", "pages", "-o", "name")).stdout.trim().split("\n")).toEqual([
        "page.sites.setpoint.dev/home-about",
        "page.sites.setpoint.dev/home-index",
      ]);
      // The dashboard of that process: its controllers, and the composite with its children.
      const dashboard = /dashboard: (http:\/\/\S+)\/ui\//.exec(first.output.text)?.[1];
      expect(dashboard).toBeDefined();
      const overview = (await (await fetch(`${dashboard}/setpoint/v1/overview`)).json()) as {
        server: { mode: string };
        controllers: { name: string; state: string }[];
      };
      expect(overview.server.mode).toBe("run");
      expect(overview.controllers.map((c) => c.state)).toContain("running");
      const site = (await (
        await fetch(
          `${dashboard}/setpoint/v1/objects/sites.setpoint.dev/v1/staticsites/default/home`,
        )
      ).json()) as { children: { ref: { kind: string; name: string } }[]; controllers: unknown[] };
      expect(site.children.map((c) => `${c.ref.kind}/${c.ref.name}`).sort()).toEqual([
        "Page/home-about",
        "Page/home-index",
        "Server/home",
      ]);
      expect(site.controllers).toHaveLength(1);
    } finally {
      first.child.kill("SIGTERM");
    }
    expect(await withDeadline(first.exited, 15_000, "the first run to exit")).toBe(0);

    // Restarted on the same directory: the objects and their status are still there, served.
    const second = start();
    try {
      await eventually(() => expect(second.output.text).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      const got = JSON.parse((await kubectl("get", "staticsite", "home", "-o", "json")).stdout);
      expect(got.status).toMatchObject({ pages: 2, serving: true });
      expect((await kubectl("get", "pages", "-o", "name")).stdout.trim().split("\n")).toHaveLength(
        2,
      );
    } finally {
      second.child.kill("SIGTERM");
    }
    expect(await withDeadline(second.exited, 15_000, "the second run to exit")).toBe(0);
  });
});

describe("setpoint run and serve fail clearly and exit cleanly", () => {
  it("exits 1 at once when its metrics port is taken, and leaves its data directory free for the next start (a busy port used to hang)", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as AddressInfo).port;
    const data = join(dir, "busy-port-data");
    try {
      const run = startSetpoint(
        "run",
        "examples/nocontrol.ts",
        "--data",
        data,
        "--metrics-port",
        String(port),
      );
      expect(await withDeadline(run.exited, 20_000, "the run to exit")).toBe(1);
      expect(run.output.text).toContain("EADDRINUSE");
      // The directory's lock was released: a second process opens it.
      const again = startSetpoint("run", "examples/nocontrol.ts", "--data", data);
      try {
        await eventually(() => expect(again.output.text).toContain("all controllers running"), {
          timeoutMs: 20_000,
        });
      } finally {
        again.child.kill("SIGTERM");
      }
      expect(await withDeadline(again.exited, 15_000, "the second run to exit")).toBe(0);
    } finally {
      busy.close();
    }
  });

  it("exits 1 when its --serve port is taken, and serve exits 1 when its --port is", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = String((busy.address() as AddressInfo).port);
    try {
      const run = startSetpoint("run", "examples/nocontrol.ts", "--serve", port);
      expect(await withDeadline(run.exited, 20_000, "run to exit")).toBe(1);
      expect(run.output.text).toContain("EADDRINUSE");
      const serve = startSetpoint("serve", "--port", port, "--data", join(dir, "serve-busy"));
      expect(await withDeadline(serve.exited, 20_000, "serve to exit")).toBe(1);
      expect(serve.output.text).toContain("EADDRINUSE");
    } finally {
      busy.close();
    }
  });

  it("names what is wrong: --serve with --kubeconfig, a bad --serve, --data naming a file, a malformed or unreachable --postgres, a module that throws", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "not a directory");
    const deadKubeconfig = join(dir, "dead-kubeconfig");
    await writeFile(
      deadKubeconfig,
      "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {server: 'http://127.0.0.1:1', insecure-skip-tls-verify: true}\ncontexts:\n- name: dead\n  context: {cluster: dead, user: u}\ncurrent-context: dead\nusers:\n- name: u\n  user: {}\n",
    );
    const foreign = join(dir, "my-real-kubeconfig");
    await writeFile(foreign, "apiVersion: v1\nkind: Config\nclusters: []\n");
    const broken = join(dir, "broken-module.mjs");
    await writeFile(broken, 'export const x = 1;\nthrow new Error("boom at import");\n');
    const cases: [string[], RegExp][] = [
      [
        ["run", "examples/nocontrol.ts", "--serve", "8080", "--kubeconfig", file],
        /--serve serves the plane the controllers use; with --kubeconfig/,
      ],
      [
        ["run", "examples/nocontrol.ts", "--serve", "host:port"],
        /--serve host:port: expected a port number/,
      ],
      [["run", "examples/nocontrol.ts", "--token", "x"], /--token goes with --serve/],
      [
        ["run", "examples/nocontrol.ts", "--lease-namespace", "ops"],
        /--lease-namespace goes with --leader-elect/,
      ],
      [
        ["run", "examples/nocontrol.ts", "--in-cluster", "--kubeconfig", file],
        /choose one store: .*--in-cluster/,
      ],
      [
        ["manifests", "examples/nocontrol.ts", "--replicas", "0"],
        /--replicas 0: expected a positive whole number/,
      ],
      [
        ["manifests", "examples/nocontrol.ts", "--module-path", "a.js", "--module-path", "b.js"],
        /--module-path is given 2 times for 1 modules/,
      ],
      [["run", "examples/nocontrol.ts", "--data", file], new RegExp(`${file}.*not a directory`)],
      [["serve", "--data", file], new RegExp(`${file}.*not a directory`)],
      [
        ["run", "examples/nocontrol.ts", "--postgres", "localhost:5432"],
        /--postgres "localhost:5432": expected a postgres:\/\/ or postgresql:\/\/ URL/,
      ],
      [
        ["run", "examples/nocontrol.ts", "--postgres", "not a url"],
        /--postgres "not a url": not a URL/,
      ],
      [
        ["serve", "--postgres", "postgres://127.0.0.1:1/nothing"],
        /PostgreSQL at 127\.0\.0\.1:1.*ECONNREFUSED/,
      ],
      [["run", broken], /broken-module\.mjs.*boom at import.*broken-module\.mjs:2/s],
      [["run", join(dir, "missing.ts")], /missing\.ts: no such module/],
      [
        ["run", "examples/nocontrol.ts", "--kubeconfig", join(dir, "nothing")],
        /--kubeconfig .*nothing: no such file/,
      ],
      [
        ["run", "examples/nocontrol.ts", "--kubeconfig", deadKubeconfig],
        /cannot reach the cluster of .*ECONNREFUSED/,
      ],
      [
        ["serve", "--port", "0", "--kubeconfig-out", foreign],
        /is not a kubeconfig setpoint wrote: refusing to overwrite it/,
      ],
    ];
    for (const [args, message] of cases) {
      const started = startSetpoint(...args);
      expect(await withDeadline(started.exited, 20_000, args.join(" ")), args.join(" ")).toBe(1);
      expect(started.output.text, args.join(" ")).toMatch(message);
    }
  }, 120_000);

  it("answers an unknown option with a hint and exit code 2, a missing module and a bad SETPOINT_LOG_LEVEL by name", async () => {
    await expect(setpoint("run", "examples/nocontrol.ts", "--port", "80")).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        "unknown option --port (setpoint run serves with --serve [host:]port)",
      ),
    });
    await expect(setpoint("run")).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("name at least one module"),
    });
    await expect(
      exec(process.execPath, [...cli, "run", "examples/nocontrol.ts"], {
        cwd: root,
        timeout: 30_000,
        env: { ...process.env, SETPOINT_LOG_LEVEL: "verbose" },
      }),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining("SETPOINT_LOG_LEVEL=verbose: expected one of trace, debug"),
    });
  });

  it("prints its version", async () => {
    const { stdout } = await setpoint("--version");
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
    expect(stdout.trim()).toBe(`setpoint ${pkg.version}`);
  });
});

describe.runIf(hasKubectl)("setpoint run --serve looks like a cluster to kubectl", () => {
  it("serves namespaces, events, describe, explain, get all and scale for the kinds it runs", async () => {
    const kubeconfig = join(dir, "cluster-kubeconfig");
    const kubectl = async (...args: string[]) =>
      (
        await exec(
          "kubectl",
          ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`, ...args],
          { timeout: 30_000 },
        )
      ).stdout;
    const run = startSetpoint(
      "run",
      "test/fixtures/scaled.ts",
      "--serve",
      "0",
      "--kubeconfig-out",
      kubeconfig,
    );
    try {
      await eventually(() => expect(run.output.text).toContain("all controllers running"), {
        timeoutMs: 20_000,
      });
      // Namespaces: the usual three from the start; writes into a missing one are refused.
      expect(await kubectl("get", "namespaces", "-o", "name")).toMatch(
        /namespace\/default\nnamespace\/kube-public\nnamespace\/kube-system/,
      );
      const pool = (namespace: string, name: string) =>
        `apiVersion: pools.setpoint.dev/v1\nkind: Pool\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {replicas: 1}\n`;
      const missing = join(dir, "pool-missing.yaml");
      await writeFile(missing, pool("nowhere", "p0"));
      await expect(kubectl("apply", "-f", missing)).rejects.toMatchObject({
        stderr: expect.stringContaining('namespaces "nowhere" not found'),
      });
      const file = join(dir, "pool.yaml");
      await writeFile(file, pool("default", "web"));
      await kubectl("apply", "-f", file);
      await eventually(
        async () =>
          expect(await kubectl("get", "pool", "web", "-o", "jsonpath={.status.replicas}")).toBe(
            "1",
          ),
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      // Scale, through the /scale subresource; the controller follows.
      expect(await kubectl("scale", "pool/web", "--replicas=3")).toContain("scaled");
      await eventually(
        async () =>
          expect(await kubectl("get", "pool", "web", "-o", "jsonpath={.status.replicas}")).toBe(
            "3",
          ),
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      // get all, with the kind's printer columns.
      expect(await kubectl("get", "all")).toMatch(/pool\.pools\.setpoint\.dev\/web\s+3\s+3/);
      // Events: get events, and describe shows the object's.
      await eventually(
        async () =>
          expect(await kubectl("get", "events")).toMatch(
            /Normal\s+Scaled\s+pool\/web\s+running 3 workers/,
          ),
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(await kubectl("describe", "pool", "web")).toMatch(
        /Events:[\s\S]*Scaled[\s\S]*running 3 workers/,
      );
      // explain, from the kind's schema.
      expect(await kubectl("explain", "pools.spec.replicas")).toContain(
        "How many workers the pool runs.",
      );
      // A namespace's deletion takes its objects with it.
      const other = join(dir, "pool-other.yaml");
      await writeFile(
        join(dir, "ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
      );
      await kubectl("apply", "-f", join(dir, "ns.yaml"));
      await writeFile(other, pool("team", "batch"));
      await kubectl("apply", "-f", other);
      await kubectl("delete", "namespace", "team", "--timeout=30s");
      expect(await kubectl("get", "namespaces", "-o", "name")).not.toContain("namespace/team");
      expect(await kubectl("get", "pools", "-A", "-o", "name")).toBe(
        "pool.pools.setpoint.dev/web\n",
      );
    } finally {
      run.child.kill("SIGTERM");
    }
    expect(await withDeadline(run.exited, 15_000, "the run to exit")).toBe(0);
  });
});
