import { describe, expect, it } from "vitest";
import type { StoredObject } from "../backend/backend.js";
import { createControlPlane } from "../backend/control-plane.js";
import { silentLogger } from "../observability/logging.js";
import { Widget, widget } from "../testing/fixtures.js";
import { done, requeueAfter } from "./action.js";
import { finalizerStep, withFinalizer } from "./finalizer.js";

const name = "test.setpoint.dev/cleanup";

function object(finalizers: string[] | undefined, deleting: boolean): StoredObject {
  return {
    apiVersion: Widget.apiVersion,
    kind: "Widget",
    metadata: {
      name: "a",
      namespace: "default",
      uid: "u",
      resourceVersion: "1",
      generation: 1,
      creationTimestamp: "2026-01-01T00:00:00Z",
      ...(finalizers ? { finalizers } : {}),
      ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:01Z" } : {}),
    },
    spec: {},
  };
}

describe("the finalizer protocol", () => {
  it.each([
    ["lacks the finalizer, not deleting", undefined, false, "add"],
    ["lacks it among others, not deleting", ["other"], false, "add"],
    ["has it, not deleting", ["other", name], false, "apply"],
    ["has it, being deleted", [name], true, "cleanup"],
    ["lacks it, being deleted", ["other"], true, "none"],
  ] as const)("an object that %s is at step %s", (_what, finalizers, deleting, step) => {
    expect(finalizerStep(object(finalizers ? [...finalizers] : undefined, deleting), name)).toBe(
      step,
    );
  });

  it("adds the finalizer first, then applies, then on delete cleans up and removes it", async () => {
    const plane = createControlPlane();
    const client = plane.resources(Widget);
    const context = { log: silentLogger() };
    const calls: string[] = [];
    const finalizer = {
      name,
      cleanup: (o: StoredObject) => void calls.push(`cleanup ${o.metadata.name}`),
    };
    const apply = async () => {
      calls.push("apply");
      return requeueAfter(1_000);
    };
    let current: StoredObject = await client.create(widget("a"));
    expect(await withFinalizer(finalizer, current, client, context, apply)).toEqual(done());
    current = await client.get("a");
    expect(current.metadata.finalizers).toEqual([name]);
    expect(calls).toEqual([]);

    expect(await withFinalizer(finalizer, current, client, context, apply)).toEqual(
      requeueAfter(1_000),
    );
    expect(calls).toEqual(["apply"]);

    await client.delete("a");
    current = await client.get("a");
    expect(await withFinalizer(finalizer, current, client, context, apply)).toEqual(done());
    expect(calls).toEqual(["apply", "cleanup a"]);
    await expect(client.get("a")).rejects.toMatchObject({ reason: "NotFound" });
    await plane.close();
  });

  it("keeps the finalizer when cleanup throws, and writes nothing from a stale read", async () => {
    const plane = createControlPlane();
    const client = plane.resources(Widget);
    const context = { log: silentLogger() };
    const failing = {
      name,
      cleanup: () => {
        throw new Error("the world is not ready");
      },
    };
    const apply = async () => done();
    const created = await client.create({
      ...widget("a"),
      metadata: { name: "a", finalizers: [name] },
    });
    await client.delete("a");
    const deleting = await client.get("a");
    await expect(withFinalizer(failing, deleting, client, context, apply)).rejects.toThrow(
      "the world is not ready",
    );
    expect((await client.get("a")).metadata.finalizers).toEqual([name]);
    // The object changed since `created` was read: adding the finalizer from it conflicts.
    const stale = { ...created, metadata: { ...created.metadata, finalizers: [] } };
    await expect(
      withFinalizer({ name: "x.dev/other", cleanup: () => {} }, stale, client, context, apply),
    ).rejects.toMatchObject({ reason: "Conflict" });
    await plane.close();
  });

  it("ends as done, logging no failure, when a stale read's object is already gone", async () => {
    const plane = createControlPlane();
    const client = plane.resources(Widget);
    const context = { log: silentLogger() };
    const cleaned: string[] = [];
    const finalizer = { name, cleanup: (o: StoredObject) => void cleaned.push(o.metadata.name) };
    await client.create({ ...widget("a"), metadata: { name: "a", finalizers: [name] } });
    await client.delete("a");
    const deleting = await client.get("a");
    const apply = async () => done();
    expect(await withFinalizer(finalizer, deleting, client, context, apply)).toEqual(done());
    await expect(client.get("a")).rejects.toMatchObject({ reason: "NotFound" });
    // A cache that has not seen the object go hands the same version in again.
    expect(await withFinalizer(finalizer, deleting, client, context, apply)).toEqual(done());
    expect(cleaned).toEqual(["a", "a"]);
    await plane.close();
  });
});
