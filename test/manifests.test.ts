/**
 * `setpoint manifests`: RBAC rules derived from the controllers' declarations cover every
 * request those controllers make (recorded at `setpoint serve`'s store while the StaticSite
 * composite runs through the Kubernetes backend with leader election), and the output applies to
 * `setpoint serve` with kubectl.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Page, Server, StaticSite, staticSites } from "../examples/static-site.js";
import type { Backend, PatchOptions } from "../src/backend/backend.js";
import { createControlPlane } from "../src/backend/control-plane.js";
import { controller } from "../src/controller/controller.js";
import { Manager } from "../src/controller/manager.js";
import { serveKubernetesApi } from "../src/kubernetes/apiserver/server.js";
import { connectKubernetes } from "../src/kubernetes/kubernetes-backend.js";
import {
  operatorManifests,
  type PolicyRule,
  rbacRules,
  rulesAllow,
} from "../src/kubernetes/manifests.js";
import type { AnyKind } from "../src/model/kind.js";
import { silentLogger } from "../src/observability/logging.js";
import { eventually } from "../src/testing/eventually.js";
import { Gear, Widget } from "../src/testing/fixtures.js";

const exec = promisify(execFile);

/** A store that records each call as the RBAC request it is: group, resource, verb. */
function recording(backend: Backend) {
  const requests = new Set<string>();
  const record = (kind: AnyKind, verb: string, subresource?: string) =>
    requests.add(`${kind.group}|${kind.plural}${subresource ? `/${subresource}` : ""}|${verb}`);
  const verbs: Record<string, string> = {
    get: "get",
    list: "list",
    watch: "watch",
    create: "create",
    update: "update",
    patch: "patch",
    delete: "delete",
  };
  const view = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (kind: AnyKind, ...args: unknown[]) => {
        if (property === "updateStatus") record(kind, "update", "status");
        else if (property === "patch")
          record(kind, "patch", (args[2] as PatchOptions | undefined)?.subresource);
        else if (typeof property === "string" && property in verbs) record(kind, verbs[property]!);
        return (value as (...a: unknown[]) => unknown).call(target, kind, ...args);
      };
    },
  });
  return { backend: view, requests };
}

