/**
 * Kubernetes' built-in kinds (the catalogue of `setpoint/kubernetes`) served by `setpoint serve`
 * and driven by the real kubectl: apply, get with Kubernetes' columns, `get all`, short names,
 * `explain`, `scale`. (Strategic merge patch and protobuf bodies — re-apply and `kubectl create
 * <subcommand>` — are tested where they are built.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createControlPlane } from "../src/index.js";
import { Deployment, Pod } from "../src/kubernetes/catalogue/index.js";
import { hasKubectl, type Served, serveForKubectl } from "./support/kubectl.js";

const manifests = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        resources:
          limits: {cpu: 500m, memory: 128Mi}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
  level: "3"
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`;

const rows = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s{2,}/));

describe.runIf(hasKubectl)("the built-in kinds through kubectl", () => {
  let env: Served;
  const plane = createControlPlane();
  beforeAll(async () => {
    env = await serveForKubectl(plane);
    const file = await env.file("app.yaml", manifests);
    await env.kubectl("apply", "-f", file);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
    await plane.close();
  });

  it("kubectl apply -f creates a Deployment, a ConfigMap and a Service, kept as sent", async () => {
    const deployment = await plane.resources(Deployment, { namespace: "default" }).get("web");
    expect(deployment.spec.template?.spec?.containers[0]?.image).toBe("nginx:1.27");
    expect(deployment.spec.template?.spec?.containers[0]?.resources?.limits).toEqual({
      cpu: "500m",
      memory: "128Mi",
    });
    const configmap = JSON.parse(await env.kubectl("get", "cm", "settings", "-o", "json"));
    expect(configmap.data).toEqual({ mode: "fast", level: "3" });
  });

  it("kubectl get deploy,cm,svc shows Kubernetes' columns", async () => {
    const out = await env.kubectl("get", "deploy,cm,svc");
    const lines = rows(out);
    expect(lines).toContainEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    expect(lines.find((l) => l[0] === "deployment.apps/web")?.slice(1, 4)).toEqual([
      "0/2",
      "0",
      "0",
    ]);
    expect(lines).toContainEqual(["NAME", "DATA", "AGE"]);
    expect(lines.find((l) => l[0] === "configmap/settings")?.[1]).toBe("2");
    expect(lines).toContainEqual(["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    expect(lines.find((l) => l[0] === "service/web")?.slice(1, 5)).toEqual([
      "ClusterIP",
      "<none>",
      "<none>",
      "80/TCP",
    ]);
  });

  it("kubectl get deploy -o wide adds CONTAINERS, IMAGES and SELECTOR after AGE", async () => {
    const [header, row] = rows(await env.kubectl("get", "deploy", "-o", "wide"));
    expect(header).toEqual([
      "NAME",
      "READY",
      "UP-TO-DATE",
      "AVAILABLE",
      "AGE",
      "CONTAINERS",
      "IMAGES",
      "SELECTOR",
    ]);
    expect(row?.slice(5)).toEqual(["web", "nginx:1.27", "app=web"]);
  });

  it("kubectl get all lists the kinds Kubernetes puts in the category, and not ConfigMaps", async () => {
    const out = await env.kubectl("get", "all");
    expect(out).toContain("deployment.apps/web");
    expect(out).toContain("service/web");
    expect(out).not.toContain("configmap/");
  });

  it("short names resolve: deploy, cm, svc, sa, pvc, ds, sts, rs, cj, ing, pdb, hpa, ns, ev, po, ep", async () => {
    for (const short of [
      "deploy",
      "cm",
      "svc",
      "sa",
      "pvc",
      "ds",
      "sts",
      "rs",
      "cj",
      "ing",
      "pdb",
      "hpa",
      "ns",
      "ev",
      "po",
      "ep",
    ])
      await expect(env.kubectl("get", short)).resolves.toBeDefined();
  });

  it("kubectl explain deployment.spec.template.spec.containers shows the Container fields", async () => {
    const out = await env.kubectl("explain", "deployment.spec.template.spec.containers");
    expect(out).toContain("KIND:       Deployment");
    expect(out).toMatch(/FIELD:\s+containers <\[\]Container>/);
    expect(out).toMatch(/image\s+<string> -required-/);
    expect(out).toMatch(/name\s+<string> -required-/);
    expect(out).toMatch(/ports\s+<\[\]ContainerPort>/);
  });

  it("selects pods by status.phase and spec.nodeName, as Kubernetes lets field selectors", async () => {
    const pods = plane.resources(Pod, { namespace: "default" });
    for (const name of ["running", "waiting"])
      await pods.create({
        metadata: { name },
        spec: { containers: [{ name: "c", image: "x:1" }] },
      });
    const running = await pods.get("running");
    await pods.updateStatus({ ...running, status: { phase: "Running" } });
    expect(
      await env.kubectl("get", "pods", "--field-selector", "status.phase=Running", "-o", "name"),
    ).toBe("pod/running\n");
    expect(
      await env.kubectl("get", "pods", "--field-selector", "status.phase!=Running", "-o", "name"),
    ).toBe("pod/waiting\n");
    const scheduled = await env.kubectl(
      "get",
      "pods",
      "--field-selector",
      "spec.nodeName=node-1",
      "-o",
      "name",
    );
    expect(scheduled).toBe("");
  });

  it("kubectl scale deploy/web --replicas=3 writes spec.replicas", async () => {
    await env.kubectl("scale", "deploy/web", "--replicas=3");
    const deployment = await plane.resources(Deployment, { namespace: "default" }).get("web");
    expect(deployment.spec.replicas).toBe(3);
    const [, row] = rows(await env.kubectl("get", "deploy", "web"));
    expect(row?.[1]).toBe("0/3");
  });

  it("kubectl apply of a Deployment with a misspelt field is refused, as fieldValidation=Strict asks", async () => {
    const file = await env.file(
      "typo.yaml",
      manifests
        .split("---")[0]!
        .replace("name: web\n", "name: typo\n")
        .replace("replicas: 2", "replica: 2"),
    );
    const failure = await env.kubectl("apply", "-f", file).catch((error) => error);
    expect(String(failure.stderr)).toContain('unknown field "spec.replica"');
  });

  it("a Deployment whose container has no image is refused, naming the field", async () => {
    const file = await env.file(
      "bad.yaml",
      manifests.split("---")[0]!.replace("name: web\n        image: nginx:1.27", "name: web"),
    );
    const failure = await env.kubectl("apply", "-f", file).catch((error) => error);
    expect(String(failure.stderr)).toContain("spec.template.spec.containers[0].image");
    expect(String(failure.stderr)).toContain("Required value");
  });
});

describe.runIf(hasKubectl)("the built-in kinds through each kubectl minor", () => {
  for (const minor of [29, 30, 31, 33]) {
    it(`kubectl 1.${minor} applies, gets with Kubernetes' columns, explains and scales`, async () => {
      const plane = createControlPlane();
      const env = await serveForKubectl(plane, minor);
      try {
        await env.kubectl("apply", "-f", await env.file("app.yaml", manifests));
        const lines = rows(await env.kubectl("get", "deploy,cm,svc"));
        expect(lines).toContainEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
        expect(lines).toContainEqual(["NAME", "DATA", "AGE"]);
        expect(await env.kubectl("explain", "deploy.spec.template.spec.containers")).toMatch(
          /image\s+<string> -required-/,
        );
        await env.kubectl("scale", "deploy/web", "--replicas=3");
        expect(
          (await plane.resources(Deployment, { namespace: "default" }).get("web")).spec.replicas,
        ).toBe(3);
      } finally {
        await env.close();
        await plane.close();
      }
    }, 60_000);
  }
});
