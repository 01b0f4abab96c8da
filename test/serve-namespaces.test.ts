/**
 * Namespaces through `setpoint serve` as on a cluster: the system namespaces from the start,
 * NotFound for a write into a namespace that does not exist, Terminating, content deletion with
 * finalizers honoured, Forbidden creates while terminating — judged by the real kubectl and by
 * plain HTTP; and the lifecycle on a PostgreSQL store shared by two servers, one of which stops
 * with a namespace terminating.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { createControlPlane, Namespace } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import { eventually } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

const widget = (name: string, extra = "") =>
  `apiVersion: example.setpoint.dev/v1\nkind: Widget\nmetadata:\n  name: ${name}\n${extra}spec: {replicas: 1}\n`;
const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;

async function request(
  server: KubernetesApiServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe.runIf(hasKubectl)("namespaces with kubectl", () => {
  let env: Served;
  let plane: ReturnType<typeof createControlPlane>;
  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Widget] });
    env = await serveForKubectl(plane);
  });
  afterAll(() => env.close());

  it("lists default, kube-system and kube-public as Active on a new server", async () => {
    expect(await env.kubectl("get", "namespaces")).toMatch(
      /^NAME\s+STATUS\s+AGE\ndefault\s+Active\s+\d+s\nkube-public\s+Active\s+\d+s\nkube-system\s+Active\s+\d+s\n$/,
    );
  });

  it('refuses to create in a namespace that does not exist: namespaces "x" not found', async () => {
    const path = await env.file("w-nope.yaml", widget("a"));
    await expect(env.kubectl("apply", "-f", path, "-n", "nope")).rejects.toMatchObject({
      stderr: expect.stringContaining('namespaces "nope" not found'),
    });
    await expect(env.kubectl("create", "-f", path, "-n", "nope")).rejects.toMatchObject({
      stderr: expect.stringContaining("Error from server (NotFound)"),
    });
    expect((await plane.resources(Widget).list()).items).toEqual([]);
    // Reading a namespace that does not exist is no error: it is empty.
    expect(await env.kubectl("get", "wd", "-n", "nope", "-o", "name")).toBe("");
  });

  it("shows a namespace the library created on its first write into it", async () => {
    await plane.resources(Widget, { namespace: "from-code" }).create({
      metadata: { name: "a" },
      spec: { replicas: 1 },
    });
    expect(await env.kubectl("get", "ns", "from-code")).toMatch(/from-code\s+Active/);
    expect(
      await env.kubectl("get", "ns", "from-code", "-o", "jsonpath={.metadata.labels}"),
    ).toContain('"kubernetes.io/metadata.name":"from-code"');
  });

  it("deletes a namespace's content, keeps it Terminating while a finalizer holds some, refuses creates into it, and then removes it", async () => {
    await env.kubectl("apply", "-f", await env.file("ns-shop.yaml", namespace("shop")));
    await env.kubectl("apply", "-n", "shop", "-f", await env.file("free.yaml", widget("free")));
    await env.kubectl(
      "apply",
      "-n",
      "shop",
      "-f",
      await env.file("held.yaml", widget("held", "  finalizers: [example.com/hold]\n")),
    );
    const deleting = env.start("delete", "namespace", "shop", "--timeout=60s");
    await eventually(
      async () => {
        expect(await env.kubectl("get", "ns", "shop")).toMatch(/shop\s+Terminating/);
        expect(await env.kubectl("get", "wd", "-n", "shop", "-o", "name")).toBe(
          "widget.example.setpoint.dev/held\n",
        );
      },
      { timeoutMs: 15_000 },
    );
    const yaml = await env.kubectl("get", "ns", "shop", "-o", "yaml");
    expect(yaml).toMatch(/deletionTimestamp: /);
    expect(yaml).toMatch(/phase: Terminating/);
    await eventually(async () => {
      const { status } = JSON.parse(await env.kubectl("get", "ns", "shop", "-o", "json"));
      expect(status.conditions).toContainEqual(
        expect.objectContaining({
          type: "NamespaceFinalizersRemaining",
          status: "True",
          message:
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
        }),
      );
    });
    await expect(
      env.kubectl("apply", "-n", "shop", "-f", await env.file("late.yaml", widget("late"))),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'Error from server (Forbidden): error when creating "' +
          `${env.dir}/late.yaml": widgets.example.setpoint.dev "late" is forbidden: unable to create new content in namespace shop because it is being terminated`,
      ),
    });
    expect(deleting.child.exitCode).toBeNull();
    await plane
      .resources(Widget, { namespace: "shop" })
      .patch("held", { type: "json", patch: [{ op: "remove", path: "/metadata/finalizers" }] });
    await eventually(() => expect(deleting.child.exitCode).toBe(0), { timeoutMs: 20_000 });
    expect(deleting.output()).toContain('namespace "shop" deleted');
    await expect(env.kubectl("get", "ns", "shop")).rejects.toMatchObject({
      stderr: expect.stringMatching(/Error from server \(NotFound\): .*"shop" not found/),
    });
  });

  it("creates namespaces applied client-side or server-side as Kubernetes creates them", async () => {
    await env.kubectl("apply", "-f", await env.file("ns-csa.yaml", namespace("csa")));
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("ns-ssa.yaml", namespace("ssa")),
    );
    for (const name of ["csa", "ssa"]) {
      const ns = JSON.parse(await env.kubectl("get", "ns", name, "-o", "json"));
      expect(ns.metadata.labels).toMatchObject({ "kubernetes.io/metadata.name": name });
      expect(ns.spec).toEqual({ finalizers: ["kubernetes"] });
      expect(ns.status).toEqual({ phase: "Active" });
    }
  });

  it("refuses to delete default with Forbidden", async () => {
    await expect(env.kubectl("delete", "namespace", "default")).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted',
      ),
    });
  });
});

describe.runIf(hasKubectl)("namespaces with kubectl minors 1.29 to 1.33", () => {
  for (const minor of kubectlMinors) {
    it(`kubectl 1.${minor} deletes a namespace and waits until it is gone`, async () => {
      const plane = createControlPlane({ kinds: [Widget] });
      const env = await serveForKubectl(plane, minor);
      try {
        await env.kubectl("apply", "-f", await env.file("ns.yaml", namespace("team")));
        await env.kubectl("apply", "-n", "team", "-f", await env.file("w.yaml", widget("w")));
        expect(await env.kubectl("delete", "namespace", "team", "--timeout=30s")).toContain(
          'namespace "team" deleted',
        );
        expect((await plane.resources(Widget).list()).items).toEqual([]);
        expect(await env.kubectl("get", "ns", "-o", "name")).not.toContain("team");
      } finally {
        await env.close();
      }
    });
  }
});

describe("namespaces over HTTP", () => {
  let server: KubernetesApiServer;
  let plane: ReturnType<typeof createControlPlane>;
  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Widget] });
    server = await serveKubernetesApi(plane);
  });
  afterAll(() => server.close());
  const widgets = (ns: string) => `/apis/example.setpoint.dev/v1/namespaces/${ns}/widgets`;

  it("answers a create into a missing namespace with Kubernetes' 404 Status", async () => {
    const reply = await request(server, "POST", widgets("nope"), {
      metadata: { name: "a" },
      spec: { replicas: 1 },
    });
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'namespaces "nope" not found',
      reason: "NotFound",
      details: { name: "nope", kind: "namespaces" },
      code: 404,
    });
  });

  it("answers a create into a terminating namespace with Kubernetes' 403 Status and cause", async () => {
    await request(server, "POST", "/api/v1/namespaces", { metadata: { name: "going" } });
    await plane.resources(Widget, { namespace: "going" }).create({
      metadata: { name: "held", finalizers: ["example.com/hold"] },
      spec: { replicas: 1 },
    });
    const deleted = await request(server, "DELETE", "/api/v1/namespaces/going");
    expect(deleted.status).toBe(200);
    expect(deleted.json).toMatchObject({
      metadata: { name: "going", deletionTimestamp: expect.any(String) },
      status: { phase: "Terminating" },
    });
    const reply = await request(server, "POST", widgets("going"), {
      metadata: { name: "b" },
      spec: { replicas: 1 },
    });
    expect(reply.status).toBe(403);
    expect(reply.json).toMatchObject({
      reason: "Forbidden",
      message:
        'widgets.example.setpoint.dev "b" is forbidden: unable to create new content in namespace going because it is being terminated',
      details: {
        name: "b",
        group: "example.setpoint.dev",
        kind: "widgets",
        causes: [
          {
            reason: "NamespaceTerminating",
            message: "namespace going is being terminated",
            field: "metadata.namespace",
          },
        ],
      },
    });
  });

  it("leaves namespaces to the server for a plane on the Kubernetes backend: a write into a missing one is NotFound", async () => {
    const dir = await mkdtemp(join(tmpdir(), "setpoint-ns-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    const remote = createControlPlane({ backend: await connectKubernetes({ kubeconfig }) });
    try {
      await expect(
        remote.resources(Widget, { namespace: "elsewhere" }).create({
          metadata: { name: "a" },
          spec: { replicas: 1 },
        }),
      ).rejects.toMatchObject({ reason: "NotFound", message: 'namespaces "elsewhere" not found' });
      expect((await request(server, "GET", "/api/v1/namespaces/elsewhere")).status).toBe(404);
    } finally {
      await remote.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("creates a namespace as Kubernetes does: phase Active, the name label, the kubernetes finalizer in spec", async () => {
    const reply = await request(server, "POST", "/api/v1/namespaces", {
      metadata: { name: "fresh" },
    });
    expect(reply.status).toBe(201);
    expect(reply.json).toMatchObject({
      metadata: { name: "fresh", labels: { "kubernetes.io/metadata.name": "fresh" } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
  });

  it("serves namespaces that hold objects written before setpoint kept namespaces: listed, and writable", async () => {
    const legacyPlane = createControlPlane({ kinds: [Widget] });
    await legacyPlane.backend.create(Widget, {
      metadata: { name: "old", namespace: "legacy" },
      spec: { replicas: 1 },
    });
    const legacyServer = await serveKubernetesApi(legacyPlane);
    try {
      await eventually(async () =>
        expect(
          (await request(legacyServer, "GET", "/api/v1/namespaces/legacy")).json,
        ).toMatchObject({ status: { phase: "Active" } }),
      );
      const reply = await fetch(`${legacyServer.url}${widgets("legacy")}/old`, {
        method: "PATCH",
        headers: { "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ spec: { replicas: 2 } }),
      });
      expect(reply.status).toBe(200);
    } finally {
      await legacyServer.close();
    }
  });

  it("lets a namespace stuck terminating go through the finalize subresource, as people do on a cluster", async () => {
    await request(server, "POST", "/api/v1/namespaces", { metadata: { name: "stuck" } });
    await plane.resources(Widget, { namespace: "stuck" }).create({
      metadata: { name: "held", finalizers: ["example.com/hold"] },
      spec: { replicas: 1 },
    });
    await request(server, "DELETE", "/api/v1/namespaces/stuck");
    const current = (await request(server, "GET", "/api/v1/namespaces/stuck")).json;
    const reply = await request(server, "PUT", "/api/v1/namespaces/stuck/finalize", {
      ...current,
      spec: { finalizers: [] },
    });
    expect(reply.status).toBe(200);
    expect((await request(server, "GET", "/api/v1/namespaces/stuck")).status).toBe(404);
  });
});

const url = inject("postgresUrl");

describe.skipIf(!url)("namespaces on a PostgreSQL store shared by two servers", () => {
  const schema = `ns_${randomBytes(6).toString("hex")}`;
  const planes: ReturnType<typeof createControlPlane>[] = [];
  const servers: KubernetesApiServer[] = [];
  const plane = () => {
    const made = createControlPlane({ postgres: url, schema, kinds: [Widget] });
    planes.push(made);
    return made;
  };
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });
  afterAll(async () => {
    for (const made of planes) await made.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it("finishes, in the next server, a namespace left Terminating by a server that stopped", async () => {
    const first = plane();
    const a = await serveKubernetesApi(first);
    servers.push(a);
    await request(a, "POST", "/api/v1/namespaces", { metadata: { name: "left" } });
    const widgets = first.resources(Widget, { namespace: "left" });
    await widgets.create({
      metadata: { name: "held", finalizers: ["example.com/hold"] },
      spec: { replicas: 1 },
    });
    await widgets.create({ metadata: { name: "free" }, spec: { replicas: 1 } });
    expect((await request(a, "DELETE", "/api/v1/namespaces/left")).status).toBe(200);
    await eventually(async () =>
      expect((await widgets.list()).items.map((w) => w.metadata.name)).toEqual(["held"]),
    );
    await servers.pop()!.close();
    // No server runs while the last finalizer goes: the namespace stays Terminating.
    await widgets.patch("held", {
      type: "json",
      patch: [{ op: "remove", path: "/metadata/finalizers" }],
    });
    expect((await first.resources(Namespace).get("left")).status?.phase).toBe("Terminating");

    const b = await serveKubernetesApi(plane());
    servers.push(b);
    await eventually(
      async () => expect((await request(b, "GET", "/api/v1/namespaces/left")).status).toBe(404),
      { timeoutMs: 15_000 },
    );
  });

  it("keeps one lifecycle for two servers at once: either refuses writes into a missing namespace, and a deletion through one is seen by both", async () => {
    const a = await serveKubernetesApi(plane());
    const b = await serveKubernetesApi(plane());
    servers.push(a, b);
    const path = "/apis/example.setpoint.dev/v1/namespaces/both/widgets";
    expect(
      (await request(b, "POST", path, { metadata: { name: "x" }, spec: { replicas: 1 } })).status,
    ).toBe(404);
    expect(
      (await request(a, "POST", "/api/v1/namespaces", { metadata: { name: "both" } })).status,
    ).toBe(201);
    for (let i = 0; i < 10; i++)
      expect(
        (
          await request(i % 2 ? a : b, "POST", path, {
            metadata: { name: `w${i}` },
            spec: { replicas: 1 },
          })
        ).status,
      ).toBe(201);
    expect((await request(b, "DELETE", "/api/v1/namespaces/both")).status).toBe(200);
    expect(
      (await request(a, "POST", path, { metadata: { name: "late" }, spec: { replicas: 1 } }))
        .status,
    ).toBe(403);
    await eventually(
      async () => {
        expect((await request(a, "GET", "/api/v1/namespaces/both")).status).toBe(404);
        expect((await request(b, "GET", path)).json.items).toEqual([]);
      },
      { timeoutMs: 15_000 },
    );
  });
});
