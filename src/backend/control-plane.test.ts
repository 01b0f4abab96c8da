import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind } from "../model/kind.js";
import { ExampleWidget as Widget } from "../testing/fixtures.js";
import { createControlPlane } from "./control-plane.js";

const Rack = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Rack",
  scope: "Cluster",
  spec: z.object({}),
});

describe("control plane clients", () => {
  it("put namespaced objects in the client's namespace, else default", async () => {
    const plane = createControlPlane();
    const everywhere = plane.resources(Widget);
    const shop = plane.resources(Widget, { namespace: "shop" });
    expect(
      (await everywhere.create({ metadata: { name: "a" }, spec: { replicas: 1 } })).metadata
        .namespace,
    ).toBe("default");
    expect(
      (await shop.create({ metadata: { name: "a" }, spec: { replicas: 2 } })).metadata.namespace,
    ).toBe("shop");
    expect((await everywhere.get("a")).spec.replicas).toBe(1);
    expect((await everywhere.get({ namespace: "shop", name: "a" })).spec.replicas).toBe(2);
    expect((await shop.get("a")).spec.replicas).toBe(2);
    expect((await everywhere.list()).items).toHaveLength(2);
    expect((await shop.list()).items).toHaveLength(1);
    expect((await everywhere.inNamespace("default").list()).items).toHaveLength(1);
  });

  it("refuse an object from another namespace than the client's", async () => {
    const shop = createControlPlane().resources(Widget, { namespace: "shop" });
    await expect(
      shop.create({ metadata: { name: "a", namespace: "blog" }, spec: { replicas: 1 } }),
    ).rejects.toMatchObject({ reason: "BadRequest" });
  });

  it("take no namespace for cluster-scoped kinds", async () => {
    const plane = createControlPlane();
    expect(() => plane.resources(Rack, { namespace: "x" })).toThrow(/cluster-scoped/);
    const created = await plane.resources(Rack).create({ metadata: { name: "r" }, spec: {} });
    expect(created.metadata.namespace).toBeUndefined();
  });

  it("watch only their namespace", async () => {
    const plane = createControlPlane();
    const watch = plane.resources(Widget, { namespace: "shop" }).watch();
    await plane.resources(Widget).create({ metadata: { name: "a" }, spec: { replicas: 1 } });
    const created = await plane
      .resources(Widget, { namespace: "shop" })
      .create({ metadata: { name: "b" }, spec: { replicas: 1 } });
    expect((await watch.next()).value).toEqual({ type: "ADDED", object: created });
    watch.close();
  });
});

describe("control plane registry", () => {
  it("registers kinds as they are used and refuses a different kind of the same name", () => {
    const plane = createControlPlane({ kinds: [Rack] });
    plane.resources(Widget);
    expect([...plane.kinds.keys()]).toEqual([
      "example.setpoint.dev/Rack",
      "example.setpoint.dev/Widget",
    ]);
    const v2 = defineKind({
      group: "example.setpoint.dev",
      version: "v2",
      kind: "Widget",
      scope: "Namespaced",
      spec: z.object({}),
    });
    expect(() => plane.register(v2)).toThrow(
      "kind example.setpoint.dev/Widget is already registered as example.setpoint.dev/v1 (Namespaced, widgets)",
    );
  });
});
