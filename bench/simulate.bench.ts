/**
 * Deterministic simulation's speed: seeds per second (and scheduler steps per second) of the
 * StaticSite composite and of two leader-elected processes keeping Widgets' status, as
 * `npm test` and `npm run simulate` run them. No peer offers this; the figure says how many
 * seeds a minute of CI buys.
 */
import { z } from "zod";
import { Page, Server, StaticSite, staticSites } from "../examples/static-site.js";
import { controller, defineKind, done, writeStatus } from "../src/index.js";
import { type SimulationOptions, simulate } from "../src/testing/simulate.js";
import { table } from "./report.js";

const Widget = defineKind({
  group: "bench.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int() }),
  status: z.object({ ready: z.number().int(), observedGeneration: z.number().int() }).partial(),
});

const widgets = controller(Widget, {
  name: "widgets",
  async reconcile(widget, { client }) {
    await writeStatus(client, widget, { ready: widget.spec.replicas });
    return done();
  },
});

const page = (path: string) => ({ path, title: path, body: path });
const scenarios: [string, Omit<SimulationOptions, "seed">][] = [
  [
    "StaticSite composite (2 sites, an update, a delete)",
    {
      controllers: () => [staticSites],
      kinds: [StaticSite, Page, Server],
      setup: async (plane) => {
        await plane.resources(StaticSite).create({
          metadata: { name: "home" },
          spec: { pages: [page("index"), page("about")], port: 8080 },
        });
        await plane
          .resources(StaticSite)
          .create({ metadata: { name: "blog" }, spec: { pages: [page("index")], port: 8081 } });
      },
      actions: [
        (plane) =>
          plane.resources(StaticSite).patch("home", {
            type: "merge",
            patch: { spec: { pages: [page("index"), page("contact")] } },
          }),
        (plane) => plane.resources(StaticSite).delete("blog"),
      ],
    },
  ],
  [
    "Widget status, two leader-elected processes (4 widgets)",
    {
      processes: 2,
      controllers: () => [widgets],
      setup: async (plane) => {
        for (let i = 0; i < 4; i++)
          await plane
            .resources(Widget)
            .create({ metadata: { name: `w${i}` }, spec: { replicas: i } });
      },
    },
  ],
];

export async function simulateBenchmarks(seeds = 300): Promise<void> {
  const rows: string[][] = [];
  for (const [name, options] of scenarios) {
    let steps = 0;
    const started = performance.now();
    for (let seed = 1; seed <= seeds; seed++) steps += (await simulate({ ...options, seed })).steps;
    const seconds = (performance.now() - started) / 1000;
    rows.push([
      name,
      String(seeds),
      Math.round(seeds / seconds).toLocaleString("en-US"),
      Math.round(steps / seconds).toLocaleString("en-US"),
    ]);
  }
  table(
    `Deterministic simulation: ${seeds} seeds per scenario, faults on (default probabilities)`,
    ["scenario", "seeds", "seeds/s", "steps/s"],
    rows,
  );
}
