/**
 * Kinds through `setpoint serve` as on a cluster, judged by the real kubectl: the kinds a
 * module defines appear as (read-only) CustomResourceDefinitions; `kubectl explain` describes
 * kinds defined at runtime by a CRD; `kubectl get all` lists the kinds in the `all` category;
 * `kubectl scale` works on kinds with a scale subresource, defined in code or by a CRD;
 * `kubectl cluster-info` and `kubectl api-versions` answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane, defineKind } from "../src/index.js";
import { eventually } from "../src/testing/eventually.js";
import { hasKubectl, kubectlMinors, type Served, serveForKubectl } from "./support/kubectl.js";

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  shortNames: ["wd"],
  categories: ["all"],
  spec: z.object({
    replicas: z.number().int().min(0).describe("How many copies run."),
    image: z.string().default("nginx"),
  }),
  status: z.object({
    replicas: z.number().int().optional(),
    selector: z.string().optional(),
  }),
  scale: {
    specReplicasPath: ".spec.replicas",
    statusReplicasPath: ".status.replicas",
    labelSelectorPath: ".status.selector",
  },
});

/** Not in the `all` category, no scale subresource. */
const Note = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Note",
  scope: "Namespaced",
  spec: z.object({ text: z.string() }),
});

/** Text without its ANSI colors. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes begin with ESC
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "");

const widget = (name: string, replicas: number) =>
  `apiVersion: example.setpoint.dev/v1\nkind: Widget\nmetadata: {name: ${name}}\nspec: {replicas: ${replicas}}\n`;

/** A CRD with descriptions, the all category and a scale subresource. */
const gizmoCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.gadgets.example.com}
spec:
  group: gadgets.example.com
  names: {plural: gizmos, singular: gizmo, kind: Gizmo, categories: [all]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size}
    schema:
      openAPIV3Schema:
        type: object
        description: A gizmo of some size.
        properties:
          spec:
            type: object
            description: What the gizmo should be.
            properties:
              size: {type: integer, minimum: 1, description: How many parts the gizmo has.}
              color: {type: string, description: The gizmo's color.}
          status:
            type: object
            properties:
              size: {type: integer}
`;

describe.runIf(hasKubectl)("kinds with kubectl", () => {
  let env: Served;
  let plane: ReturnType<typeof createControlPlane>;
  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Widget, Note] });
    env = await serveForKubectl(plane);
  });
  afterAll(() => env.close());

  it("lists the modules' kinds as CustomResourceDefinitions, established, beside those applied at runtime", async () => {
    await env.kubectl("apply", "-f", await env.file("gizmo-crd.yaml", gizmoCrd));
    const table = await env.kubectl("get", "crd");
    expect(table).toMatch(/^NAME\s+CREATED AT\n/);
    expect(table).toMatch(/gizmos\.gadgets\.example\.com\s+\d{4}-\d\d-\d\dT/);
    expect(table).toMatch(/notes\.example\.setpoint\.dev\s+/);
    expect(table).toMatch(/widgets\.example\.setpoint\.dev\s+/);
    // Not the built-ins: on a cluster those are not CRDs either.
    expect(table).not.toMatch(/namespaces|leases|events/);
    const crd = JSON.parse(
      await env.kubectl("get", "crd", "widgets.example.setpoint.dev", "-o", "json"),
    );
    expect(crd.spec.versions[0].subresources.scale).toEqual({
      specReplicasPath: ".spec.replicas",
      statusReplicasPath: ".status.replicas",
      labelSelectorPath: ".status.selector",
    });
    expect(crd.spec.names.categories).toEqual(["all"]);
    expect(
      await env.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.setpoint.dev",
        "--timeout=10s",
      ),
    ).toContain("condition met");
  });

  it("refuses writes to a module's CRD with 403, saying it is defined in code", async () => {
    for (const args of [
      ["label", "crd", "widgets.example.setpoint.dev", "x=y"],
      ["delete", "crd", "widgets.example.setpoint.dev"],
    ])
      await expect(env.kubectl(...args)).rejects.toMatchObject({
        stderr: expect.stringMatching(
          /Error from server \(Forbidden\): .*"widgets\.example\.setpoint\.dev" is forbidden: the kind is defined by a module/,
        ),
      });
    expect(await env.kubectl("get", "crd", "widgets.example.setpoint.dev", "-o", "name")).toBe(
      "customresourcedefinition.apiextensions.k8s.io/widgets.example.setpoint.dev\n",
    );
  });

  it("explains a kind defined at runtime by a CRD, with its descriptions, and a module's kind without integer noise", async () => {
    await env.kubectl("wait", "--for=condition=Established", "crd/gizmos.gadgets.example.com");
    const explained = await eventually(() => env.kubectl("explain", "gizmos.spec"), {
      timeoutMs: 10_000,
    });
    expect(explained).toMatch(/KIND:\s+Gizmo/);
    expect(explained).toContain("What the gizmo should be.");
    expect(explained).toMatch(/size\s+<integer>\n\s+How many parts the gizmo has\./);
    expect(explained).toMatch(/color\s+<string>\n\s+The gizmo's color\./);
    const widgetSpec = await env.kubectl("explain", "widgets.spec.replicas");
    expect(widgetSpec).toContain("How many copies run.");
    const openapi = await env.kubectl("get", "--raw", "/openapi/v3/apis/example.setpoint.dev/v1");
    expect(openapi).not.toContain("9007199254740991");
  });

  it("lists the kinds of the all category in kubectl get all, and no others", async () => {
    await env.kubectl("apply", "-f", await env.file("w.yaml", widget("listed", 1)));
    await env.kubectl(
      "apply",
      "-f",
      await env.file(
        "n.yaml",
        "apiVersion: example.setpoint.dev/v1\nkind: Note\nmetadata: {name: unlisted}\nspec: {text: hi}\n",
      ),
    );
    await env.kubectl(
      "apply",
      "-f",
      await env.file(
        "g.yaml",
        "apiVersion: gadgets.example.com/v1\nkind: Gizmo\nmetadata: {name: g1}\nspec: {size: 2}\n",
      ),
    );
    const all = await env.kubectl("get", "all", "-o", "name");
    expect(all.split("\n").filter(Boolean).sort()).toEqual([
      "gizmo.gadgets.example.com/g1",
      "widget.example.setpoint.dev/listed",
    ]);
  });

  it("scales a module's kind through /scale: kubectl scale, with and without --current-replicas", async () => {
    await env.kubectl("apply", "-f", await env.file("s.yaml", widget("scaled", 2)));
    expect(await env.kubectl("scale", "wd", "scaled", "--replicas=5")).toContain(
      "widget.example.setpoint.dev/scaled scaled",
    );
    expect((await plane.resources(Widget).get("scaled")).spec.replicas).toBe(5);
    await expect(
      env.kubectl("scale", "wd", "scaled", "--replicas=1", "--current-replicas=4"),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining("Expected replicas to be 4, was 5"),
    });
    await env.kubectl("scale", "wd", "scaled", "--replicas=3", "--current-replicas=5");
    const current = await plane.resources(Widget).get("scaled");
    await plane.resources(Widget).updateStatus({
      ...current,
      status: { replicas: 3, selector: "app=scaled" },
    });
    expect(
      JSON.parse(
        await env.kubectl(
          "get",
          "--raw",
          "/apis/example.setpoint.dev/v1/namespaces/default/widgets/scaled/scale",
        ),
      ),
    ).toMatchObject({
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: "scaled", namespace: "default", uid: current.metadata.uid },
      spec: { replicas: 3 },
      status: { replicas: 3, selector: "app=scaled" },
    });
    await expect(env.kubectl("scale", "wd", "scaled", "--replicas=-1")).rejects.toBeDefined();
    await expect(env.kubectl("scale", "notes", "unlisted", "--replicas=2")).rejects.toMatchObject({
      stderr: expect.stringMatching(/scale|not found/i),
    });
  });

  it("scales a kind defined at runtime by a CRD with subresources.scale", async () => {
    expect(await env.kubectl("scale", "gizmo", "g1", "--replicas=4")).toContain(
      "gizmo.gadgets.example.com/g1 scaled",
    );
    expect(await env.kubectl("get", "gizmo", "g1", "-o", "jsonpath={.spec.size}")).toBe("4");
  });

  it("answers cluster-info and api-versions as a cluster does", async () => {
    expect(plain(await env.kubectl("cluster-info"))).toContain(
      `Kubernetes control plane is running at ${env.server.url}`,
    );
    const versions = (await env.kubectl("api-versions")).trim().split("\n");
    expect(versions).toEqual(
      expect.arrayContaining([
        "v1",
        "apiextensions.k8s.io/v1",
        "coordination.k8s.io/v1",
        "events.k8s.io/v1",
        "example.setpoint.dev/v1",
        "gadgets.example.com/v1",
      ]),
    );
  });
});

describe.runIf(hasKubectl)("kinds with kubectl minors 1.29 to 1.33", () => {
  for (const minor of kubectlMinors) {
    it(`kubectl 1.${minor} gets crds and all, scales, explains and prints cluster-info`, async () => {
      const env = await serveForKubectl(createControlPlane({ kinds: [Widget] }), minor);
      try {
        await env.kubectl("apply", "-f", await env.file("w.yaml", widget("w", 1)));
        expect(await env.kubectl("get", "crd", "-o", "name")).toBe(
          "customresourcedefinition.apiextensions.k8s.io/widgets.example.setpoint.dev\n",
        );
        expect(await env.kubectl("get", "all", "-o", "name")).toBe(
          "widget.example.setpoint.dev/w\n",
        );
        expect(await env.kubectl("scale", "wd", "w", "--replicas=2")).toContain("scaled");
        expect(await env.kubectl("get", "wd", "w", "-o", "jsonpath={.spec.replicas}")).toBe("2");
        expect(await env.kubectl("explain", "widgets.spec")).toContain("How many copies run.");
        // 1.29 to 1.31 color it whether or not they write to a terminal.
        expect(plain(await env.kubectl("cluster-info"))).toContain(
          `Kubernetes control plane is running at ${env.server.url}`,
        );
      } finally {
        await env.close();
      }
    });
  }
});
