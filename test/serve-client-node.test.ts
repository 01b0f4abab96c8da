/**
 * `setpoint serve` judged by @kubernetes/client-node 1.4's informer: list, watch, updates,
 * deletes, and a relist after a forced 410.
 */
import {
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControlPlane, MemoryBackend } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { eventually } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

let server: KubernetesApiServer;
let memory: MemoryBackend;
let plane: ReturnType<typeof createControlPlane>;
beforeAll(async () => {
  memory = new MemoryBackend();
  plane = createControlPlane({ backend: memory, kinds: [Widget] });
  server = await serveKubernetesApi(plane);
});
afterAll(() => server.close());

describe("the @kubernetes/client-node informer", () => {
  it("lists, watches updates and deletes, and relists after a forced 410", async () => {
    const widgets = plane.resources(Widget, { namespace: "default" });
    await widgets.create({ metadata: { name: "a" }, spec: { replicas: 1 } });
    await widgets.create({ metadata: { name: "b" }, spec: { replicas: 2 } });

    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    const api = kc.makeApiClient(CustomObjectsApi);
    const informer = makeInformer<KubernetesObject & { spec: { replicas: number } }>(
      kc,
      "/apis/example.setpoint.dev/v1/namespaces/default/widgets",
      () =>
        api.listNamespacedCustomObject({
          group: "example.setpoint.dev",
          version: "v1",
          namespace: "default",
          plural: "widgets",
        }),
    );
    const seen: string[] = [];
    const errors: unknown[] = [];
    let lists = 0;
    const list = memory.list.bind(memory);
    memory.list = (kind, options) => {
      if (kind.kind === "Widget") lists++;
      return list(kind, options);
    };
    informer.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => seen.push(`update ${o.metadata?.name} ${o.spec.replicas}`));
    informer.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on("error", (err) => errors.push(err));
    await informer.start();
    try {
      await eventually(() => expect(seen.sort()).toEqual(["add a", "add b"]));
      seen.length = 0;

      await widgets.patch("a", { type: "merge", patch: { spec: { replicas: 5 } } });
      await widgets.delete("b");
      await eventually(() => expect(seen).toEqual(["update a 5", "delete b"]));
      seen.length = 0;

      // Two changes, then the history compacted before the watch read the second: the watch
      // gets a 410 ERROR event, and the informer relists. (Written to the store itself, whose
      // writes are made before create returns; the typed client first checks the namespace. A
      // waiting watch takes the first change as it is made.)
      const created = [
        memory.create(Widget, {
          metadata: { name: "c", namespace: "default" },
          spec: { replicas: 3 },
        }),
        memory.create(Widget, {
          metadata: { name: "e", namespace: "default" },
          spec: { replicas: 6 },
        }),
      ];
      memory.compact();
      await Promise.all(created);
      await eventually(() => expect(seen).toContain("add e"), { timeoutMs: 10_000 });
      expect(lists).toBe(2);
      await widgets.create({ metadata: { name: "d" }, spec: { replicas: 4 } });
      await eventually(
        () =>
          expect(
            informer
              .list()
              .map((o) => o.metadata?.name)
              .sort(),
          ).toEqual(["a", "c", "d", "e"]),
        { timeoutMs: 10_000 },
      );
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});
