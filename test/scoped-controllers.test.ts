/**
 * Scoped controllers (kube-runtime's `watcher::Config`) and debounce: a controller lists and
 * watches only its namespaces and selectors, on memory and through the Kubernetes backend
 * against `setpoint serve` (whose store records every list and watch it is asked for).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Backend, ListOptions, WatchOptions } from "../src/backend/backend.js";
import { createControlPlane } from "../src/backend/control-plane.js";
import { MemoryBackend } from "../src/backend/memory/memory-backend.js";
import { controller } from "../src/controller/controller.js";
import { Manager } from "../src/controller/manager.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { silentLogger } from "../src/observability/logging.js";
import { eventually } from "../src/testing/eventually.js";
import { Gear, Widget } from "../src/testing/fixtures.js";
import { createTestEnv, type TestEnv } from "../src/testing/test-env.js";

/** A store that records the namespace and selectors of every list and watch of each kind. */
function recording(backend: Backend) {
  const requests: { kind: string; call: "list" | "watch"; namespace?: string; labels?: string }[] =
    [];
  const record = (call: "list" | "watch", kind: string, options?: ListOptions | WatchOptions) =>
    requests.push({
      kind,
      call,
      ...(options?.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options?.labelSelector === undefined ? {} : { labels: String(options.labelSelector) }),
    });
  const view = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === "list" || property === "watch")
        return (kind: { kind: string }, options?: ListOptions) => {
          record(property, kind.kind, options);
          return (value as (...args: unknown[]) => unknown).call(target, kind, options);
        };
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { backend: view, requests };
}

const widget = (namespace: string, name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, namespace, labels },
  spec: { replicas: 1 },
});

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

describe("a scoped controller", () => {
  it("reconciles and reads only the namespaces of its scope, listing and watching nothing else", async () => {
    const store = recording(new MemoryBackend());
    const plane = createControlPlane({ backend: store.backend });
    for (const namespace of ["a", "b", "c"])
      await plane.resources(Widget, { namespace }).create(widget(namespace, "w"));
    env = createTestEnv({ plane });
    const reconciled = new Set<string>();
    const scope = { namespace: ["a", "b"] };
    await env.start(
      controller(Widget, {
        name: "widgets",
        scope,
        reconcile: (_w, { key, cache }) => {
          reconciled.add(key);
          expect(cache.get("c/w")).toBeUndefined();
        },
      }).owns(Gear, { scope }),
    );
    await eventually(() => expect([...reconciled].sort()).toEqual(["a/w", "b/w"]));
    await plane.resources(Widget, { namespace: "c" }).patch("w", {
      type: "merge",
      patch: { metadata: { labels: { x: "1" } } },
    });
    await plane.resources(Widget, { namespace: "a" }).patch("w", {
      type: "merge",
      patch: { metadata: { labels: { x: "1" } } },
    });
    await eventually(() => expect(env!.manager.runner("widgets")!.queue.processing).toBe(0));
    expect([...reconciled].sort()).toEqual(["a/w", "b/w"]);
    const reads = store.requests.filter((r) => r.kind === "Widget" || r.kind === "Gear");
    expect(reads.length).toBeGreaterThanOrEqual(8); // a list and a watch of each kind in a and b
    expect(new Set(reads.map((r) => r.namespace))).toEqual(new Set(["a", "b"]));
  });

  it("refuses at once to own a kind read in fewer namespaces than its own: a child there would never be seen", () => {
    const make = () =>
      controller(Widget, {
        name: "widgets",
        scope: { namespace: ["a", "b"] },
        reconcile: () => {},
      }).owns(Gear, { scope: { namespace: "a" } });
    expect(make).toThrow(
      /owns\(Gear\) reads namespaces a, but children are written in their owner's namespace, and Widgets are read in b too/,
    );
    expect(() =>
      controller(Widget, { name: "w", reconcile: () => {} }).owns(Gear, {
        scope: { namespace: "a" },
      }),
    ).toThrow(/Widgets are read in every other namespace too/);
    expect(() =>
      controller(Widget, {
        name: "w",
        scope: { namespace: "Not_A_Namespace" },
        reconcile: () => {},
      }),
    ).toThrow(/scope.namespace "Not_A_Namespace" is not a namespace name/);
    expect(() =>
      controller(Widget, { name: "w", scope: { labelSelector: "a in (" }, reconcile: () => {} }),
    ).toThrow(/scope.labelSelector/);
  });

  it("debounces a burst of changes into one reconcile, and a change that never stops within the longest wait", async () => {
    env = createTestEnv();
    const reasons: string[] = [];
    await env.start(
      controller(Widget, {
        name: "widgets",
        debounceMs: 100,
        reconcile: (_w, { reason }) => void reasons.push(reason),
      }),
    );
    const widgets = env.plane.resources(Widget);
    await widgets.create({ metadata: { name: "w" }, spec: { replicas: 1 } });
    for (let i = 2; i <= 5; i++) {
      await widgets.patch("w", { type: "merge", patch: { spec: { replicas: i } } });
      await env.advance(20);
    }
    expect(reasons).toEqual([]);
    await env.advance(100);
    await eventually(() => expect(reasons).toEqual(["added"]));

    // Changing every 50 ms: reconciled within 10 × 100 ms of the first change all the same.
    for (let i = 0; i < 30 && reasons.length < 2; i++) {
      await widgets.patch("w", { type: "merge", patch: { spec: { replicas: 10 + i } } });
      await env.advance(50);
    }
    await eventually(() => expect(reasons).toEqual(["added", "changed"]));
  });
});

describe("a scoped controller through the Kubernetes backend", () => {
  it("lists and watches the served API only in its namespace and with its selector", async () => {
    const store = recording(new MemoryBackend());
    const served = createControlPlane({ backend: store.backend, kinds: [Widget, Gear] });
    for (const namespace of ["a", "b"])
      for (const tier of ["web", "db"])
        await served.resources(Widget, { namespace }).create(widget(namespace, tier, { tier }));
    const server = await serveKubernetesApi(served);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-scoped-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const plane = createControlPlane({ backend: await connectKubernetes({ kubeconfig }) });
    const manager = new Manager({ plane, logger: silentLogger(), shutdownTimeoutMs: 5_000 });
    const reconciled = new Set<string>();
    manager.add(
      controller(Widget, {
        name: "widgets",
        scope: { namespace: "a", labelSelector: "tier=web" },
        reconcile: (_w, { key }) => void reconciled.add(key),
      }),
    );
    const stop = new AbortController();
    const before = store.requests.length;
    const running = manager.run({ signal: stop.signal });
    try {
      await manager.ready();
      await eventually(() => expect([...reconciled]).toEqual(["a/web"]));
      await served
        .resources(Widget, { namespace: "a" })
        .create(widget("a", "web-2", { tier: "web" }));
      await served
        .resources(Widget, { namespace: "b" })
        .create(widget("b", "web-3", { tier: "web" }));
      await eventually(() => expect([...reconciled].sort()).toEqual(["a/web", "a/web-2"]));
      const reads = store.requests.slice(before).filter((r) => r.kind === "Widget");
      expect(reads.map((r) => r.call)).toContain("watch");
      for (const read of reads) expect(read).toMatchObject({ namespace: "a", labels: "tier=web" });
    } finally {
      stop.abort();
      await running;
      await plane.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
