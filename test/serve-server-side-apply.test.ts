/**
 * Server-side apply end to end: the real kubectl's `apply --server-side` (an
 * `application/apply-patch+yaml` PATCH with `fieldManager` and `force`) against `setpoint serve`,
 * for built-in kinds (ConfigMap, Deployment) and a custom resource, behaving as kube-apiserver
 * does: a second apply that leaves a field out removes it, two managers setting one field
 * differently is a 409 naming the field and the manager unless `--force-conflicts`, and
 * `kubectl get --show-managed-fields` shows who owns what.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  shortNames: ["wd"],
  spec: z.object({
    replicas: z.number().int().min(0).optional(),
    size: z.string().optional(),
  }),
});

interface ManagedFieldsEntry {
  manager: string;
  operation: string;
  apiVersion: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
  time?: string;
}

interface Shown {
  metadata: { labels?: Record<string, string>; managedFields?: ManagedFieldsEntry[] };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

const configMap = (data: string, labels = "app: web") => `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
  labels: {${labels}}
data: {${data}}
`;

const deployment = (containers: string, labels: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {${labels}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
${containers}`;

const container = (name: string, image: string) => `      - {name: ${name}, image: "${image}"}\n`;

const widget = (spec: string) => `apiVersion: example.setpoint.dev/v1
kind: Widget
metadata: {name: one, namespace: default}
spec: {${spec}}
`;

describe.runIf(hasKubectl)("server-side apply through kubectl against setpoint serve", () => {
  let env: Served;
  const get = async (...args: string[]): Promise<Shown> =>
    JSON.parse(await env.kubectl("get", ...args, "-o", "json", "--show-managed-fields"));
  const failure = (run: Promise<string>) =>
    run.then(
      (out) => {
        throw new Error(`expected kubectl to fail, it printed ${out}`);
      },
      (err: { stderr: string }) => err.stderr,
    );

  beforeAll(async () => {
    env = await serveForKubectl(createControlPlane({ kinds: [Widget] }));
  });
  afterAll(async () => {
    await env?.close();
  });

  it("removes, on a second apply --server-side, the data key and the label the manifest left out", async () => {
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("cm-1.yaml", configMap("a: '1', b: '2'", "app: web, tier: front")),
    );
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("cm-2.yaml", configMap("a: '1'")),
    );
    const cm = await get("cm", "settings", "-n", "default");
    expect(cm.data).toEqual({ a: "1" });
    expect(cm.metadata.labels).toEqual({ app: "web" });
  });

  it("refuses a second manager's different value with kube-apiserver's conflict, and --force-conflicts takes it over", async () => {
    const other = await env.file("cm-other.yaml", configMap("a: 'changed'"));
    const refused = await failure(
      env.kubectl("apply", "--server-side", "--field-manager=other", "-f", other),
    );
    expect(refused).toContain('Apply failed with 1 conflict: conflict with "kubectl": .data.a');
    expect((await get("cm", "settings", "-n", "default")).data).toEqual({ a: "1" });
    await env.kubectl(
      "apply",
      "--server-side",
      "--field-manager=other",
      "--force-conflicts",
      "-f",
      other,
    );
    const cm = await get("cm", "settings", "-n", "default");
    expect(cm.data).toEqual({ a: "changed" });
    // kubectl shows managedFields only when asked (--show-managed-fields).
    const owners = Object.fromEntries(
      (cm.metadata.managedFields ?? []).map((m) => [m.manager, m.fieldsV1]),
    );
    expect(owners.other).toEqual({
      "f:data": { "f:a": {} },
      "f:metadata": { "f:labels": { "f:app": {} } },
    });
    expect(owners.kubectl).toEqual({ "f:metadata": { "f:labels": { "f:app": {} } } });
  });

  it("shows managedFields with kubectl get -o yaml --show-managed-fields", async () => {
    const yaml = await env.kubectl(
      "get",
      "cm",
      "settings",
      "-n",
      "default",
      "-o",
      "yaml",
      "--show-managed-fields",
    );
    expect(yaml).toContain("managedFields:");
    expect(yaml).toContain("manager: other");
    expect(yaml).toContain("operation: Apply");
    expect(yaml).toContain("fieldsType: FieldsV1");
    expect(yaml).toContain("f:data:");
    const plain = await env.kubectl("get", "cm", "settings", "-n", "default", "-o", "yaml");
    expect(plain).not.toContain("managedFields:");
  });

  it("conflicts with the fields a client-side write recorded (kubectl create, then apply --server-side)", async () => {
    await env.kubectl("create", "configmap", "made", "-n", "default", "--from-literal=k=v1");
    const made = await get("cm", "made", "-n", "default");
    expect(made.metadata.managedFields?.map((m) => [m.manager, m.operation])).toEqual([
      ["kubectl-create", "Update"],
    ]);
    const refused = await failure(
      env.kubectl(
        "apply",
        "--server-side",
        "-f",
        await env.file(
          "made.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: made, namespace: default}\ndata: {k: v2}\n",
        ),
      ),
    );
    expect(refused).toMatch(
      /Apply failed with 1 conflict: conflict with "kubectl-create" using v1 at \S+: \.data\.k/,
    );
  });

  it("takes over a client-side apply's fields when kubectl moves to --server-side (kubectl's managedFields upgrade)", async () => {
    const manifest = (data: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: moved, namespace: default}\ndata: {${data}}\n`;
    await env.kubectl("apply", "-f", await env.file("moved-1.yaml", manifest("a: '1', b: '2'")));
    expect(
      (await get("cm", "moved", "-n", "default")).metadata.managedFields?.map((m) => m.manager),
    ).toEqual(["kubectl-client-side-apply"]);
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("moved-2.yaml", manifest("a: '1'")),
    );
    const moved = await get("cm", "moved", "-n", "default");
    expect(moved.data).toEqual({ a: "1" });
    // As on a cluster: kubectl rewrote the client-side manager's entry into its own Apply
    // entries (the last-applied annotation under "kubectl-last-applied") before applying.
    expect(moved.metadata.managedFields?.map((m) => [m.manager, m.operation])).toEqual([
      ["kubectl", "Apply"],
      ["kubectl-last-applied", "Apply"],
    ]);
  });

  it("merges a Deployment's containers by name and removes the one a second apply leaves out", async () => {
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file(
        "deploy-1.yaml",
        deployment(
          container("app", "app:1") + container("sidecar", "sidecar:1"),
          "app: web, tier: front",
        ),
      ),
    );
    // Another manager sets the image of "app": its field, merged by the container's name.
    await env.kubectl(
      "apply",
      "--server-side",
      "--field-manager=imager",
      "-f",
      await env.file(
        "deploy-image.yaml",
        `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    spec:
      containers:
      - {name: app, image: "app:1"}
`,
      ),
    );
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("deploy-2.yaml", deployment(container("app", "app:1"), "app: web")),
    );
    const shown = await get("deploy", "web", "-n", "default");
    const template = shown.spec?.template as {
      spec: { containers: { name: string; image: string }[] };
    };
    const containers = template.spec.containers.map((c) => [c.name, c.image]);
    expect(containers).toEqual([["app", "app:1"]]);
    expect(shown.metadata.labels).toEqual({ app: "web" });
    const imager = shown.metadata.managedFields?.find((m) => m.manager === "imager");
    expect(imager?.fieldsV1).toEqual({
      "f:spec": {
        "f:template": {
          "f:spec": {
            "f:containers": { 'k:{"name":"app"}': { ".": {}, "f:image": {}, "f:name": {} } },
          },
        },
      },
    });
  });

  it("applies a custom resource server-side: a field left out goes, another manager's conflicts", async () => {
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("wd-1.yaml", widget("replicas: 2, size: large")),
    );
    await env.kubectl(
      "apply",
      "--server-side",
      "-f",
      await env.file("wd-2.yaml", widget("replicas: 2")),
    );
    expect((await get("wd", "one", "-n", "default")).spec).toEqual({ replicas: 2 });
    const refused = await failure(
      env.kubectl(
        "apply",
        "--server-side",
        "--field-manager=scaler",
        "-f",
        await env.file("wd-3.yaml", widget("replicas: 5")),
      ),
    );
    expect(refused).toContain(
      'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas',
    );
    await env.kubectl(
      "apply",
      "--server-side",
      "--field-manager=scaler",
      "--force-conflicts",
      "-f",
      await env.file("wd-3.yaml", widget("replicas: 5")),
    );
    const shown = await get("wd", "one", "-n", "default");
    expect(shown.spec).toEqual({ replicas: 5 });
    expect(shown.metadata.managedFields?.map((m) => m.manager)).toEqual(["scaler"]);
  });

  it("merges a CRD's list by its x-kubernetes-list-map-keys: each manager's items stay theirs", async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: routers.net.example.com}
spec:
  group: net.example.com
  scope: Namespaced
  names: {plural: routers, singular: router, kind: Router}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              routes:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [path]
                items:
                  type: object
                  required: [path]
                  properties:
                    path: {type: string}
                    backend: {type: string}
              tags:
                type: array
                items: {type: string}
`;
    await env.kubectl("apply", "-f", await env.file("router-crd.yaml", crd));
    await env.kubectl(
      "wait",
      "--for=condition=Established",
      "crd/routers.net.example.com",
      "--timeout=20s",
    );
    const router = (routes: string, tags = "") => `apiVersion: net.example.com/v1
kind: Router
metadata: {name: edge, namespace: default}
spec:
  routes: [${routes}]${tags ? `\n  tags: [${tags}]` : ""}
`;
    const apply = async (file: string, text: string, manager: string) =>
      env.kubectl(
        "apply",
        "--server-side",
        `--field-manager=${manager}`,
        "-f",
        await env.file(file, text),
      );
    await apply("r-a.yaml", router("{path: /a, backend: one}", "blue"), "team-a");
    await apply("r-b.yaml", router("{path: /b, backend: two}"), "team-b");
    const routes = async () =>
      (await get("router", "edge", "-n", "default")).spec as {
        routes: { path: string; backend: string }[];
        tags?: string[];
      };
    expect((await routes()).routes).toEqual([
      { path: "/a", backend: "one" },
      { path: "/b", backend: "two" },
    ]);
    // team-a drops its route: only team-b's stays. A list without list type is atomic: one field.
    await apply("r-a2.yaml", router("", "green"), "team-a");
    expect(await routes()).toEqual({ routes: [{ path: "/b", backend: "two" }], tags: ["green"] });
    const owners = Object.fromEntries(
      ((await get("router", "edge", "-n", "default")).metadata.managedFields ?? []).map((m) => [
        m.manager,
        m.fieldsV1,
      ]),
    );
    expect(owners["team-a"]).toEqual({ "f:spec": { "f:tags": {} } });
    expect(owners["team-b"]).toEqual({
      "f:spec": {
        "f:routes": { 'k:{"path":"/b"}': { ".": {}, "f:backend": {}, "f:path": {} } },
      },
    });
  });

  it("refuses an apply without a field manager, as kube-apiserver does (422)", async () => {
    const res = await fetch(`${env.server.url}/api/v1/namespaces/default/configmaps/settings`, {
      method: "PATCH",
      headers: { "content-type": "application/apply-patch+yaml" },
      body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" } }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string }).message).toContain(
      "fieldManager: Required value: is required for apply patch",
    );
  });
});

describe.runIf(hasKubectl)("apply --server-side across kubectl minors", () => {
  for (const minor of kubectlMinors) {
    it(`kubectl 1.${minor}: removes what a second apply leaves out, refuses another manager's change, and forces it`, async () => {
      const env = await serveForKubectl(createControlPlane({}), minor);
      try {
        const apply = async (name: string, data: string, ...flags: string[]) =>
          env.kubectl(
            "apply",
            "--server-side",
            ...flags,
            "-f",
            await env.file(name, configMap(data)),
          );
        await apply("one.yaml", "a: '1', b: '2'");
        await apply("two.yaml", "a: '1'");
        const data = async () =>
          JSON.parse(await env.kubectl("get", "cm", "settings", "-n", "default", "-o", "json"))
            .data;
        expect(await data()).toEqual({ a: "1" });
        const refused = await apply("three.yaml", "a: '3'", "--field-manager=other").then(
          () => "",
          (err: { stderr: string }) => err.stderr,
        );
        expect(refused).toContain('Apply failed with 1 conflict: conflict with "kubectl": .data.a');
        await apply("three.yaml", "a: '3'", "--field-manager=other", "--force-conflicts");
        expect(await data()).toEqual({ a: "3" });
      } finally {
        await env.close();
      }
    });
  }
});

describe("served apply refuses what kube-apiserver refuses", () => {
  let server: KubernetesApiServer;
  beforeAll(async () => {
    server = await serveKubernetesApi(createControlPlane({ kinds: [Widget] }));
  });
  afterAll(async () => {
    await server?.close();
  });

  const deployments = "/apis/apps/v1/namespaces/default/deployments";
  const configMaps = "/api/v1/namespaces/default/configmaps";
  const send = async (
    method: string,
    path: string,
    body: unknown,
    contentType = "application/apply-patch+yaml",
  ) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { "content-type": contentType },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const applyTo = (path: string, body: unknown, manager = "m", force = false) =>
    send("PATCH", `${path}?fieldManager=${manager}${force ? "&force=true" : ""}`, body);
  const web = (containers: unknown[]) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default" },
    spec: {
      selector: { matchLabels: { app: "web" } },
      template: { metadata: { labels: { app: "web" } }, spec: { containers } },
    },
  });

  it("refuses duplicate keys in an associative list (400), writing nothing", async () => {
    const twice = web([
      { name: "c", image: "a" },
      { name: "c", image: "b" },
    ]);
    const refused = await applyTo(`${deployments}/web`, twice);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain(
      '.spec.template.spec.containers: duplicate entries for key [name="c"]',
    );
    expect((await send("GET", `${deployments}/web`, undefined, "application/json")).status).toBe(
      404,
    );
    const created = await applyTo(`${deployments}/web`, web([{ name: "c", image: "a" }]));
    expect(created.status).toBe(201);
    const env = [
      { name: "A", value: "1" },
      { name: "A", value: "2" },
    ];
    const again = await applyTo(`${deployments}/web`, web([{ name: "c", image: "a", env }]));
    expect(again.status).toBe(400);
    expect(again.body.message).toContain(
      '.spec.template.spec.containers[name="c"].env: duplicate entries for key [name="A"]',
    );
    const now = await send("GET", `${deployments}/web`, undefined, "application/json");
    expect((now.body.metadata as { resourceVersion: string }).resourceVersion).toBe(
      (created.body.metadata as { resourceVersion: string }).resourceVersion,
    );
  });

  it("refuses a configuration of another type, or naming none (400 invalid object type)", async () => {
    const cm = { metadata: { name: "typed" }, data: { a: "1" } };
    const wrong = await applyTo(`${configMaps}/typed`, {
      apiVersion: "apps/v1",
      kind: "ConfigMap",
      ...cm,
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toBe("invalid object type: apps/v1, Kind=ConfigMap");
    const kind = await applyTo(`${configMaps}/typed`, { apiVersion: "v1", kind: "Secret", ...cm });
    expect(kind.body.message).toBe("invalid object type: /v1, Kind=Secret");
    const none = await applyTo(`${configMaps}/typed`, cm);
    expect(none.status).toBe(400);
    expect(none.body.message).toBe("invalid object type: /, Kind=");
    expect((await send("GET", `${configMaps}/typed`, undefined, "application/json")).status).toBe(
      404,
    );
    const right = await applyTo(`${configMaps}/typed`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      ...cm,
    });
    expect(right.status).toBe(201);
  });

  it("refuses metadata.managedFields in an applied configuration (400)", async () => {
    const refused = await applyTo(`${configMaps}/managed`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "managed",
        managedFields: [
          {
            manager: "x",
            operation: "Apply",
            apiVersion: "v1",
            fieldsType: "FieldsV1",
            fieldsV1: {},
          },
        ],
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe("metadata.managedFields must be nil");
  });

  it("keeps at most 10 Update managers, folding the oldest into ancient-changes", async () => {
    const path = `${configMaps}/crowded`;
    expect(
      (await send("POST", configMaps, { metadata: { name: "crowded" } }, "application/json"))
        .status,
    ).toBe(201);
    let last: Record<string, unknown> = {};
    for (let i = 0; i < 30; i++) {
      const patched = await send(
        "PATCH",
        `${path}?fieldManager=u${i}`,
        { data: { [`k${i}`]: "v" } },
        "application/merge-patch+json",
      );
      expect(patched.status).toBe(200);
      last = patched.body;
    }
    const entries = (last.metadata as { managedFields: ManagedFieldsEntry[] }).managedFields;
    expect(entries.length).toBeLessThanOrEqual(10);
    const ancient = entries.find((e) => e.manager === "ancient-changes");
    expect(ancient?.operation).toBe("Update");
    // Every key is still someone's.
    const owned = entries.flatMap((e) => Object.keys((e.fieldsV1["f:data"] ?? {}) as object));
    expect(new Set(owned.filter((key) => key.startsWith("f:k"))).size).toBe(30);
  });

  it("applies 10,000 env entries two managers share in well under the event loop's patience", async () => {
    const env = Array.from({ length: 10_000 }, (_, i) => ({ name: `V${i}`, value: `${i}` }));
    const big = { ...web([{ name: "c", image: "a", env }]), metadata: { name: "big" } };
    const started = performance.now();
    expect((await applyTo(`${deployments}/big`, big, "m1")).status).toBe(201);
    expect((await applyTo(`${deployments}/big`, big, "m2")).status).toBe(200);
    // Generous for a busy machine; quadratic merging took about a minute here.
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
