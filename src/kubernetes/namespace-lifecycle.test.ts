import { afterEach, describe, expect, it } from "vitest";
import { Client } from "../backend/client.js";
import { createControlPlane } from "../backend/control-plane.js";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { ApiError } from "../model/api-error.js";
import { Namespace } from "../model/namespace.js";
import { eventually } from "../testing/eventually.js";
import { ExampleWidget as Widget } from "../testing/fixtures.js";
import { NamespaceLifecycle } from "./namespace-lifecycle.js";

const runs: AbortController[] = [];
afterEach(() => {
  for (const run of runs.splice(0)) run.abort();
});

/** Runs `lifecycle` until the test ends. */
function running(lifecycle: NamespaceLifecycle): NamespaceLifecycle {
  const run = new AbortController();
  runs.push(run);
  void lifecycle.run(run.signal);
  return lifecycle;
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

describe("the typed client of setpoint's own stores", () => {
  it("creates the namespace on the first create into it, as Kubernetes creates namespaces", async () => {
    const plane = createControlPlane();
    await plane.resources(Widget).create({
      metadata: { name: "a", namespace: "shop" },
      spec: { replicas: 1 },
    });
    const shop = await plane.resources(Namespace).get("shop");
    expect(shop.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "shop" });
    expect(shop.spec).toEqual({ finalizers: ["kubernetes"] });
    expect(shop.status?.phase).toBe("Active");
    // The second create finds it there: one namespace, unchanged.
    await plane.resources(Widget, { namespace: "shop" }).create({
      metadata: { name: "b" },
      spec: { replicas: 1 },
    });
    expect((await plane.resources(Namespace).get("shop")).metadata.resourceVersion).toBe(
      shop.metadata.resourceVersion,
    );
  });

  it("creates a Namespace created or applied through it as Kubernetes creates namespaces", async () => {
    const plane = createControlPlane();
    const namespaces = plane.resources(Namespace);
    await namespaces.create({ metadata: { name: "made" }, spec: {} });
    await namespaces.patch("applied", {
      type: "apply",
      patch: { metadata: { labels: { a: "b" } } },
    });
    for (const name of ["made", "applied"]) {
      const ns = await namespaces.get(name);
      expect(ns.metadata.labels).toMatchObject({ "kubernetes.io/metadata.name": name });
      expect(ns.spec).toEqual({ finalizers: ["kubernetes"] });
      expect(ns.status?.phase).toBe("Active");
    }
    expect((await namespaces.get("applied")).metadata.labels).toMatchObject({ a: "b" });
  });

  it("leaves no namespace behind for a create the store refuses, or a dry run", async () => {
    const plane = createControlPlane();
    const widgets = plane.resources(Widget, { namespace: "shop" });
    await expect(
      widgets.create({ metadata: { name: "a" }, spec: { replicas: -1 } }),
    ).rejects.toMatchObject({ reason: "Invalid" });
    await widgets.create({ metadata: { name: "a" }, spec: { replicas: 1 } }, { dryRun: true });
    expect((await plane.resources(Namespace).list()).items).toEqual([]);
  });

  it("writes into namespaces as they are on a store that keeps namespaces itself", async () => {
    const memory = new MemoryBackend();
    const keeping = Object.assign(Object.create(memory) as MemoryBackend, {
      capabilities: { name: "kubernetes", durable: true, keepsNamespaces: true },
    });
    await new Client(keeping, Widget).create({
      metadata: { name: "a", namespace: "shop" },
      spec: { replicas: 1 },
    });
    expect((await memory.list(Namespace)).items).toEqual([]);
  });

  it("refuses a create into a terminating namespace with Forbidden, and still updates what is there", async () => {
    const plane = createControlPlane();
    const widgets = plane.resources(Widget, { namespace: "shop" });
    const held = await widgets.create({
      metadata: { name: "held", finalizers: ["example.com/hold"] },
      spec: { replicas: 1 },
    });
    await plane.resources(Namespace).delete("shop");
    const err = await rejection(widgets.create({ metadata: { name: "b" }, spec: { replicas: 1 } }));
    expect(err.reason).toBe("Forbidden");
    expect(err.code).toBe(403);
    expect(err.message).toBe(
      'widgets.example.setpoint.dev "b" is forbidden: unable to create new content in namespace shop because it is being terminated',
    );
    expect(err.details?.causes).toEqual([
      {
        reason: "NamespaceTerminating",
        message: "namespace shop is being terminated",
        field: "metadata.namespace",
      },
    ]);
    const apply = await rejection(
      widgets.patch("c", { type: "apply", patch: { spec: { replicas: 1 } } }),
    );
    expect(apply.reason).toBe("Forbidden");
    // The held object is being deleted, and can still be written: its controller reports cleanup.
    const current = await widgets.get("held");
    expect(current.metadata.deletionTimestamp).toBeDefined();
    await widgets.update({ ...current, spec: { replicas: 2 } });
    expect(held.metadata.uid).toBe(current.metadata.uid);
  });
});

