import { describe, expect, it } from "vitest";
import { evaluateJsonPath } from "./json-path.js";

describe("evaluateJsonPath", () => {
  it("reads fields, indexes and quoted keys", () => {
    const object = {
      spec: { replicas: 2, "a.b": "x" },
      status: { conditions: [{ type: "Ready" }] },
    };
    expect(evaluateJsonPath(object, ".spec.replicas")).toBe(2);
    expect(evaluateJsonPath(object, "{.status.conditions[0].type}")).toBe("Ready");
    expect(evaluateJsonPath(object, ".spec['a.b']")).toBe("x");
    expect(evaluateJsonPath(object, ".spec.missing.deeper")).toBeUndefined();
  });

  it("reads own members only: a printer column .spec.constructor of an object without one is empty, not Object (second attack on serve)", () => {
    const object = { spec: {}, list: [] };
    for (const path of [".spec.constructor", ".spec.toString", ".spec.__proto__", ".list.length"])
      expect(evaluateJsonPath(object, path), path).toBeUndefined();
    expect(evaluateJsonPath({ spec: { constructor: "c" } }, ".spec.constructor")).toBe("c");
  });
});
