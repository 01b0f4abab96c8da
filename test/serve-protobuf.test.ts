/**
 * Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl sends for the
 * built-in kinds on `kubectl create <subcommand>`: the real kubectl on PATH creates through
 * `setpoint serve`, and the stored objects are what it meant. Then Go itself as the judge of the
 * decoder: kubectl decodes protobuf answers into its Go types and prints Go's JSON of them, which
 * must be the decoder's JSON of the same bytes. And bad bodies: a clear 400/415, nothing stored.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControlPlane, Namespace } from "../src/index.js";
import {
  ConfigMap,
  Deployment,
  HorizontalPodAutoscaler,
  Job,
  PodDisruptionBudget,
  Role,
  Secret,
  Service,
  ServiceAccount,
} from "../src/kubernetes/catalogue/index.js";
import { decodeKubernetesProtobuf, protobufMagic } from "../src/kubernetes/protobuf/decode.js";
import { encodeKubernetesProtobuf } from "../src/kubernetes/protobuf/encode.js";
import {
  type Message,
  messageNamed,
  objectMessage,
} from "../src/kubernetes/protobuf/message-table.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

const exec = promisify(execFile);

/** Sends `body` as protobuf; the status code and the (JSON) answer. */
function send(
  url: string,
  method: "POST" | "PUT",
  path: string,
  body: Uint8Array,
): Promise<{ status: number; json: { message?: string; reason?: string; code?: number } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        headers: {
          "content-type": "application/vnd.kubernetes.protobuf",
          accept: "application/vnd.kubernetes.protobuf,application/json",
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A protobuf body: the magic, then runtime.Unknown {typeMeta, raw}. */
function body(apiVersion: string, kind: string, raw: Uint8Array): Uint8Array {
  const writer = new BinaryWriter();
  writer.tag(1, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.LengthDelimited).string(apiVersion);
  writer.tag(2, WireType.LengthDelimited).string(kind);
  writer.join();
  writer.tag(2, WireType.LengthDelimited).bytes(raw);
  return Buffer.concat([protobufMagic, writer.finish()]);
}

describe.runIf(hasKubectl)("kubectl create through setpoint serve (protobuf bodies)", () => {
  let env: Served;
  const plane = createControlPlane();
  beforeAll(async () => {
    env = await serveForKubectl(plane);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
    await plane.close();
  });

  it("kubectl create namespace x stores the Namespace", async () => {
    expect(await env.kubectl("create", "namespace", "x")).toContain("namespace/x created");
    const namespace = await plane.resources(Namespace).get("x");
    expect(namespace.metadata.name).toBe("x");
    expect(namespace.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "x" });
  });

  it("kubectl create service clusterip my-svc --tcp=80:8080 stores its port", async () => {
    await env.kubectl("create", "service", "clusterip", "my-svc", "--tcp=80:8080");
    const service = await plane.resources(Service, { namespace: "default" }).get("my-svc");
    expect(service.spec.type).toBe("ClusterIP");
    expect(service.spec.selector).toEqual({ app: "my-svc" });
    expect(service.spec.ports).toMatchObject([
      { name: "80-8080", protocol: "TCP", port: 80, targetPort: 8080 },
    ]);
  });

  it("kubectl create configmap stores its data", async () => {
    await env.kubectl("create", "configmap", "cm1", "--from-literal=a=b", "--from-literal=c=d");
    const configMap = await plane.resources(ConfigMap, { namespace: "default" }).get("cm1");
    expect(configMap.data).toEqual({ a: "b", c: "d" });
  });

  it("kubectl create secret generic stores its data in base64", async () => {
    await env.kubectl("create", "secret", "generic", "s1", "--from-literal=user=admin");
    const secret = await plane.resources(Secret, { namespace: "default" }).get("s1");
    expect(secret.data).toEqual({ user: Buffer.from("admin").toString("base64") });
    expect(secret.type).toBe("Opaque");
  });

  it("kubectl create deployment stores its image and replicas, 0 included", async () => {
    await env.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3");
    await env.kubectl("create", "deployment", "idle", "--image=nginx", "--replicas=0");
    const deployments = plane.resources(Deployment, { namespace: "default" });
    const web = await deployments.get("web");
    expect(web.spec.replicas).toBe(3);
    expect(web.spec.selector.matchLabels).toEqual({ app: "web" });
    // (The server may default more, as kube-apiserver does: imagePullPolicy…)
    expect(web.spec.template.spec?.containers).toMatchObject([
      { name: "nginx", image: "nginx:1.27" },
    ]);
    expect((await deployments.get("idle")).spec.replicas).toBe(0);
  });

  it("kubectl create job stores its command", async () => {
    await env.kubectl("create", "job", "j1", "--image=busybox", "--", "echo", "hi");
    const job = await plane.resources(Job, { namespace: "default" }).get("j1");
    expect(job.spec.template.spec?.containers[0]).toMatchObject({
      name: "j1",
      image: "busybox",
      command: ["echo", "hi"],
    });
    expect(job.spec.template.spec?.restartPolicy).toBe("Never");
  });

  it("kubectl create serviceaccount stores it", async () => {
    await env.kubectl("create", "serviceaccount", "sa1");
    const account = await plane.resources(ServiceAccount, { namespace: "default" }).get("sa1");
    expect(account.metadata.name).toBe("sa1");
  });

  it("kubectl create role stores its rules", async () => {
    await env.kubectl("create", "role", "r1", "--verb=get,list", "--resource=pods,configmaps");
    const role = await plane.resources(Role, { namespace: "default" }).get("r1");
    expect(role.rules).toEqual([
      { verbs: ["get", "list"], apiGroups: [""], resources: ["pods", "configmaps"] },
    ]);
  });

  it("kubectl create pdb --max-unavailable=0 stores the 0 (an IntOrString set to zero)", async () => {
    await env.kubectl("create", "pdb", "p", "--selector=app=web", "--max-unavailable=0");
    const pdb = await plane.resources(PodDisruptionBudget, { namespace: "default" }).get("p");
    expect(pdb.spec).toMatchObject({
      maxUnavailable: 0,
      selector: { matchLabels: { app: "web" } },
    });
  });

  it("kubectl autoscale stores an autoscaling/v1 HorizontalPodAutoscaler", async () => {
    await env.kubectl("create", "deployment", "scaled", "--image=nginx");
    await env.kubectl("autoscale", "deployment", "scaled", "--min=2", "--max=5");
    const hpa = await plane
      .resources(HorizontalPodAutoscaler, { namespace: "default" })
      .get("scaled");
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { kind: "Deployment", name: "scaled", apiVersion: "apps/v1" },
      minReplicas: 2,
      maxReplicas: 5,
    });
  });

  it("kubectl create -o json prints the JSON answer, as from a cluster", async () => {
    const printed = JSON.parse(
      await env.kubectl("create", "configmap", "printed", "--from-literal=k=v", "-o", "json"),
    );
    expect(printed).toMatchObject({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "printed", namespace: "default" },
      data: { k: "v" },
    });
    expect(printed.metadata.resourceVersion).toMatch(/^\d+$/);
  });

  it("replaces an object from a protobuf PUT, as client-go's typed Update sends it", async () => {
    const configMaps = plane.resources(ConfigMap, { namespace: "default" });
    const created = await configMaps.create({
      metadata: { name: "put", namespace: "default" },
      data: { a: "1" },
    });
    const sent = encodeKubernetesProtobuf({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "put",
        namespace: "default",
        resourceVersion: created.metadata.resourceVersion,
      },
      data: { a: "2", b: "3" },
    });
    const answer = await send(
      env.server.url,
      "PUT",
      "/api/v1/namespaces/default/configmaps/put",
      sent,
    );
    expect(answer.status).toBe(200);
    expect((await configMaps.get("put")).data).toEqual({ a: "2", b: "3" });
    // The same bytes again carry a stale resourceVersion: a Conflict, as on a cluster.
    expect(
      (await send(env.server.url, "PUT", "/api/v1/namespaces/default/configmaps/put", sent)).status,
    ).toBe(409);
  });

  it("scales a Deployment from a protobuf Scale, as client-go's UpdateScale sends it", async () => {
    await env.kubectl("create", "deployment", "scalable", "--image=nginx", "--replicas=1");
    const scale = encodeKubernetesProtobuf({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "scalable", namespace: "default" },
      spec: { replicas: 4 },
    });
    const path = "/apis/apps/v1/namespaces/default/deployments/scalable/scale";
    expect((await send(env.server.url, "PUT", path, scale)).status).toBe(200);
    const deployment = await plane.resources(Deployment, { namespace: "default" }).get("scalable");
    expect(deployment.spec.replicas).toBe(4);
  });

  it("refuses bad bodies with a clear 400 or 415 and stores nothing", async () => {
    const namespaces = "/api/v1/namespaces";
    const before = (await plane.resources(Namespace).list()).items.length;
    const good = body(
      "v1",
      "Namespace",
      new BinaryWriter()
        .tag(1, WireType.LengthDelimited)
        .bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).string("bad").finish())
        .finish(),
    );
    const wrongMagic = Buffer.from(good);
    wrongMagic[0] = 0x4b;
    const huge = Buffer.concat([
      good.subarray(0, 4),
      new BinaryWriter()
        .tag(1, WireType.LengthDelimited)
        .bytes(new BinaryWriter().tag(1, 2).string("v1").tag(2, 2).string("Namespace").finish())
        .tag(2, WireType.LengthDelimited)
        .uint32(0xfffffff0)
        .finish(),
    ]);
    const cases: [string, Uint8Array, number, RegExp][] = [
      ["truncated", good.subarray(0, good.length - 3), 400, /malformed|cut short/],
      ["wrong magic", wrongMagic, 400, /magic bytes k8s\\0/],
      ["huge length prefix", huge, 400, /malformed|cut short/],
      ["unknown kind", body("example.dev/v1", "Widget", new Uint8Array()), 415, /send JSON/],
    ];
    for (const [what, sent, status, message] of cases) {
      const answer = await send(env.server.url, "POST", namespaces, sent);
      expect({ what, status: answer.status }).toEqual({ what, status });
      expect(answer.json.code).toBe(status);
      expect(answer.json.message).toMatch(message);
    }
    expect((await plane.resources(Namespace).list()).items.length).toBe(before);
    await expect(plane.resources(Namespace).get("bad")).rejects.toMatchObject({
      reason: "NotFound",
    });
    // The same body, whole, is created: it was the damage that was refused.
    expect((await send(env.server.url, "POST", namespaces, good)).status).toBe(201);
  });
});

