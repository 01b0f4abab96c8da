import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { ControlPlane } from "../backend/control-plane.js";
import { done, requeueAfter } from "../controller/action.js";
import { composite } from "../controller/composite.js";
import { controller } from "../controller/controller.js";
import { writeStatus } from "../controller/status.js";
import { defineKind } from "../model/kind.js";
import {
  replay,
  SimulationFailure,
  type SimulationOptions,
  simulate,
  simulateSeeds,
} from "./simulate.js";

const Widget = defineKind({
  group: "sim.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
  status: z
    .object({
      ready: z.number().int(),
      provisioned: z.boolean(),
      observedGeneration: z.number().int(),
      conditions: z.array(z.record(z.string(), z.unknown())),
    })
    .partial(),
});
const Part = defineKind({
  group: "sim.setpoint.dev",
  version: "v1",
  kind: "Part",
  scope: "Namespaced",
  spec: z.object({ index: z.number().int() }),
});

async function widgets(plane: ControlPlane, count = 3) {
  for (let i = 0; i < count; i++)
    await plane.resources(Widget).create({ metadata: { name: `w${i}` }, spec: { replicas: i } });
}

const statusController = () =>
  controller(Widget, {
    name: "widgets",
    async reconcile(widget, { client }) {
      await writeStatus(client, widget, { ready: widget.spec.replicas });
      return done();
    },
  });

const ready: SimulationOptions["invariants"] = {
  converged: async ({ list }) =>
    (await list(Widget)).every(
      (w) =>
        (w.status as { ready?: number } | undefined)?.ready ===
        (w.spec as { replicas: number }).replicas,
    ),
};

