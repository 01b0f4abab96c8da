/**
 * Writes through a view — a Deployment's `/scale` — are made by the client's field manager, as
 * kube-apiserver records them: a later apply of the field by another manager conflicts with the
 * scaler, by name (they were recorded as "setpoint").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControlPlane } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { ConfigMap, Deployment } from "../src/kubernetes/index.js";

let server: KubernetesApiServer;
const plane = createControlPlane();
beforeAll(async () => {
  server = await serveKubernetesApi(plane);
});
afterAll(async () => {
  await server.close();
  await plane.close();
});

const deployments = "/apis/apps/v1/namespaces/default/deployments";
const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "default" },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image: "nginx:1.27" }] },
    },
  },
};

async function call(method: string, path: string, body: unknown, type: string) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": type },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("writes through subresources", () => {
  it("is recorded as its field manager's, and a later apply of replicas conflicts with that manager", async () => {
    const applied = await call(
      "PATCH",
      `${deployments}/web?fieldManager=deployer`,
      deployment,
      "application/apply-patch+yaml",
    );
    expect(applied.status).toBe(201);
    const scaled = await call(
      "PATCH",
      `${deployments}/web/scale?fieldManager=myscaler`,
      { spec: { replicas: 5 } },
      "application/merge-patch+json",
    );
    expect(scaled.status).toBe(200);
    const stored = await plane.resources(Deployment, { namespace: "default" }).get("web");
    expect(stored.metadata.managedFields?.map((m) => m.manager)).toContain("myscaler");
    const again = await call(
      "PATCH",
      `${deployments}/web?fieldManager=deployer`,
      { ...deployment, spec: { ...deployment.spec, replicas: 2 } },
      "application/apply-patch+yaml",
    );
    expect(again.status).toBe(409);
    expect(String(again.json.message)).toContain('conflict with "myscaler"');
  });

  it("answers 404 for the status subresource of a kind without status (a ConfigMap), as kube-apiserver", async () => {
    const configMaps = "/api/v1/namespaces/default/configmaps";
    const created = await call(
      "POST",
      configMaps,
      { metadata: { name: "settings" }, data: { a: "b" } },
      "application/json",
    );
    expect(created.status).toBe(201);
    const applied = await call(
      "PATCH",
      `${configMaps}/settings/status?fieldManager=x`,
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { a: "c" } },
      "application/apply-patch+yaml",
    );
    expect(applied.status).toBe(404);
    expect(
      (await plane.resources(ConfigMap, { namespace: "default" }).get("settings")).data,
    ).toEqual({
      a: "b",
    });
  });
});