describe("deleting a namespace", () => {
  it("through a plane's client deletes the content of every kind the plane knows, then the namespace", async () => {
    const plane = createControlPlane();
    const widgets = plane.resources(Widget, { namespace: "shop" });
    for (const name of ["a", "b"])
      await widgets.create({ metadata: { name }, spec: { replicas: 1 } });
    await plane.resources(Widget, { namespace: "other" }).create({
      metadata: { name: "a" },
      spec: { replicas: 1 },
    });
    const terminating = await plane.resources(Namespace).delete("shop");
    expect(terminating.status?.phase).toBe("Terminating");
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    expect((await widgets.list()).items).toEqual([]);
    await expect(plane.resources(Namespace).get("shop")).rejects.toMatchObject({
      reason: "NotFound",
    });
    expect((await plane.resources(Widget).list()).items.map((w) => w.metadata.namespace)).toEqual([
      "other",
    ]);
  });

  it("keeps it Terminating while content with finalizers is left, says so in its conditions, and removes it once they are gone", async () => {
    const plane = createControlPlane();
    const lifecycle = running(
      new NamespaceLifecycle(plane.backend, { kinds: () => plane.kinds.values(), recheckMs: 20 }),
    );
    const widgets = plane.resources(Widget, { namespace: "shop" });
    await widgets.create({
      metadata: { name: "held", finalizers: ["example.com/hold"] },
      spec: { replicas: 1 },
    });
    await widgets.create({ metadata: { name: "free" }, spec: { replicas: 1 } });
    await lifecycle.delete("shop");
    await eventually(async () => {
      const shop = await plane.resources(Namespace).get("shop");
      expect(shop.status?.conditions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            type: "NamespaceContentRemaining",
            status: "True",
            message:
              "Some resources are remaining: widgets.example.setpoint.dev has 1 resource instances",
          }),
          expect.objectContaining({
            type: "NamespaceFinalizersRemaining",
            status: "True",
            message:
              "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
          }),
        ]),
      );
    });
    expect((await widgets.list()).items.map((w) => w.metadata.name)).toEqual(["held"]);
    await widgets.patch("held", {
      type: "json",
      patch: [{ op: "remove", path: "/metadata/finalizers" }],
    });
    await eventually(async () => expect(await lifecycle.get("shop")).toBeUndefined());
  });

  it("left Terminating by a process that stopped is finished by the next lifecycle that runs", async () => {
    const memory = new MemoryBackend();
    const before = createControlPlane({ backend: memory, kinds: [Widget] });
    await before.resources(Widget, { namespace: "shop" }).create({
      metadata: { name: "a" },
      spec: { replicas: 1 },
    });
    // Marked, then the process "died": nothing swept the namespace.
    await new NamespaceLifecycle(memory).delete("shop");
    expect((await memory.list(Widget)).items).toHaveLength(1);
    expect((await memory.get(Namespace, { name: "shop" })).status?.phase).toBe("Terminating");

    const after = running(new NamespaceLifecycle(memory, { kinds: () => [Widget] }));
    await eventually(async () => expect(await after.get("shop")).toBeUndefined());
    expect((await memory.list(Widget)).items).toEqual([]);
  });

  it("gives a Namespace, when it starts, to each namespace in use that has none (objects written before setpoint kept namespaces)", async () => {
    const memory = new MemoryBackend();
    await memory.create(Widget, {
      metadata: { name: "old", namespace: "legacy" },
      spec: { replicas: 1 },
    });
    const lifecycle = running(new NamespaceLifecycle(memory, { kinds: () => [Widget] }));
    await eventually(async () =>
      expect((await lifecycle.get("legacy"))?.status?.phase).toBe("Active"),
    );
    expect((await memory.list(Namespace)).items.map((n) => n.metadata.name)).toEqual(["legacy"]);
  });

  it("is idempotent: two lifecycles finishing the same namespace at once both end well", async () => {
    const plane = createControlPlane({ kinds: [Widget] });
    const widgets = plane.resources(Widget, { namespace: "shop" });
    for (let i = 0; i < 20; i++)
      await widgets.create({ metadata: { name: `w${i}` }, spec: { replicas: 1 } });
    const one = new NamespaceLifecycle(plane.backend, { kinds: () => [Widget] });
    const two = new NamespaceLifecycle(plane.backend, { kinds: () => [Widget] });
    await one.delete("shop");
    const states = await Promise.all(
      [one.finish("shop"), two.finish("shop")].map((p) => p.catch((e) => e)),
    );
    // One releases the namespace; the other sees it gone, or loses the race to release it.
    expect(states).toContain("gone");
    expect(await one.get("shop")).toBeUndefined();
    expect((await widgets.list()).items).toEqual([]);
    expect(await two.finish("shop")).toBe("gone");
  });

  it("refuses to delete default, kube-system and kube-public, as Kubernetes does", async () => {
    const plane = createControlPlane();
    const lifecycle = new NamespaceLifecycle(plane.backend);
    await lifecycle.createSystemNamespaces();
    for (const name of ["default", "kube-system", "kube-public"]) {
      const err = await rejection(plane.resources(Namespace).delete(name));
      expect(err.code).toBe(403);
      expect(err.message).toBe(
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
      );
      expect((await lifecycle.get(name))?.metadata.deletionTimestamp).toBeUndefined();
    }
  });

  it("checks preconditions before writing anything", async () => {
    const plane = createControlPlane();
    const shop = await plane.resources(Namespace).create({ metadata: { name: "shop" }, spec: {} });
    const err = await rejection(
      plane.resources(Namespace).delete("shop", { preconditions: { uid: "not-its-uid" } }),
    );
    expect(err.reason).toBe("Conflict");
    const after = await plane.resources(Namespace).get("shop");
    expect(after.metadata.resourceVersion).toBe(shop.metadata.resourceVersion);
    expect(after.metadata.finalizers).toBeUndefined();
  });
});
