/**
 * Fixtures shared by setpoint's own tests, beside the code and in `test/`: test kinds and a store
 * that can be cut off. Not exported from `setpoint/testing`: users define their own kinds.
 */
import { z } from "zod";
import type { Backend } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";
import { defineKind } from "../model/kind.js";

/** A namespaced kind with a status a controller writes. */
export const Widget = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int() }),
  status: z.object({
    seen: z.number().int().optional(),
    observedGeneration: z.number().int().optional(),
  }),
});

/**
 * A namespaced Widget with only a spec, in the group of the README's examples, for tests that
 * read its group in URLs, kubectl output or messages (`widgets.example.setpoint.dev`). Replicas
 * below 0 are invalid; any status is kept as written.
 */
export const ExampleWidget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  shortNames: ["wd"],
  spec: z.object({ replicas: z.number().int().min(0) }),
});

/** A second namespaced kind, for owned children and watches. */
export const Gear = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Gear",
  scope: "Namespaced",
  spec: z.object({ teeth: z.number() }),
});

/** A Widget to create: `name` in the client's namespace, with `replicas`. */
export function widget(name: string, replicas = 1) {
  return { metadata: { name }, spec: { replicas } };
}

/**
 * A view of a store that can be cut off, as a killed or partitioned process is: once `cut()`,
 * every call fails with ServiceUnavailable.
 */
export function cuttable(backend: Backend): { backend: Backend; cut(): void } {
  let cut = false;
  const refuse = () => Promise.reject(new ApiError("ServiceUnavailable", "cut off"));
  const view = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => (cut ? refuse() : value.apply(target, args));
    },
  });
  return { backend: view, cut: () => (cut = true) };
}
