import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane } from "../backend/control-plane.js";
import { setCondition, writeStatus } from "../controller/status.js";
import { crdOf } from "../kubernetes/crd.js";
import { crdSpecIssues } from "../kubernetes/crd-validation.js";
import { Condition, StandardStatus } from "./condition.js";
import { defineKind, jsonSchemaOf } from "./kind.js";

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0) }),
  status: StandardStatus.extend({ readyReplicas: z.number().int().optional() }),
});

describe("Condition and StandardStatus", () => {
  it("let setCondition and writeStatus work on a kind's status without retyping metav1.Condition", async () => {
    const plane = createControlPlane();
    const widgets = plane.resources(Widget);
    const widget = await widgets.create({ metadata: { name: "a" }, spec: { replicas: 1 } });
    const status = setCondition(
      widget.status,
      { type: "Ready", status: "True", reason: "Running", message: "1/1 ready" },
      new Date("2026-01-01T00:00:00Z"),
    );
    const written = await writeStatus(widgets, widget, { ...status, readyReplicas: 1 });
    expect(written.status).toEqual({
      observedGeneration: 1,
      readyReplicas: 1,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Running",
          message: "1/1 ready",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    });
  });

  it("refuses what metav1.Condition refuses: an unknown status, a reason that is not CamelCase, a missing time", () => {
    const ok = {
      type: "example.com/Ready",
      status: "Unknown",
      reason: "Waiting_For:Pods",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    };
    expect(Condition.safeParse(ok).success).toBe(true);
    expect(Condition.safeParse({ ...ok, status: "Maybe" }).success).toBe(false);
    expect(Condition.safeParse({ ...ok, reason: "not camel case" }).success).toBe(false);
    expect(Condition.safeParse({ ...ok, reason: "" }).success).toBe(false);
    expect(Condition.safeParse({ ...ok, type: "-Ready" }).success).toBe(false);
    const { lastTransitionTime: _, ...noTime } = ok;
    expect(Condition.safeParse(noTime).success).toBe(false);
    expect(Condition.safeParse({ ...ok, observedGeneration: -1 }).success).toBe(false);
  });

  it("give a CRD the schema Kubernetes generates for metav1.Condition, RE2-compatible", () => {
    const crd = crdOf(Widget) as {
      spec: {
        versions: { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[];
      };
    };
    const status = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status as {
      properties: { conditions: { items: Record<string, unknown> } };
    };
    expect(status.properties.conditions.items).toMatchObject({
      type: "object",
      required: ["type", "status", "lastTransitionTime", "reason", "message"],
      properties: {
        status: { type: "string", enum: ["True", "False", "Unknown"] },
        lastTransitionTime: { type: "string", format: "date-time" },
        observedGeneration: { type: "integer", minimum: 0 },
        reason: { type: "string", minLength: 1, maxLength: 1024 },
        message: { type: "string", maxLength: 32768 },
      },
    });
    expect(crdSpecIssues(crd.spec as never)).toEqual([]);
    expect(jsonSchemaOf(Widget)).toBeDefined();
  });
});
