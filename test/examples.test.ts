import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { runDemo } from "../examples/demo.js";
import { crashBackoffMs, Workload, workloadController } from "../examples/workload.js";
import { Event, silentLogger } from "../src/index.js";
import { eventually } from "../src/testing/eventually.js";
import { createTestEnv, type TestEnv } from "../src/testing/test-env.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url);

async function firstBlockUnder(heading: string): Promise<string> {
  const readme = await readFile(new URL("README.md", root), "utf8");
  const section = readme.slice(readme.indexOf(heading));
  const start = section.indexOf("```ts\n") + 6;
  return section.slice(start, section.indexOf("\n```", start) + 1);
}

describe("the README", () => {
  it("shows examples/first-example.ts, first-controller.ts and configmap-generator.ts as its examples", async () => {
    const file = (name: string) => readFile(new URL(`examples/${name}`, root), "utf8");
    expect(await firstBlockUnder("## A first example")).toBe(await file("first-example.ts"));
    expect(await firstBlockUnder("## A first controller")).toBe(await file("first-controller.ts"));
    expect(await firstBlockUnder("## An operator over Kubernetes' own kinds")).toBe(
      await file("configmap-generator.ts"),
    );
  });

  it("has a first controller that runs, reports status and stops cleanly", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/first-controller.ts"],
      {
        cwd: root,
        timeout: 30_000,
        env: { ...process.env, SETPOINT_LOG_LEVEL: "silent" },
      },
    );
    expect(stdout.trim()).toBe("{ readyReplicas: 2, observedGeneration: 1 }");
  });

  it("has a first example that runs and prints what its comments say", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/first-example.ts"],
      {
        cwd: root,
        timeout: 30_000,
      },
    );
    expect(stdout).toContain("{ replicas: 2, image: 'nginx' }");
    expect(stdout).toContain("stale write refused: Conflict");
    expect(stdout).toContain("[ 'metadata.name', 'spec.replicas' ]");
    expect(stdout).toContain("[ 'front: 3/3 ready' ]");
    expect(stdout).toContain("ADDED front generation=1");
    expect(stdout).toContain("MODIFIED front generation=2");
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const forever = [process.execPath, "-e", "setInterval(() => {}, 1000)"];

describe("the Workload controller of the demo", () => {
  let env: TestEnv | undefined;
  let stopAll: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await env?.stop();
    await stopAll?.();
  });

  it("keeps replicas processes running, restarts one that dies, scales, and stops them when the Workload is deleted", async () => {
    env = createTestEnv();
    const workloads = workloadController();
    stopAll = workloads.stopAll;
    await env.start(workloads.controller);
    const client = env.plane.resources(Workload, { namespace: "demo" });
    await client.create({ metadata: { name: "web" }, spec: { command: forever, replicas: 2 } });

    const ready = async (replicas: number) => {
      const w = await client.get("web");
      expect(w.status?.readyReplicas).toBe(replicas);
      expect(w.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(w.status?.observedGeneration).toBe(w.metadata.generation);
      return w;
    };
    await eventually(() => ready(2), { timeoutMs: 10_000 });
    const [first, second] = workloads.pids("demo/web");
    expect([first, second].every((pid) => pid !== undefined && alive(pid))).toBe(true);

    process.kill(first!, "SIGKILL");
    await eventually(
      async () => {
        const w = await ready(2);
        expect(w.status?.restarts).toBe(1);
        expect(w.status?.pids).not.toContain(first);
      },
      { timeoutMs: 10_000 },
    );

    await client.patch("web", { type: "merge", patch: { spec: { replicas: 1 } } });
    await eventually(() => ready(1), { timeoutMs: 10_000 });

    const [last] = workloads.pids("demo/web");
    await client.delete("web");
    await eventually(
      async () => {
        await expect(client.get("web")).rejects.toMatchObject({ reason: "NotFound" });
        expect(alive(last!)).toBe(false);
      },
      { timeoutMs: 10_000 },
    );
  });
});

/** A silent logger that keeps the messages logged at info. */
function recordingLogger() {
  const lines: string[] = [];
  const recording = Object.assign(Object.create(silentLogger()), {
    info: (_obj: object, msg?: string) => lines.push(msg ?? ""),
    child: () => recording,
  });
  return { lines, recording };
}

