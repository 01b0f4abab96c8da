/**
 * nocontrol's README example, ported: a kind with `replicas` in its spec, a reconcile that logs
 * and asks to run again in 30 seconds, and a resync interval of its own. Run it with
 * `npx tsx --conditions=source examples/nocontrol.ts`; Ctrl-C stops it.
 */
import { pathToFileURL } from "node:url";
import { controller, createControlPlane, defineKind, requeueAfter, run } from "setpoint";
import { z } from "zod";

export const App = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "App",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
});

export const apps = controller(App, {
  name: "apps",
  resyncMs: 60_000, // every object again each minute, on top of every change
  async reconcile(app, { log, reason }) {
    log.info({ replicas: app.spec.replicas, reason }, `reconciling ${app.metadata.name}`);
    return requeueAfter(30_000);
  },
});

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const plane = createControlPlane();
  await plane.resources(App).create({ metadata: { name: "my-app" }, spec: { replicas: 3 } });
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  await run([apps], { plane, signal: stop.signal });
}
