/**
 * The project's own examples under deterministic simulation (`simulateSeeds` from
 * `setpoint/testing`): each runs through SIM_SEEDS seeds (200 by default) of faults — failed
 * and lost store calls, dropped and expired watches, crashes between writes, stolen Leases,
 * clock jumps — and must stay safe throughout and settle into its desired state once faults stop.
 * `npm run simulate -- --seeds 100000` runs them for longer.
 */
import { EventEmitter } from "node:events";
import { describe, it } from "vitest";
import { App, apps } from "../examples/nocontrol.js";
import { Page, Server, StaticSite, staticSites } from "../examples/static-site.js";
import { type ProcessLike, Workload, workloadController } from "../examples/workload.js";
import { controller, done, writeStatus } from "../src/index.js";
import { Widget } from "../src/testing/fixtures.js";
import { simulateSeeds } from "../src/testing/simulate.js";

const seeds = Number(process.env.SIM_SEEDS ?? 200);
const from = Number(process.env.SIM_FROM ?? 1);
const timeout = Math.max(60_000, seeds * 500);

/** A process that runs until it is killed, or until the simulation makes it exit. */
class FakeProcess extends EventEmitter implements ProcessLike {
  static nextPid = 1000;
  readonly pid = FakeProcess.nextPid++;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;

  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.signalCode = signal;
    queueMicrotask(() => this.emit("exit", null, signal));
    return true;
  }

  crash(): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = 1;
    queueMicrotask(() => this.emit("exit", 1, null));
  }

  get alive(): boolean {
    return this.exitCode === null && this.signalCode === null;
  }
}

describe("the examples under deterministic simulation", () => {
  it(
    `the nocontrol port reconciles every App after its last change (${seeds} seeds)`,
    async () => {
      await simulateSeeds({
        seeds,
        from,
        controllers: () => [apps],
        setup: async (plane) => {
          for (const name of ["a", "b", "c"])
            await plane.resources(App).create({ metadata: { name }, spec: { replicas: 1 } });
        },
        actions: [
          (plane) =>
            plane.resources(App).patch("a", { type: "merge", patch: { spec: { replicas: 4 } } }),
          (plane) => plane.resources(App).delete("b"),
          (plane) =>
            plane.resources(App).create({ metadata: { name: "d" }, spec: { replicas: 2 } }),
        ],
      });
    },
    timeout,
  );

  it(
    `the StaticSite composite makes exactly the pages and server of each site (${seeds} seeds)`,
    async () => {
      const page = (path: string) => ({ path, title: path, body: `about ${path}` });
      await simulateSeeds({
        seeds,
        from,
        controllers: () => [staticSites],
        setup: async (plane) => {
          await plane.resources(StaticSite).create({
            metadata: { name: "home" },
            spec: { pages: [page("index"), page("about")], port: 8080 },
          });
          await plane.resources(StaticSite).create({
            metadata: { name: "blog" },
            spec: { pages: [page("index")], port: 8081 },
          });
        },
        actions: [
          (plane) =>
            plane.resources(StaticSite).patch("home", {
              type: "merge",
              patch: { spec: { pages: [page("index"), page("contact")], port: 9090 } },
            }),
          (plane) => plane.resources(StaticSite).delete("blog"),
        ],
        invariants: {
          async converged({ list }) {
            const sites = await list(StaticSite);
            const pages = await list(Page);
            const servers = await list(Server);
            const want = sites.flatMap((site) =>
              (site.spec as { pages: { path: string }[] }).pages.map(
                (p) => `${site.metadata.name}-${p.path}`,
              ),
            );
            const have = pages.map((p) => p.metadata.name);
            return (
              JSON.stringify([...want].sort()) === JSON.stringify([...have].sort()) &&
              servers.length === sites.length &&
              sites.every(
                (s) =>
                  (s.status as { pages?: number } | undefined)?.pages ===
                  (s.spec as { pages: unknown[] }).pages.length,
              )
            );
          },
        },
      });
    },
    timeout,
  );

  it(
    `the Workload demo runs exactly the replicas each Workload asks for, and none of a deleted one (${seeds} seeds)`,
    async () => {
      let processes: Map<string, FakeProcess[]>;
      let made: ReturnType<typeof workloadController>;
      await simulateSeeds({
        seeds,
        from,
        // One controller (and its world of processes) per run: the processes outlive a crash of
        // the simulated process, as real ones would outlive a restarted controller only if it
        // adopted them — this one does not, so it keeps them in memory across the simulation.
        controllers: (sim) => {
          if (made === undefined) {
            processes = new Map();
            made = workloadController({
              spawn: (command) => {
                const fake = new FakeProcess();
                const key = command.join(" ");
                processes.set(key, [...(processes.get(key) ?? []), fake]);
                // Now and then a process dies on its own: the controller restarts it.
                if (sim.random() < 0.2) queueMicrotask(() => fake.crash());
                return fake;
              },
            });
          }
          return [made.controller];
        },
        setup: async (plane) => {
          made = undefined as never;
          await plane.resources(Workload).create({
            metadata: { name: "web", namespace: "demo" },
            spec: { command: ["web"], replicas: 2 },
          });
          await plane.resources(Workload).create({
            metadata: { name: "jobs", namespace: "demo" },
            spec: { command: ["jobs"], replicas: 1 },
          });
        },
        actions: [
          (plane) =>
            plane
              .resources(Workload)
              .patch(
                { namespace: "demo", name: "web" },
                { type: "merge", patch: { spec: { replicas: 3 } } },
              ),
          (plane) => plane.resources(Workload).delete({ namespace: "demo", name: "jobs" }),
        ],
        invariants: {
          async converged({ list }) {
            const workloads = await list(Workload);
            const live = (command: string) =>
              (processes.get(command) ?? []).filter((p) => p.alive).length;
            return (
              workloads.every((w) => {
                const spec = w.spec as { command: string[]; replicas: number };
                const status = w.status as { readyReplicas?: number } | undefined;
                return (
                  live(spec.command.join(" ")) === spec.replicas &&
                  status?.readyReplicas === spec.replicas
                );
              }) && live("jobs") === 0
            );
          },
        },
      });
    },
    timeout,
  );

  it(
    `two leader-elected managers keep every Widget's status, through stolen Leases and crashes (${seeds} seeds)`,
    async () => {
      const widgets = controller(Widget, {
        name: "widgets",
        async reconcile(widget, { client }) {
          await writeStatus(client, widget, { seen: widget.spec.replicas });
          return done();
        },
      });
      await simulateSeeds({
        seeds,
        from,
        processes: 2,
        controllers: () => [widgets],
        setup: async (plane) => {
          for (let i = 0; i < 4; i++)
            await plane
              .resources(Widget)
              .create({ metadata: { name: `w${i}` }, spec: { replicas: i } });
        },
        actions: [
          (plane) =>
            plane
              .resources(Widget)
              .patch("w1", { type: "merge", patch: { spec: { replicas: 7 } } }),
          (plane) =>
            plane.resources(Widget).create({ metadata: { name: "w9" }, spec: { replicas: 9 } }),
        ],
        invariants: {
          async converged({ list }) {
            return (await list(Widget)).every(
              (w) =>
                (w.status as { seen?: number } | undefined)?.seen ===
                (w.spec as { replicas: number }).replicas,
            );
          },
        },
      });
    },
    timeout,
  );
});