describe("the Workload controller's back-off", () => {
  let env: TestEnv | undefined;
  let stopAll: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await env?.stop();
    await stopAll?.();
  });

  it.each([
    ["a command that keeps failing", [process.execPath, "-e", "process.exit(1)"]],
    ["a program that does not exist", ["/nonexistent/setpoint-test-binary"]],
  ])(
    "waits before restarting %s, reports CrashLoopBackOff and records a Warning",
    async (_, command) => {
      env = createTestEnv();
      const workloads = workloadController();
      stopAll = workloads.stopAll;
      await env.start(workloads.controller);
      const client = env.plane.resources(Workload, { namespace: "demo" });
      await client.create({ metadata: { name: "broken" }, spec: { command, replicas: 1 } });
      await eventually(
        async () => {
          const w = await client.get("broken");
          const ready = w.status?.conditions?.find((c) => c.type === "Ready");
          expect(ready).toMatchObject({ status: "False", reason: "CrashLoopBackOff" });
          expect(w.status?.readyReplicas).toBe(0);
        },
        { timeoutMs: 15_000 },
      );
      // Held back: no restart until the back-off's requeue (a second at least).
      const held = (await client.get("broken")).status?.restarts ?? 0;
      expect(held).toBeLessThanOrEqual(3);
      const events = (await env.plane.resources(Event, { namespace: "demo" }).list()).items;
      expect(events.some((e) => e.type === "Warning" && e.reason === "BackOff")).toBe(true);
    },
  );

  it("waits 1 s after the second failure in a row, doubling to a minute", () => {
    expect([2, 3, 4, 8, 20].map(crashBackoffMs)).toEqual([1_000, 2_000, 4_000, 60_000, 60_000]);
  });
});

describe("the demo behind npm start", () => {
  it("applies its manifests, runs their processes, and stops them all on abort", async () => {
    const stop = new AbortController();
    const { lines, recording } = recordingLogger();
    const running = runDemo({ signal: stop.signal, logger: recording, stepSeconds: 0 });
    // Each line comes once the Workload's status is written.
    await eventually(
      () => {
        expect(lines.some((l) => l.startsWith("demo/web: started 2"))).toBe(true);
        expect(lines.some((l) => l.startsWith("demo/flaky: started 1"))).toBe(true);
      },
      { timeoutMs: 10_000 },
    );
    stop.abort();
    await running;
    expect(lines.at(-1)).toBe(
      "stopped cleanly; Workloads at the end: demo/flaky 1/1, demo/web 2/2",
    );
  });

  it("prints its dashboard's address, where its Workloads and their controller show", async () => {
    const stop = new AbortController();
    const { lines, recording } = recordingLogger();
    const dir = await mkdtemp(join(tmpdir(), "setpoint-demo-serve-"));
    const running = runDemo({
      signal: stop.signal,
      logger: recording,
      stepSeconds: 0,
      serve: { port: 0, kubeconfig: join(dir, "kubeconfig") },
    });
    try {
      let dashboard: string | undefined;
      await eventually(() => {
        dashboard = /dashboard: (http:\/\/\S+\/ui\/)/.exec(lines.join("\n"))?.[1];
        expect(dashboard).toBeDefined();
      });
      const base = dashboard!.slice(0, -"/ui/".length);
      expect((await fetch(dashboard!)).status).toBe(200);
      await eventually(
        async () => {
          const overview = (await (await fetch(`${base}/setpoint/v1/overview`)).json()) as {
            kinds: { kind: string; total: number }[];
            controllers: { name: string; state: string; totalReconciles: number }[];
          };
          expect(overview.kinds.find((k) => k.kind === "Workload")?.total).toBe(2);
          expect(overview.controllers).toEqual([
            expect.objectContaining({ name: "workloads", state: "running" }),
          ]);
          expect(overview.controllers[0]!.totalReconciles).toBeGreaterThan(0);
        },
        { timeoutMs: 10_000 },
      );
    } finally {
      stop.abort();
      await running;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("on a durable store, picks up where the last run left off", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "setpoint-demo-"));
    try {
      for (const run of ["first", "second"]) {
        const stop = new AbortController();
        const lines: string[] = [];
        const logger = silentLogger();
        const recording = Object.assign(Object.create(logger), {
          info: (_obj: object, msg?: string) => lines.push(msg ?? ""),
          child: () => recording,
        });
        const running = runDemo({
          signal: stop.signal,
          logger: recording,
          stepSeconds: 0,
          dataDir,
        });
        await eventually(
          () => expect(lines.some((l) => l.startsWith("demo/web: started 2"))).toBe(true),
          { timeoutMs: 10_000 },
        );
        stop.abort();
        await running;
        expect(lines).toContain(
          run === "second"
            ? `picked up 2 Workloads from the last run in ${dataDir}: demo/flaky, demo/web`
            : "applied 2 Workloads: demo/web, demo/flaky",
        );
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("the nocontrol example", () => {
  it("reconciles on creation, again 30 s later as asked, and on its one-minute resync", async () => {
    const { App, apps } = await import("../examples/nocontrol.js");
    const env = createTestEnv();
    const reasons: string[] = [];
    const recorded = Object.assign(Object.create(apps), {
      options: {
        ...apps.options,
        reconcile: (app: never, ctx: { reason: string }) => {
          reasons.push(ctx.reason);
          return apps.options.reconcile(app, ctx as never);
        },
      },
    });
    await env.start(recorded);
    await env.plane.resources(App).create({ metadata: { name: "my-app" }, spec: { replicas: 3 } });
    await eventually(() => expect(reasons).toEqual(["added"]));
    await env.advance(30_000);
    await eventually(() => expect(reasons).toEqual(["added", "requeue"]));
    // The resync comes 54 to 66 s in (60 s, jittered by 10%).
    await env.advance(36_000);
    await eventually(() => expect(reasons).toContain("resync"));
    await env.stop();
  });
});