describe("RBAC rules derived from controllers", () => {
  it("grant the own kind read and its status written, owned kinds in full, watched kinds read-only, events and leases", () => {
    const rules = rbacRules([
      controller(Widget, { name: "w", reconcile: () => {} })
        .owns(Gear)
        .watches(StaticSite, () => undefined),
    ]);
    const allow = (group: string, resource: string, verb: string) =>
      rulesAllow(rules, group, resource, verb);
    expect(allow("test.setpoint.dev", "widgets", "watch")).toBe(true);
    expect(allow("test.setpoint.dev", "widgets", "patch")).toBe(false);
    expect(allow("test.setpoint.dev", "widgets", "delete")).toBe(false);
    expect(allow("test.setpoint.dev", "widgets/status", "update")).toBe(true);
    expect(allow("test.setpoint.dev", "gears", "delete")).toBe(true);
    expect(allow("sites.setpoint.dev", "staticsites", "list")).toBe(true);
    expect(allow("sites.setpoint.dev", "staticsites", "update")).toBe(false);
    expect(allow("events.k8s.io", "events", "create")).toBe(true);
    expect(allow("coordination.k8s.io", "leases", "update")).toBe(true);
  });

  it("grant what is read everywhere in a ClusterRole, what a scope names in a Role there, and the Lease in the operator's namespace", () => {
    const scoped = controller(Widget, {
      name: "w",
      scope: { namespace: ["shop", "blog"] },
      reconcile: () => {},
    }).owns(Gear, { scope: { namespace: ["shop", "blog"] } });
    const objects = operatorManifests([scoped], [Widget, Gear], {
      modules: ["m.js"],
      namespace: "ops",
    });
    const roles = objects
      .filter((o) => String(o.kind).endsWith("Role") || String(o.kind).endsWith("RoleBinding"))
      .map((o) => `${o.kind} ${(o.metadata as { namespace?: string }).namespace ?? "-"}`);
    expect(roles).toEqual([
      "Role blog",
      "RoleBinding blog",
      "Role ops",
      "RoleBinding ops",
      "Role shop",
      "RoleBinding shop",
    ]);
    expect(
      objects
        .filter((o) => o.kind === "Namespace")
        .map((o) => (o.metadata as { name: string }).name),
    ).toEqual(["ops", "blog", "shop"]);
    const leaseRole = objects.find(
      (o) => o.kind === "Role" && (o.metadata as { namespace: string }).namespace === "ops",
    ) as { rules: PolicyRule[] };
    expect(leaseRole.rules).toEqual([
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "list", "create", "update", "delete"],
      },
    ]);
    // Unscoped: a ClusterRole, and the Lease's Role beside it.
    const everywhere = operatorManifests(
      [controller(Widget, { name: "w", reconcile: () => {} })],
      [],
      {
        modules: ["m.js"],
        namespace: "ops",
      },
    );
    expect(everywhere.filter((o) => String(o.kind).endsWith("Role")).map((o) => o.kind)).toEqual([
      "ClusterRole",
      "Role",
    ]);
    // The controller's kinds get CRDs though the module does not export them.
    expect(everywhere.filter((o) => o.kind === "CustomResourceDefinition")).toHaveLength(1);
  });

  it("cover every request the StaticSite composite makes through the Kubernetes backend", async () => {
    const served = createControlPlane({ kinds: [StaticSite, Page, Server] });
    const server = await serveKubernetesApi(served);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-rbac-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, server.kubeconfig());
    // Recorded on the client's side: exactly the requests the controllers send the API server.
    const cluster = recording(await connectKubernetes({ kubeconfig }));
    const plane = createControlPlane({ backend: cluster.backend });
    const manager = new Manager({
      plane,
      logger: silentLogger(),
      shutdownTimeoutMs: 5_000,
      leaderElection: {
        name: "setpoint-controllers",
        leaseDurationMs: 2_000,
        renewDeadlineMs: 1_500,
        retryPeriodMs: 200,
      },
    });
    manager.add(staticSites);
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    try {
      await manager.ready();
      const sites = served.resources(StaticSite);
      const page = (path: string) => ({ path, title: path, body: path });
      await sites.create({
        metadata: { name: "home" },
        spec: { pages: [page("a"), page("b")], port: 80 },
      });
      await eventually(async () => expect((await sites.get("home")).status?.pages).toBe(2), {
        timeoutMs: 10_000,
      });
      await sites.patch("home", {
        type: "merge",
        patch: { spec: { pages: [page("a")], port: 81 } },
      });
      await eventually(
        async () => expect((await served.resources(Page).list()).items).toHaveLength(1),
        {
          timeoutMs: 10_000,
        },
      );
      await served
        .resources(Page)
        .delete("home-a")
        .catch(() => {});
      await eventually(
        async () => expect((await served.resources(Page).list()).items).toHaveLength(1),
        {
          timeoutMs: 10_000,
        },
      );
    } finally {
      stop.abort();
      await running;
      await plane.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
    const rules = rbacRules([staticSites]);
    const made = [...cluster.requests];
    expect(made.length).toBeGreaterThan(5);
    const uncovered = made.filter((request) => {
      const [group, resource, verb] = request.split("|") as [string, string, string];
      return !rulesAllow(rules, group, resource, verb);
    });
    expect(uncovered).toEqual([]);
    // The rules are tight: the composite never deletes its own kind, nor writes Leases' status.
    expect(rulesAllow(rules, "sites.setpoint.dev", "staticsites", "delete")).toBe(false);
  });
});

const hasKubectl = spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
if (!hasKubectl && process.env.CI === "true")
  throw new Error("kubectl is missing: CI on these machines must run this test");

describe.runIf(hasKubectl)("setpoint manifests", () => {
  it("prints CRDs, a ServiceAccount, RBAC and a Deployment that kubectl applies to setpoint serve", async () => {
    const output = await exec(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        "src/cli/main.ts",
        "manifests",
        "examples/static-site.ts",
        "--image",
        "registry.example/sites:1.0",
        "--namespace",
        "ops",
      ],
      { timeout: 60_000 },
    );
    const objects = parseAllDocuments(output.stdout).map((d) => d.toJSON());
    expect(objects.map((o) => o.kind)).toEqual([
      "Namespace",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "Deployment",
    ]);
    const deployment = objects.at(-1);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe("registry.example/sites:1.0");
    expect(container.args.slice(0, 4)).toEqual([
      "run",
      "examples/static-site.ts",
      "--in-cluster",
      "--leader-elect",
    ]);
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(30);

    const served = createControlPlane();
    const server = await serveKubernetesApi(served);
    const dir = await mkdtemp(join(tmpdir(), "setpoint-manifests-"));
    try {
      const kubeconfig = join(dir, "kubeconfig");
      await writeFile(kubeconfig, server.kubeconfig());
      const file = join(dir, "operator.yaml");
      await writeFile(file, output.stdout);
      const kubectl = (...args: string[]) =>
        exec("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...args], {
          timeout: 30_000,
        });
      const applied = await kubectl("apply", "-f", file);
      expect(applied.stdout).toContain("deployment.apps/setpoint-controllers created");
      expect(applied.stdout).toContain(
        "clusterrole.rbac.authorization.k8s.io/setpoint-controllers created",
      );
      const got = await kubectl("get", "deploy,sa", "-n", "ops");
      expect(got.stdout).toContain("setpoint-controllers");
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