/** Runs seeds until one fails; the failure, and that its seed replays to the same failure. */
async function findFailure(options: Omit<SimulationOptions, "seed">, seeds = 200) {
  const failure = await simulateSeeds({ ...options, seeds }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(SimulationFailure);
  const found = failure as SimulationFailure;
  const again = await replay(found.seed, options).then(
    () => undefined,
    (error: unknown) => error as SimulationFailure,
  );
  expect(again?.failure).toBe(found.failure);
  expect(again?.trace).toEqual(found.trace);
  return found;
}

describe("simulate", () => {
  it("runs a controller to its desired state through faults, and one seed is one exact history", async () => {
    const options = {
      controllers: () => [statusController()],
      setup: (plane: ControlPlane) => widgets(plane),
      actions: [
        (plane: ControlPlane) =>
          plane.resources(Widget).patch("w1", { type: "merge", patch: { spec: { replicas: 5 } } }),
      ],
      invariants: ready,
    };
    const result = await simulate({ ...options, seed: 7 });
    expect(result.trace.some((line) => line.includes("FAULT"))).toBe(true);
    expect((await replay(7, options)).trace).toEqual(result.trace);
    expect((await simulate({ ...options, seed: 8 })).trace).not.toEqual(result.trace);
  });

  it("holds for 200 seeds of a status controller, with two leader-elected processes", async () => {
    await simulateSeeds({
      seeds: 200,
      processes: 2,
      controllers: () => [statusController()],
      setup: (plane) => widgets(plane),
      invariants: ready,
    });
  }, 60_000);

  describe("finds bugs seeded on purpose", () => {
    it("a requeueAfter(0) hot loop", async () => {
      const found = await findFailure({
        controllers: () => [controller(Widget, { name: "hot", reconcile: () => requeueAfter(0) })],
        setup: (plane) => widgets(plane, 1),
      });
      expect(found.failure).toMatch(/hot loop: hot reconciled default\/w0 500 times/);
      expect(found.message).toContain(`seed ${found.seed}`);
    });

    it("a composite that forgets a child", async () => {
      const forgetful = composite(Widget, {
        name: "parts",
        children: [{ kind: Part }],
        sync({ parent }) {
          const count = parent.spec.replicas;
          // The bug: an off-by-one once there are more than two parts.
          const made = count > 2 ? count - 1 : count;
          return {
            children: Array.from({ length: made }, (_, index) => ({
              apiVersion: Part.apiVersion,
              kind: "Part",
              metadata: { name: `${parent.metadata.name}-${index}` },
              spec: { index },
            })),
            status: { ready: made },
          };
        },
      });
      const found = await findFailure({
        controllers: () => [forgetful],
        setup: (plane) => widgets(plane, 2),
        actions: [
          (plane) =>
            plane
              .resources(Widget)
              .patch("w1", { type: "merge", patch: { spec: { replicas: 4 } } }),
        ],
        invariants: {
          converged: async ({ list }) => {
            const parts = await list(Part);
            return (await list(Widget)).every(
              (w) =>
                parts.filter((p) => p.metadata.name.startsWith(`${w.metadata.name}-`)).length ===
                (w.spec as { replicas: number }).replicas,
            );
          },
        },
      });
      expect(found.failure).toMatch(/did not settle/);
    });

    it("a finalizer removed before its cleanup is done", async () => {
      const provisioned = new Set<string>();
      const hasty = (sim: { effect: <T>(name: string, fn: () => T) => Promise<T> }) =>
        controller(Widget, {
          name: "hasty",
          async reconcile(widget, { client, key }) {
            const finalizers = widget.metadata.finalizers ?? [];
            if (widget.metadata.deletionTimestamp !== undefined) {
              // The bug: the finalizer goes first; if the cleanup then fails, nobody retries it.
              await client.patch(widget.metadata.name, {
                type: "merge",
                patch: { metadata: { finalizers: [] } },
              });
              await sim.effect("deprovision", () => provisioned.delete(key));
              return done();
            }
            if (!finalizers.includes("sim.setpoint.dev/hasty"))
              await client.patch(widget.metadata.name, {
                type: "merge",
                patch: { metadata: { finalizers: ["sim.setpoint.dev/hasty"] } },
              });
            await sim.effect("provision", () => provisioned.add(key));
            return done();
          },
        });
      const found = await findFailure({
        controllers: (sim) => [hasty(sim)],
        setup: async (plane) => {
          provisioned.clear();
          await widgets(plane, 3);
        },
        actions: [
          (plane) => plane.resources(Widget).delete("w0"),
          (plane) => plane.resources(Widget).delete("w2"),
        ],
        invariants: {
          converged: async ({ list }) => {
            const keys = (await list(Widget)).map((w) => `default/${w.metadata.name}`);
            return JSON.stringify([...provisioned].sort()) === JSON.stringify(keys.sort());
          },
        },
      });
      expect(found.failure).toMatch(/did not settle/);
      // Found through whichever fault breaks it first: a failed deprovision, or a lost answer.
      expect(found.faults.length).toBeGreaterThan(0);
    });

    it("a reconcile that is not idempotent", async () => {
      const made = new Map<string, number>();
      const careless = (sim: { effect: <T>(name: string, fn: () => T) => Promise<T> }) =>
        controller(Widget, {
          name: "careless",
          async reconcile(widget, { client, key }) {
            if (widget.status?.provisioned === true) return done();
            // The bug: the side effect is not keyed; a retry after the status write failed
            // makes a second one.
            await sim.effect("make a bucket", () => made.set(key, (made.get(key) ?? 0) + 1));
            await client.updateStatus({
              ...widget,
              status: { ...widget.status, provisioned: true },
            });
            return done();
          },
        });
      const found = await findFailure({
        controllers: (sim) => [careless(sim)],
        setup: async (plane) => {
          made.clear();
          await widgets(plane, 3);
        },
        invariants: {
          safety: () => {
            for (const [key, count] of made) if (count > 1) return `${key} has ${count} buckets`;
          },
        },
      });
      expect(found.failure).toMatch(/safety invariant: default\/w\d has 2 buckets/);
    });

    it("a key starved by a hot key that keeps a shared lock", async () => {
      let holder: string | undefined;
      const done_ = new Set<string>();
      const greedy = controller(Widget, {
        name: "greedy",
        concurrency: 2,
        async reconcile(widget, { key }) {
          if (holder !== undefined && holder !== key) return requeueAfter(100);
          holder = key;
          done_.add(key);
          // The bug: w0 lets go and takes the lock again before anyone else can.
          if (widget.metadata.name === "w0") {
            holder = undefined;
            holder = key;
            return requeueAfter(10);
          }
          holder = undefined;
          return done();
        },
      });
      const found = await findFailure({
        controllers: () => [greedy],
        setup: async (plane) => {
          holder = undefined;
          done_.clear();
          await widgets(plane, 3);
        },
        invariants: {
          converged: async ({ list }) =>
            (await list(Widget)).every((w) => done_.has(`default/${w.metadata.name}`)),
        },
      });
      expect(found.failure).toMatch(/did not settle/);
    });
  });
});
