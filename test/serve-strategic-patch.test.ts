/**
 * Strategic merge patch end to end: the real kubectl sends `application/strategic-merge-patch+json`
 * for built-in kinds on client-side `apply`, `patch`, `set image`, `set env` and `edit`, and
 * `setpoint serve` applies it as kube-apiserver does — lists merge by key, and what a second
 * `apply` leaves out is gone. A custom resource's is refused (415), as on a cluster.
 */
import { execFile } from "node:child_process";
import { chmod } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind } from "../src/index.js";
import {
  type KubernetesApiServer,
  serveKubernetesApi,
} from "../src/kubernetes/apiserver/server.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

const exec = promisify(execFile);

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  shortNames: ["wd"],
  spec: z.object({ replicas: z.number().int().min(0) }),
});

const widget = `apiVersion: example.setpoint.dev/v1
kind: Widget
metadata: {name: one, namespace: default}
spec: {replicas: 1}
`;

const service = (ports: string, labels: string) => `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  labels: {${labels}}
spec:
  selector: {app: web}
  ports:
${ports}`;

const port = (name: string, number: number) =>
  `  - {name: ${name}, port: ${number}, targetPort: ${number + 8000}, protocol: TCP}\n`;

interface ServiceObject {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { ports: { name: string; port: number; targetPort: number }[]; selector: object };
}

