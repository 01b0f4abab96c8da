import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createControlPlane } from "../backend/control-plane.js";
import type { ResourceInputOf, ResourceOf } from "./kind.js";
import { defineKind, jsonSchemaOf, pluralOf } from "./kind.js";

const Widget = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Widget",
  scope: "Namespaced",
  spec: z.object({ replicas: z.number().int().min(0), image: z.string().default("nginx") }),
  status: z.object({ readyReplicas: z.number().int().optional() }),
  shortNames: ["wd"],
  printerColumns: [{ name: "Replicas", type: "integer", jsonPath: ".spec.replicas" }],
});

describe("defineKind", () => {
  it("fills in the plural, singular and apiVersion", () => {
    expect(Widget.plural).toBe("widgets");
    expect(Widget.singular).toBe("widget");
    expect(Widget.apiVersion).toBe("example.setpoint.dev/v1");
    expect(
      defineKind({ group: "", version: "v1", kind: "Thing", scope: "Cluster", spec: z.object({}) })
        .apiVersion,
    ).toBe("v1");
    expect(Object.isFrozen(Widget)).toBe(true);
  });

  it("guesses plurals as Kubernetes does", () => {
    expect(pluralOf("Policy")).toBe("policies");
    expect(pluralOf("Gateway")).toBe("gateways");
    expect(pluralOf("Ingress")).toBe("ingresses");
    expect(pluralOf("Box")).toBe("boxes");
    expect(pluralOf("Match")).toBe("matches");
  });

  it("rejects a malformed identity, naming the field", () => {
    const spec = z.object({});
    expect(() =>
      defineKind({ group: "Example", version: "v1", kind: "W", scope: "Cluster", spec }),
    ).toThrow(/group "Example"/);
    expect(() =>
      defineKind({ group: "a.b", version: "1", kind: "W", scope: "Cluster", spec }),
    ).toThrow(/version "1"/);
    expect(() =>
      defineKind({ group: "a.b", version: "v1", kind: "widget", scope: "Cluster", spec }),
    ).toThrow(/kind "widget"/);
    expect(() =>
      defineKind({ group: "a.b", version: "v1", kind: "W", scope: "Global" as never, spec }),
    ).toThrow(/scope/);
    expect(() =>
      defineKind({ group: "a.b", version: "v1", kind: "W", scope: "Cluster", spec: {} as never }),
    ).toThrow(/Standard Schema/);
    expect(() =>
      defineKind({ group: "a.b", version: "v1", kind: "W", scope: "Cluster", spec, plural: "Ws" }),
    ).toThrow(/plural "Ws"/);
  });
});

describe("jsonSchemaOf", () => {
  it("produces the object schema from a zod kind, with defaults optional", () => {
    const schema = jsonSchemaOf(Widget) as {
      properties: { spec: { required: string[]; properties: object } };
    };
    expect(schema.properties.spec.required).toEqual(["replicas"]);
    expect(schema.properties.spec.properties).toMatchObject({
      replicas: { type: "integer", minimum: 0 },
      image: { type: "string", default: "nginx" },
    });
  });

  it("is undefined for validators without Standard JSON Schema", () => {
    const plain = {
      "~standard": { version: 1, vendor: "hand", validate: (value: unknown) => ({ value }) },
    } as const;
    expect(
      jsonSchemaOf(
        defineKind({ group: "a.b", version: "v1", kind: "W", scope: "Cluster", spec: plain }),
      ),
    ).toBeUndefined();
  });
});

describe("static types", () => {
  it("flow from the kind to objects and reject typos in spec", () => {
    const input: ResourceInputOf<typeof Widget> = {
      metadata: { name: "a" },
      spec: { replicas: 1 },
    };
    // @ts-expect-error `replicsa` is not a field of Widget's spec
    const typo: ResourceInputOf<typeof Widget> = { metadata: { name: "a" }, spec: { replicsa: 1 } };
    const stored = {} as ResourceOf<typeof Widget>;
    const image: string | undefined = stored.spec?.image;
    // @ts-expect-error stored objects are read-only
    const mutate = () => (stored.spec.replicas = 2);
    const widgets = createControlPlane().resources(Widget);
    // @ts-expect-error a typo in spec does not compile at the client either
    const created = () => widgets.create({ metadata: { name: "a" }, spec: { replicsa: 1 } });
    const replicas = async () => (await widgets.get("a")).spec.replicas satisfies number;
    expect([input, typo, image, mutate, created, replicas]).toHaveLength(6);
  });
});

describe("jsonSchemaOf", () => {
  it("names the kind and the field path of what JSON Schema cannot represent", () => {
    const Thing = defineKind({
      group: "example.setpoint.dev",
      version: "v1",
      kind: "Thing",
      scope: "Namespaced",
      spec: z.object({
        name: z.string(),
        schedule: z.array(z.object({ at: z.date().optional() })),
      }),
    });
    expect(() => jsonSchemaOf(Thing)).toThrow(
      /^kind Thing: spec\.schedule\[\]\.at cannot be represented in JSON Schema/,
    );
    const Counter = defineKind({
      group: "example.setpoint.dev",
      version: "v1",
      kind: "Counter",
      scope: "Namespaced",
      spec: z.object({ n: z.number() }),
      status: z.object({ total: z.bigint() }),
    });
    expect(() => jsonSchemaOf(Counter)).toThrow(
      /^kind Counter: status\.total cannot be represented/,
    );
  });
});
