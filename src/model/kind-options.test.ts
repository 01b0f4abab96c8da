import { describe, expect, it } from "vitest";
import { z } from "zod";
import { crdOf } from "../kubernetes/crd.js";
import { defineKind, jsonSchemaOf } from "./kind.js";

const spec = z.object({ replicas: z.number().int().min(0) });

describe("defineKind's scale subresource", () => {
  it("keeps the paths and puts them into the CRD as subresources.scale", () => {
    const Widget = defineKind({
      group: "example.setpoint.dev",
      version: "v1",
      kind: "Widget",
      scope: "Namespaced",
      spec,
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    });
    expect(Widget.scale).toEqual({
      specReplicasPath: ".spec.replicas",
      statusReplicasPath: ".status.replicas",
      labelSelectorPath: ".status.selector",
    });
    const crd = crdOf(Widget) as { spec: { versions: { subresources: unknown }[] } };
    expect(crd.spec.versions[0]!.subresources).toEqual({
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    });
  });

  it("refuses paths Kubernetes refuses, naming the field", () => {
    const kind = (scale: { specReplicasPath: string; statusReplicasPath: string }) => () =>
      defineKind({ group: "a.b", version: "v1", kind: "W", scope: "Cluster", spec, scale });
    expect(kind({ specReplicasPath: ".status.replicas", statusReplicasPath: ".status.r" })).toThrow(
      /scale\.specReplicasPath "\.status\.replicas" must be a path under \.spec/,
    );
    expect(kind({ specReplicasPath: ".spec.replicas", statusReplicasPath: ".spec.r" })).toThrow(
      /statusReplicasPath/,
    );
    expect(kind({ specReplicasPath: ".spec.items[0]", statusReplicasPath: ".status.r" })).toThrow(
      /simple JSON path/,
    );
  });
});

describe("jsonSchemaOf's integers", () => {
  it("drops zod's safe-integer bounds and keeps the bounds a kind sets (no ±9007199254740991 noise)", () => {
    const Counter = defineKind({
      group: "example.setpoint.dev",
      version: "v1",
      kind: "Counter",
      scope: "Namespaced",
      spec: z.object({
        any: z.number().int(),
        count: z.number().int().min(0),
        small: z.number().int().max(10),
        int32: z.int32(),
        list: z.array(z.number().int()),
        ratio: z.number().min(-9007199254740991),
      }),
    });
    const schema = jsonSchemaOf(Counter, "openapi-3.0") as {
      properties: { spec: { properties: Record<string, Record<string, unknown>> } };
    };
    const fields = schema.properties.spec.properties;
    expect(fields.any).toEqual({ type: "integer" });
    expect(fields.count).toEqual({ type: "integer", minimum: 0 });
    expect(fields.small).toEqual({ type: "integer", maximum: 10 });
    expect(fields.int32).toEqual({ type: "integer", minimum: -2147483648, maximum: 2147483647 });
    expect(fields.list).toEqual({ type: "array", items: { type: "integer" } });
    // Only integers' safe bounds are zod's noise: a number's bound is the kind's own.
    expect(fields.ratio).toMatchObject({ type: "number", minimum: -9007199254740991 });
    const crd = crdOf(Counter) as {
      spec: {
        versions: {
          schema: { openAPIV3Schema: { properties: { spec: { properties: object } } } };
        }[];
      };
    };
    expect(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties).toMatchObject({
      any: { type: "integer" },
      count: { type: "integer", minimum: 0 },
    });
    expect(
      (
        crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties as {
          any: object;
        }
      ).any,
    ).toEqual({ type: "integer" });
  });
});