describe.runIf(hasKubectl)("kubectl create on every kubectl minor", () => {
  // kubectl 1.32 and later send protobuf for these; 1.29 to 1.31 send JSON.
  it.each(kubectlMinors.map((minor) => [minor]))(
    "kubectl 1.%i creates a namespace, a configmap, a secret, a role and a deployment (protobuf from 1.32, JSON before)",
    async (minor) => {
      const plane = createControlPlane();
      const env = await serveForKubectl(plane, minor);
      try {
        await env.kubectl("create", "namespace", "team");
        await env.kubectl("create", "configmap", "cm", "-n", "team", "--from-literal=a=b");
        await env.kubectl("create", "secret", "generic", "s", "-n", "team", "--from-literal=a=b");
        await env.kubectl("create", "role", "r", "-n", "team", "--verb=get", "--resource=pods");
        const team = { namespace: "team" };
        expect((await plane.resources(ConfigMap, team).get("cm")).data).toEqual({ a: "b" });
        expect((await plane.resources(Secret, team).get("s")).data).toEqual({ a: "Yg==" });
        expect((await plane.resources(Role, team).get("r")).rules?.[0]?.verbs).toEqual(["get"]);
        // Before 1.32 kubectl sends it as JSON, with the template's `creationTimestamp: null`.
        await env.kubectl("create", "deployment", "web", "-n", "team", "--image=nginx:1.27");
        const web = await plane.resources(Deployment, team).get("web");
        expect(web.spec.template.spec?.containers[0]?.image).toBe("nginx:1.27");
      } finally {
        await env.close();
        await plane.close();
      }
    },
    60_000,
  );
});

