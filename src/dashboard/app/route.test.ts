import { describe, expect, it } from "vitest";
import { kindHref, NO_KIND_QUERY, objectApiPath, objectHref, parseRoute } from "./route.js";

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
      query: NO_KIND_QUERY,
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
      query: NO_KIND_QUERY,
    });
  });

  it("reads a kind page's namespace, label selector, text filter and sort from the query", () => {
    expect(
      parseRoute(
        "#/kind/demo.setpoint.dev/v1/workloads?ns=default&selector=app%20in%20(web)&q=we&sort=Age:desc",
      ),
    ).toEqual({
      page: "kind",
      group: "demo.setpoint.dev",
      version: "v1",
      plural: "workloads",
      query: {
        namespace: "default",
        selector: "app in (web)",
        filter: "we",
        sort: { column: "Age", descending: true },
      },
    });
  });

  it("sorts ascending when the direction is missing, and keeps a colon in the column's name", () => {
    const route = parseRoute("#/kind/core/v1/pods?sort=Name");
    expect(route.page === "kind" && route.query.sort).toEqual({
      column: "Name",
      descending: false,
    });
    const colon = parseRoute("#/kind/core/v1/pods?sort=a%3Ab:asc");
    expect(colon.page === "kind" && colon.query.sort).toEqual({ column: "a:b", descending: false });
  });

  it("round-trips a kind page's filters, leaving out those not set", () => {
    const kind = { group: "apps", version: "v1", plural: "deployments" };
    const query = {
      namespace: "kube system",
      selector: "tier!=db,app=web",
      filter: "a&b=c",
      sort: { column: "Ready", descending: false },
    };
    const href = kindHref(kind, query);
    expect(parseRoute(href)).toEqual({ page: "kind", ...kind, query });
    expect(kindHref(kind, { ...NO_KIND_QUERY, filter: "x" })).toBe(
      "#/kind/apps/v1/deployments?q=x",
    );
    expect(kindHref(kind, NO_KIND_QUERY)).toBe("#/kind/apps/v1/deployments");
  });

  it("ignores a query on other routes", () => {
    expect(parseRoute("#/controllers?x=1")).toEqual({ page: "controllers" });
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