describe.runIf(hasKubectl)("strategic merge patch through kubectl against setpoint serve", () => {
  let env: Served;
  const get = async (...args: string[]) =>
    JSON.parse(await env.kubectl("get", ...args, "-o", "json"));

  beforeAll(async () => {
    env = await serveForKubectl(createControlPlane({ kinds: [Widget] }));
  });
  afterAll(async () => {
    await env?.close();
  });

  it("removes, on a second kubectl apply, the port and the label the manifest no longer has", async () => {
    const first = await env.file(
      "svc-1.yaml",
      service(
        port("http", 80) + port("https", 443) + port("metrics", 9090),
        "app: web, tier: front",
      ),
    );
    await env.kubectl("apply", "-f", first);
    const second = await env.file(
      "svc-2.yaml",
      service(port("http", 80) + port("metrics", 9091), "app: web"),
    );
    await env.kubectl("apply", "-f", second);
    const svc = (await get("svc", "web", "-n", "default")) as ServiceObject;
    expect(svc.spec.ports.map((p) => [p.name, p.port])).toEqual([
      ["http", 80],
      ["metrics", 9091],
    ]);
    expect(svc.metadata.labels).toEqual({ app: "web" });
    expect(svc.spec.selector).toEqual({ app: "web" });
  });

  it("merges kubectl patch's ports by port (strategic is kubectl's default for built-in kinds)", async () => {
    await env.kubectl(
      "patch",
      "svc",
      "web",
      "-n",
      "default",
      "-p",
      JSON.stringify({ spec: { ports: [{ port: 80, targetPort: 8081 }] } }),
    );
    const svc = (await get("svc", "web", "-n", "default")) as ServiceObject;
    expect(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ["http", 80, 8081],
      ["metrics", 9091, 17091],
    ]);
    await env.kubectl(
      "patch",
      "svc",
      "web",
      "-n",
      "default",
      "-p",
      JSON.stringify({ spec: { ports: [{ port: 9091, $patch: "delete" }] } }),
    );
    const after = (await get("svc", "web", "-n", "default")) as ServiceObject;
    expect(after.spec.ports.map((p) => p.port)).toEqual([80]);
  });

  it("re-applies a namespace without a label: the label is gone", async () => {
    const ns = (labels: string) =>
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b, labels: {${labels}}}\n`;
    await env.kubectl("apply", "-f", await env.file("ns-1.yaml", ns("a: b, x: z")));
    await env.kubectl("apply", "-f", await env.file("ns-2.yaml", ns("a: c")));
    expect((await get("ns", "team-b")).metadata.labels).toEqual({
      a: "c",
      "kubernetes.io/metadata.name": "team-b",
    });
  });

  it("labels and annotates a namespace, and takes a label off", async () => {
    await env.kubectl(
      "apply",
      "-f",
      await env.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n"),
    );
    await env.kubectl("label", "ns", "team-a", "a=b", "c=d");
    await env.kubectl("annotate", "ns", "team-a", "note=hello");
    await env.kubectl("label", "ns", "team-a", "c-");
    const ns = await get("ns", "team-a");
    expect(ns.metadata.labels).toMatchObject({ a: "b" });
    expect(ns.metadata.labels.c).toBeUndefined();
    expect(ns.metadata.annotations).toMatchObject({ note: "hello" });
  });

  it("refuses a strategic merge patch of a custom resource as kube-apiserver does (415)", async () => {
    await env.kubectl("apply", "-f", await env.file("widget.yaml", widget));
    const refused = await env
      .kubectl(
        "patch",
        "wd",
        "one",
        "-n",
        "default",
        "--type",
        "strategic",
        "-p",
        '{"spec":{"replicas":2}}',
      )
      .then(
        () => "",
        (err: { stderr: string }) => err.stderr,
      );
    // kubectl names kube-apiserver's 415 for what it is.
    expect(refused).toContain("application/strategic-merge-patch+json is not supported by");
    expect(refused).toContain(
      "accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    );
    // kubectl's default for a custom resource is a merge patch, which works.
    await env.kubectl(
      "patch",
      "wd",
      "one",
      "-n",
      "default",
      "--type",
      "merge",
      "-p",
      '{"spec":{"replicas":2}}',
    );
    expect((await get("wd", "one", "-n", "default")).spec.replicas).toBe(2);
  });

  it("names strategic merge patch among the media types a PATCH accepts", async () => {
    const res = await fetch(`${env.server.url}/api/v1/namespaces/default/services/web`, {
      method: "PATCH",
      headers: { "content-type": "application/x-unknown-patch" },
      body: "{}",
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { message: string }).message).toContain(
      "application/strategic-merge-patch+json",
    );
  });
});

const deployment = (containers: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
${containers}`;

const app = (env: string) => `      - name: app
        image: app:1
        ports: [{containerPort: 8080}]
        env:
${env}`;
const envVar = (name: string, value: string) => `        - {name: ${name}, value: "${value}"}\n`;
const sidecar = `      - {name: sidecar, image: sidecar:1}\n`;

interface DeploymentObject {
  spec: {
    template: {
      spec: {
        containers: { name: string; image: string; env?: { name: string; value: string }[] }[];
      };
    };
  };
}

describe.runIf(hasKubectl)("a Deployment through kubectl apply, set image and edit", () => {
  let env: Served;
  const containers = async () =>
    (
      JSON.parse(
        await env.kubectl("get", "deploy", "web", "-n", "default", "-o", "json"),
      ) as DeploymentObject
    ).spec.template.spec.containers;

  beforeAll(async () => {
    env = await serveForKubectl(createControlPlane({}));
  });
  afterAll(async () => {
    await env?.close();
  });

  it("removes, on a second kubectl apply, the container and the env var the manifest dropped", async () => {
    await env.kubectl(
      "apply",
      "-f",
      await env.file(
        "deploy-1.yaml",
        deployment(app(envVar("A", "1") + envVar("B", "2")) + sidecar),
      ),
    );
    expect((await containers()).map((c) => c.name)).toEqual(["app", "sidecar"]);
    await env.kubectl(
      "apply",
      "-f",
      await env.file("deploy-2.yaml", deployment(app(envVar("A", "1")))),
    );
    const [only, ...rest] = await containers();
    expect(rest).toEqual([]);
    expect(only!.name).toBe("app");
    expect(only!.env).toEqual([{ name: "A", value: "1" }]);
  });

  it("sets a container's image with kubectl set image", async () => {
    await env.kubectl("set", "image", "deploy/web", "app=app:2", "-n", "default");
    expect((await containers()).map((c) => [c.name, c.image])).toEqual([["app", "app:2"]]);
  });

  it("changes what kubectl edit's editor changed, and keeps the rest", async () => {
    const editor = await env.file(
      "editor.sh",
      `#!/bin/sh\nsed -i 's/image: app:2/image: app:3/' "$1"\n`,
    );
    await chmod(editor, 0o755);
    await exec(
      "kubectl",
      [
        "--kubeconfig",
        env.kubeconfig,
        "--cache-dir",
        `${env.kubeconfig}.cache`,
        "edit",
        "deploy/web",
        "-n",
        "default",
      ],
      { timeout: 30_000, env: { ...process.env, KUBE_EDITOR: editor } },
    );
    const [edited] = await containers();
    expect(edited!.image).toBe("app:3");
    expect(edited!.env).toEqual([{ name: "A", value: "1" }]);
  });
  it("adds and takes out env vars with kubectl set env", async () => {
    await env.kubectl("set", "env", "deploy/web", "C=3", "-n", "default");
    expect((await containers())[0]!.env).toEqual([
      { name: "A", value: "1" },
      { name: "C", value: "3" },
    ]);
    await env.kubectl("set", "env", "deploy/web", "A-", "-n", "default");
    expect((await containers())[0]!.env).toEqual([{ name: "C", value: "3" }]);
  });
  it("scales through a strategic merge patch of the scale subresource", async () => {
    await env.kubectl(
      "patch",
      "deploy",
      "web",
      "-n",
      "default",
      "--subresource=scale",
      "-p",
      '{"spec":{"replicas":3}}',
    );
    const scaled = JSON.parse(
      await env.kubectl("get", "deploy", "web", "-n", "default", "-o", "json"),
    ) as { spec: { replicas: number } };
    expect(scaled.spec.replicas).toBe(3);
  });
});

describe.runIf(hasKubectl)("kubectl apply of a built-in kind twice, on every kubectl minor", () => {
  it.each(kubectlMinors)(
    "kubectl 1.%i takes out the port and the label the manifest dropped",
    async (minor) => {
      const served = await serveForKubectl(createControlPlane({}), minor);
      try {
        await served.kubectl(
          "apply",
          "-f",
          await served.file(
            "svc-1.yaml",
            service(port("http", 80) + port("https", 443), "app: web, tier: front"),
          ),
        );
        await served.kubectl(
          "apply",
          "-f",
          await served.file("svc-2.yaml", service(port("http", 80), "app: web")),
        );
        const svc = JSON.parse(
          await served.kubectl("get", "svc", "web", "-n", "default", "-o", "json"),
        ) as ServiceObject;
        expect(svc.spec.ports.map((p) => p.port)).toEqual([80]);
        expect(svc.metadata.labels).toEqual({ app: "web" });
      } finally {
        await served.close();
      }
    },
  );
});

describe("strategic merge patch over HTTP: depth and strict field validation", () => {
  let server: KubernetesApiServer;
  const deployments = "/apis/apps/v1/namespaces/default/deployments";
  const configMaps = "/api/v1/namespaces/default/configmaps";
  const call = async (method: string, path: string, body?: unknown, type = "application/json") => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { "content-type": type },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const strategic = (path: string, body: unknown) =>
    call("PATCH", path, body, "application/strategic-merge-patch+json");

  beforeAll(async () => {
    server = await serveKubernetesApi(createControlPlane({}), {});
    const created = await call("POST", deployments, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "app", image: "app:1" }] },
        },
      },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("answers a strategic merge patch nested 5,000 deep with 422, as a merge patch, on every path", async () => {
    const deep = `{"spec":${'{"a":'.repeat(5000)}1${"}".repeat(5001)}`;
    for (const path of [
      `${deployments}/web`,
      `${deployments}/web/status`,
      `${deployments}/web/scale`,
      `${deployments}/web?fieldValidation=Strict`,
      `${deployments}/web/status?fieldValidation=Strict`,
    ]) {
      const reply = await strategic(path, deep);
      expect(reply.status, path).toBe(422);
      expect(reply.body.message).toContain(
        "the strategic merge patch nests deeper than 100 levels",
      );
      const merge = await call("PATCH", path, deep, "application/merge-patch+json");
      expect(merge.status, path).toBe(422);
    }
    expect((await call("GET", `${deployments}/web`)).body.spec).not.toHaveProperty("a");
  });

  it("refuses, under Strict, a field of a strategic merge patch named with $ that is no directive", async () => {
    const refused = await strategic(`${deployments}/web?fieldValidation=Strict`, {
      spec: { $bar: "x" },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe('strict decoding error: unknown field "spec.$bar"');
    const status = await strategic(`${deployments}/web/status?fieldValidation=Strict`, {
      status: { $bar: 1 },
    });
    expect(status.status).toBe(400);
    expect(status.body.message).toBe('strict decoding error: unknown field "status.$bar"');
    expect((await call("GET", `${deployments}/web`)).body.spec).not.toHaveProperty("$bar");
    // In the elements of a list too (they merge by key: named by their place in the patch).
    for (const [field, container] of [
      ["$foo", { name: "app", $foo: 1 }],
      ["bogus", { name: "app", bogus: 1, $patch: "merge" }],
    ] as const) {
      const inList = await strategic(`${deployments}/web?fieldValidation=Strict`, {
        spec: { template: { spec: { containers: [container] } } },
      });
      expect(inList.status).toBe(400);
      expect(inList.body.message).toBe(
        `strict decoding error: unknown field "spec.template.spec.containers[0].${field}"`,
      );
    }
    // The directives are no fields: Strict takes them.
    const directives = await strategic(`${deployments}/web?fieldValidation=Strict`, {
      metadata: { finalizers: ["example.com/a"], "$deleteFromPrimitiveList/finalizers": ["x"] },
      spec: {
        strategy: { $retainKeys: ["type"], type: "Recreate" },
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }],
            containers: [
              {
                name: "app",
                image: "app:2",
                "$setElementOrder/env": [{ name: "A" }],
                env: [{ name: "A", value: "1" }],
              },
              { name: "gone", $patch: "delete" },
            ],
          },
        },
      },
    });
    expect(directives.status, JSON.stringify(directives.body)).toBe(200);
    const replaced = await strategic(`${deployments}/web?fieldValidation=Strict`, {
      metadata: { finalizers: null },
      spec: { strategy: { $patch: "replace", type: "RollingUpdate" } },
    });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
  });

  it("refuses, under Strict, a POST or PUT field named with $: a body has no directives", async () => {
    const configMap = (body: object) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings" },
      ...body,
    });
    const refused = await call(
      "POST",
      `${configMaps}?fieldValidation=Strict`,
      configMap({ $foo: 1, data: { a: "1" } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe('strict decoding error: unknown field "$foo"');
    expect((await call("GET", `${configMaps}/settings`)).status).toBe(404);
    // A key of a map is no field: a ConfigMap's data may have one named with $.
    const created = await call(
      "POST",
      `${configMaps}?fieldValidation=Strict`,
      configMap({ data: { $foo: "1" } }),
    );
    expect(created.status).toBe(201);
    const { resourceVersion } = created.body.metadata as { resourceVersion: string };
    const put = await call(
      "PUT",
      `${configMaps}/settings?fieldValidation=Strict`,
      configMap({
        metadata: { name: "settings", resourceVersion },
        data: { $foo: "2" },
        $patch: "delete",
      }),
    );
    expect(put.status).toBe(400);
    expect(put.body.message).toBe('strict decoding error: unknown field "$patch"');
    const current = (await call("GET", `${deployments}/web`)).body;
    const deployment = await call("PUT", `${deployments}/web?fieldValidation=Strict`, {
      ...current,
      spec: { ...(current.spec as object), $retainKeys: ["replicas"] },
    });
    expect(deployment.status).toBe(400);
    expect(deployment.body.message).toBe('strict decoding error: unknown field "spec.$retainKeys"');
  });
});