/**
 * A message with every field set: scalars to zero (`"zero"`) or to a value (`"set"`), each
 * repeated field and map to one element, each message field to such a message.
 */
function everyField(writer: BinaryWriter, message: Message, mode: "zero" | "set"): void {
  const zero = mode === "zero";
  switch (message.special) {
    case "Time":
    case "MicroTime":
      writer.tag(1, WireType.Varint).int64(zero ? 0 : 1_700_000_000);
      if (!zero) writer.tag(2, WireType.Varint).int32(123_456_000);
      return;
    case "Quantity":
      writer.tag(1, WireType.LengthDelimited).string(zero ? "0" : "1Gi");
      return;
    case "IntOrString":
      if (zero) writer.tag(1, WireType.Varint).int64(0).tag(2, WireType.Varint).int32(0);
      else writer.tag(1, WireType.Varint).int64(1).tag(3, WireType.LengthDelimited).string("http");
      return;
    case "RawExtension":
    case "FieldsV1":
      writer.tag(1, WireType.LengthDelimited).bytes(Buffer.from('{"a":1}'));
      return;
  }
  for (const field of message.order) {
    const number = field.label === "map" ? 2 : field.number;
    if (field.label === "map") {
      writer.tag(field.number, WireType.LengthDelimited).fork();
      writer.tag(1, WireType.LengthDelimited).string("k");
    }
    switch (field.type.scalar) {
      case "string":
        writer.tag(number, WireType.LengthDelimited).string(zero ? "" : "s");
        break;
      case "bytes":
        writer.tag(number, WireType.LengthDelimited).bytes(new Uint8Array(zero ? [] : [1]));
        break;
      case "int32":
      case "int64":
        writer.tag(number, WireType.Varint).int32(zero ? 0 : 1);
        break;
      case "bool":
        writer.tag(number, WireType.Varint).bool(!zero);
        break;
      default:
        writer.tag(number, WireType.LengthDelimited).fork();
        everyField(writer, messageNamed(field.type.message)!, mode);
        writer.join();
    }
    if (field.label === "map") writer.join();
  }
}

