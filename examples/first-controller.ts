import {
  controller,
  createControlPlane,
  defineKind,
  requeueAfter,
  run,
  writeStatus,
} from "setpoint";
import { z } from "zod";

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
  status: z
    .object({ readyReplicas: z.number().int(), observedGeneration: z.number().int() })
    .partial(),
});

// Drive the world toward each Widget's spec; here, just report it as ready.
const widgets = controller(Widget, {
  name: "widgets",
  async reconcile(widget, { client, log }) {
    log.info({ replicas: widget.spec.replicas }, "reconciling");
    await writeStatus(client, widget, { readyReplicas: widget.spec.replicas }); // stamps observedGeneration
    return requeueAfter(30_000); // look again in 30 s, or sooner if the Widget changes
  },
});

const plane = createControlPlane();
await plane.resources(Widget).create({ metadata: { name: "front" }, spec: { replicas: 2 } });

const stop = new AbortController();
setTimeout(() => stop.abort(), 1_000); // in a real program: process.once("SIGINT", () => stop.abort())
await run([widgets], { plane, signal: stop.signal }); // returns after a graceful shutdown
console.log((await plane.resources(Widget).get("front")).status); // { readyReplicas: 2, observedGeneration: 1 }
