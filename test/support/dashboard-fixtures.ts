/**
 * Controllers and kinds the dashboard's browser tests run: the demo's Workloads (real processes),
 * the StaticSite composite with controllers that give its children a `Ready` condition, and a
 * controller whose reconcile always fails.
 */
import { z } from "zod";
import { Page, Server, StaticSite, staticSites } from "../../examples/static-site.js";
import { Workload, workloadController } from "../../examples/workload.js";
import type { ControlPlane } from "../../src/backend/control-plane.js";
import { controller, defineKind, done, setCondition, writeStatus } from "../../src/index.js";

/**
 * A kind whose controller's reconcile always throws `boom: NAME is broken`, after recording a
 * Warning event (reason `Broken`) about the object.
 */
export const Flaky = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Flaky",
  scope: "Namespaced",
  spec: z.object({ note: z.string() }),
});

export const flakyController = controller(Flaky, {
  name: "flaky",
  async reconcile(flaky, { events }) {
    await events.record({
      type: "Warning",
      reason: "Broken",
      message: `${flaky.metadata.name} is broken`,
    });
    throw new Error(`boom: ${flaky.metadata.name} is broken`);
  },
});

/**
 * Servers are Ready; a Page is Ready unless its path starts with `/draft`, which is Not Ready
 * (reason Unpublished): so a site's tree shows both states.
 */
export const serverReadiness = controller(Server, {
  name: "servers",
  async reconcile(server, { client }) {
    await writeStatus(
      client,
      server,
      setCondition(server.status ?? {}, {
        type: "Ready",
        status: "True",
        reason: "Listening",
        message: `listening on ${server.spec.port}`,
      }) as never,
    );
    return done();
  },
});

export const pageReadiness = controller(Page, {
  name: "pages",
  async reconcile(page, { client }) {
    const draft = page.spec.path.startsWith("/draft");
    await writeStatus(
      client,
      page,
      setCondition(page.status ?? {}, {
        type: "Ready",
        status: draft ? "False" : "True",
        reason: draft ? "Unpublished" : "Published",
        message: draft ? "a draft" : "published",
      }) as never,
    );
    return done();
  },
});

/** Every kind the fixtures use. */
export const fixtureKinds = [Workload, StaticSite, Page, Server, Flaky];

/** The Workload controller (real `sleep` processes: call `stopAll()` after). */
export function workloads() {
  return workloadController();
}

export const sleeper = (name: string, replicas: number) => ({
  metadata: { name },
  spec: { command: ["sleep", "3600"], replicas },
});

/** Creates the objects the dashboard tests look at, in `default`. */
export async function seedFixtures(plane: ControlPlane): Promise<void> {
  const workloadsClient = plane.resources(Workload, { namespace: "default" });
  await workloadsClient.create(sleeper("web", 2));
  await workloadsClient.create(sleeper("batch", 1));
  await plane.resources(StaticSite, { namespace: "default" }).create({
    metadata: { name: "blog" },
    spec: {
      pages: [
        { path: "home", title: "Home", body: "Welcome." },
        { path: "draft-news", title: "News", body: "Soon." },
      ],
      port: 8080,
    },
  });
  await plane
    .resources(Flaky, { namespace: "default" })
    .create({ metadata: { name: "bad" }, spec: { note: "always fails" } });
}

export { Page, Server, StaticSite, staticSites, Workload };