/** Every path of a JSON value, with its value. */
function paths(value: unknown, at = "", out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) paths(item, `${at}/${key}`, out);
    if (Object.keys(value).length === 0) out.set(at, value);
  } else out.set(at, value);
  return out;
}

describe.runIf(hasKubectl)("the decoder reads protobuf as Go does", () => {
  // kubectl decodes a protobuf answer into its Go types and prints Go's JSON of them: a proxy in
  // front of serve answers kubectl's create with bytes of our making.
  let env: Served;
  let proxy: Server;
  let kubeconfig: string;
  let answer: Uint8Array;
  const plane = createControlPlane();
  beforeAll(async () => {
    env = await serveForKubectl(plane, 33);
    const target = new URL(env.server.url);
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (req.method === "POST") {
          res.writeHead(201, { "content-type": "application/vnd.kubernetes.protobuf" });
          res.end(answer);
          return;
        }
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url },
          (reply) => {
            res.writeHead(reply.statusCode!, reply.headers);
            reply.pipe(res);
          },
        );
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    kubeconfig = `${env.dir}/proxied`;
    const port = (proxy.address() as AddressInfo).port;
    await writeFile(kubeconfig, env.server.kubeconfig().replace(target.host, `127.0.0.1:${port}`));
  }, 60_000);
  afterAll(async () => {
    proxy?.close();
    await env?.close();
    await plane.close();
  });

  /** Go's JSON (kubectl's `-o json`) and ours of `kind` with every field set as `mode` says. */
  async function both(apiVersion: string, kind: string, args: string[], mode: "zero" | "set") {
    const raw = new BinaryWriter();
    everyField(raw, objectMessage(apiVersion, kind)!, mode);
    answer = body(apiVersion, kind, raw.finish());
    const cache = `${kubeconfig}.cache`;
    const { stdout } = await exec(
      "kubectl",
      ["--kubeconfig", kubeconfig, "--cache-dir", cache, "-o", "json", ...args],
      { timeout: 30_000, maxBuffer: 16 << 20 },
    );
    const withoutNulls = (value: unknown) =>
      JSON.parse(JSON.stringify(value, (_k, item) => (item === null ? undefined : item)));
    const ours = decodeKubernetesProtobuf(answer).object as { metadata: object };
    // kubectl hides managedFields when it prints.
    delete (ours.metadata as { managedFields?: unknown }).managedFields;
    return { go: paths(withoutNulls(JSON.parse(stdout))), ours: paths(withoutNulls(ours)) };
  }

  it.each([
    ["apps/v1", "Deployment", ["create", "deployment", "x", "--image=i"]],
    ["batch/v1", "CronJob", ["create", "cronjob", "x", "--image=i", "--schedule=* * * * *"]],
    ["v1", "Service", ["create", "service", "clusterip", "x", "--tcp=1:1"]],
    ["v1", "Secret", ["create", "secret", "generic", "x"]],
    ["v1", "ConfigMap", ["create", "configmap", "x"]],
    [
      "rbac.authorization.k8s.io/v1",
      "Role",
      ["create", "role", "x", "--verb=get", "--resource=pods"],
    ],
    ["networking.k8s.io/v1", "Ingress", ["create", "ingress", "x", "--rule=a.com/=s:1"]],
    [
      "policy/v1",
      "PodDisruptionBudget",
      ["create", "pdb", "x", "--selector=a=b", "--min-available=1"],
    ],
  ] as const)(
    "%s %s: every field, zero or set, is what kubectl 1.33's Go types make of it",
    async (apiVersion, kind, args) => {
      const set = await both(apiVersion, kind, [...args], "set");
      const zero = await both(apiVersion, kind, [...args], "zero");
      for (const { go, ours } of [set, zero]) {
        // Everything Go read is ours, equal.
        for (const [path, value] of go)
          expect({ path, value: ours.get(path) }).toEqual({ path, value });
        // What Go left out is ours only when kubectl 1.33 does not know the field (it is newer):
        // a field Go knows (it printed it when set) and left out when zero must be left out.
        for (const path of ours.keys())
          if (!go.has(path) && set.go.has(path))
            expect({ path, ours: ours.get(path) }).toBe(undefined);
      }
    },
    60_000,
  );
});
