import { describe, expect, it } from "vitest";
import { kindHref, objectApiPath, objectHref, parseRoute } from "./route.js";

describe("parseRoute", () => {
  it("reads the overview, the controllers, a kind and an object", () => {
    expect(parseRoute("")).toEqual({ page: "overview" });
    expect(parseRoute("#/")).toEqual({ page: "overview" });
    expect(parseRoute("#/controllers")).toEqual({ page: "controllers" });
    expect(parseRoute("#/kind/core/v1/configmaps")).toEqual({
      page: "kind",
      group: "",
      version: "v1",
      plural: "configmaps",
    });
    expect(parseRoute("#/object/demo.setpoint.dev/v1/workloads/default/web")).toMatchObject({
      page: "object",
      group: "demo.setpoint.dev",
      namespace: "default",
      name: "web",
    });
    expect(parseRoute("#/object/core/v1/namespaces/-/demo")).toMatchObject({
      group: "",
      namespace: undefined,
      name: "demo",
    });
    expect(parseRoute("#/nowhere").page).toBe("missing");
  });

  it("round-trips the links it makes", () => {
    const ref = { group: "", version: "v1", plural: "namespaces", name: "a b" };
    expect(parseRoute(objectHref(ref)!)).toMatchObject({ page: "object", name: "a b" });
    expect(parseRoute(kindHref({ group: "apps", version: "v1", plural: "deployments" }))).toEqual({
      page: "kind",
      group: "apps",
      version: "v1",
      plural: "deployments",
    });
  });

  it("links no object whose kind the server does not serve", () => {
    expect(objectHref({ group: "x", version: "v1", name: "n" })).toBeUndefined();
  });

  it("names the read API's object path with core and - for the cluster scope", () => {
    const route = parseRoute("#/object/core/v1/namespaces/-/demo");
    if (route.page !== "object") throw new Error(route.page);
    expect(objectApiPath(route)).toBe("/setpoint/v1/objects/core/v1/namespaces/-/demo");
  });
});
