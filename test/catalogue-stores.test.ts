/**
 * The catalogue's kinds used as any kind is: composite children on memory, objects in the
 * durable store, and through `connectKubernetes` against `setpoint serve` (the code a user runs
 * against a cluster).
 */

import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { composite } from "../src/controller/composite.js";
import { createControlPlane, Namespace } from "../src/index.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { ConfigMap, Deployment, Service } from "../src/kubernetes/catalogue/index.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { eventually } from "../src/testing/eventually.js";
import { Widget } from "../src/testing/fixtures.js";
import { createTestEnv } from "../src/testing/test-env.js";

const postgresUrl = inject("postgresUrl");
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const deployment = (image?: string) => ({
  metadata: { name: "web", namespace: "default" },
  spec: {
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", ...(image === undefined ? {} : { image }) }] },
    },
  },
});

describe("the catalogue's kinds on every store", () => {
  it("are a composite's children: a ConfigMap and a Service per parent, remade when deleted", async () => {
    const env = createTestEnv();
    closers.push(() => env.stop());
    const widgets = composite(Widget, {
      name: "widget-config",
      children: [{ kind: ConfigMap }, { kind: Service }],
      sync: ({ parent }) => ({
        children: [
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: parent.metadata.name },
            data: { replicas: String(parent.spec.replicas) },
          },
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: parent.metadata.name },
            spec: { selector: { app: parent.metadata.name }, ports: [{ port: 80 }] },
          },
        ],
      }),
    });
    await env.start(widgets as never);
    await env.plane.resources(Widget).create({
      metadata: { name: "w", namespace: "default" },
      spec: { replicas: 3 },
    });
    const configmaps = env.plane.resources(ConfigMap, { namespace: "default" });
    await eventually(async () =>
      expect((await configmaps.get("w")).data).toEqual({ replicas: "3" }),
    );
    const service = await env.plane.resources(Service, { namespace: "default" }).get("w");
    expect(service.spec.ports?.[0]?.port).toBe(80);
    await configmaps.delete("w");
    await eventually(async () =>
      expect((await configmaps.get("w")).data).toEqual({ replicas: "3" }),
    );
  });

  it("are kept by the durable store, flat kinds at the top level", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "setpoint-catalogue-"));
    closers.push(() => rm(dataDir, { recursive: true, force: true }));
    const plane = createControlPlane({ dataDir });
    await plane.resources(ConfigMap).create({
      metadata: { name: "settings", namespace: "default" },
      data: { mode: "fast" },
    });
    await plane.resources(Deployment).create(deployment("nginx"));
    await plane.close();
    const reopened = createControlPlane({ dataDir });
    closers.push(() => reopened.close());
    const configmap = await reopened.resources(ConfigMap, { namespace: "default" }).get("settings");
    expect(configmap.data).toEqual({ mode: "fast" });
    const web = await reopened.resources(Deployment, { namespace: "default" }).get("web");
    expect(web.spec.replicas).toBe(1);
  });

  it.skipIf(!postgresUrl)("are kept by PostgreSQL, flat kinds at the top level", async () => {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const plane = createControlPlane({ postgres: postgresUrl, schema });
    closers.push(async () => {
      await plane.close();
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });
    await plane.ready();
    await plane.resources(ConfigMap).create({
      metadata: { name: "settings", namespace: "default" },
      data: { mode: "fast" },
    });
    await plane.resources(Deployment).create(deployment("nginx"));
    expect(
      (await plane.resources(ConfigMap, { namespace: "default" }).get("settings")).data,
    ).toEqual({ mode: "fast" });
    const web = await plane.resources(Deployment, { namespace: "default" }).get("web");
    expect(web.spec.template.spec?.containers[0]?.imagePullPolicy).toBe("Always"); // no tag: latest
  });

  it("work through connectKubernetes against setpoint serve, its refusals naming the field", async () => {
    const plane = createControlPlane();
    const server = await serveKubernetesApi(plane);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-catalogue-"));
    closers.push(async () => {
      await server.close();
      await plane.close();
      await rm(dir, { recursive: true, force: true });
    });
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const cluster = createControlPlane({ backend: await connectKubernetes({ kubeconfig }) });
    closers.push(() => cluster.close());
    await eventually(async () =>
      expect(await cluster.resources(Namespace).get("default")).toBeDefined(),
    );

    const configmaps = cluster.resources(ConfigMap, { namespace: "default" });
    await configmaps.create({ metadata: { name: "settings" }, data: { mode: "fast" } });
    expect((await configmaps.get("settings")).data).toEqual({ mode: "fast" });
    expect((await configmaps.list()).items.map((c) => c.metadata.name)).toEqual(["settings"]);

    const created = await cluster.resources(Deployment).create(deployment("nginx:1.27"));
    expect(created.spec.replicas).toBe(1);
    const refused = await cluster
      .resources(Deployment)
      .create({ ...deployment(), metadata: { name: "bad", namespace: "default" } } as never)
      .catch((error: Error) => error);
    expect(String(refused)).toContain("spec.template.spec.containers[0].image");
  });

  it("are not served with builtinKinds: false", async () => {
    const plane = createControlPlane();
    const server = await serveKubernetesApi(plane, { builtinKinds: false });
    closers.push(async () => {
      await server.close();
      await plane.close();
    });
    const api = (await (await fetch(`${server.url}/api/v1`)).json()) as { resources: unknown[] };
    const names = (api.resources as { name: string }[]).map((r) => r.name);
    expect(names).toContain("services");
    expect(names).not.toContain("configmaps");
    const apps = await fetch(`${server.url}/apis/apps/v1`);
    expect(apps.status).toBe(404);
  });
});
