import { ApiError, createControlPlane, defineKind } from "setpoint";
import { z } from "zod";

// A kind: its identity and the schema of its spec and status.
const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0), image: z.string().default("nginx") }),
  status: z.object({ readyReplicas: z.number().int().optional() }),
});

const plane = createControlPlane(); // in memory
const widgets = plane.resources(Widget, { namespace: "shop" });

// Watch from now on, in the background.
const watch = widgets.watch();
void (async () => {
  for await (const event of watch) {
    if (event.type !== "BOOKMARK") {
      console.log(
        `${event.type} ${event.object.metadata.name} generation=${event.object.metadata.generation}`,
      );
    }
  }
})();

const front = await widgets.create({ metadata: { name: "front" }, spec: { replicas: 2 } });
console.log(front.spec); // { replicas: 2, image: 'nginx' }: the schema's default applied

// Updates name the version they change; a stale one is a Conflict.
const scaled = await widgets.update({ ...front, spec: { ...front.spec, replicas: 3 } });
try {
  await widgets.update({ ...front, spec: { ...front.spec, replicas: 4 } });
} catch (err) {
  if (ApiError.is(err, "Conflict")) console.log("stale write refused:", err.reason);
}

// Status has its own subresource; writing it does not bump generation.
await widgets.updateStatus({ ...scaled, status: { readyReplicas: 3 } });

// Bad input is refused with the field at fault, and nothing is written.
try {
  await widgets.create({ metadata: { name: "Bad Name" }, spec: { replicas: -1 } });
} catch (err) {
  if (err instanceof ApiError) console.log(err.details?.causes?.map((c) => c.field)); // [ 'metadata.name', 'spec.replicas' ]
}

const { items } = await widgets.list({ labelSelector: "" });
console.log(
  items.map((w) => `${w.metadata.name}: ${w.status?.readyReplicas}/${w.spec.replicas} ready`),
);

await widgets.delete("front");
await plane.close(); // ends the watch
