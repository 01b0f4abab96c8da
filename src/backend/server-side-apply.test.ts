import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ApiError } from "../model/api-error.js";
import type { ManagedFieldsEntry } from "../model/resource.js";
import { builtinFieldSchema, fromJsonSchema } from "./field-schema.js";
import { FieldSet, fromFieldsV1, pathString, toFieldsV1 } from "./field-set.js";
import {
  type ApplyRequest,
  applyConfiguration,
  checkAppliedType,
  type FieldSchema,
  recordUpdate,
  toFieldSet,
} from "./server-side-apply.js";

const deploymentSchema = builtinFieldSchema("apps", "v1", "Deployment")!;
const configMapSchema = builtinFieldSchema("", "v1", "ConfigMap")!;

type Json = Record<string, unknown>;

function deployment(containers: Json[], extra: Json = {}): Json {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default" },
    spec: { ...extra, template: { spec: { containers } } },
  };
}

function apply(
  live: Json | undefined,
  config: Json,
  manager: string,
  options: Partial<ApplyRequest> = {},
) {
  const result = applyConfiguration({
    live,
    config,
    managedFields: (live?.metadata as { managedFields?: ManagedFieldsEntry[] } | undefined)
      ?.managedFields,
    manager,
    apiVersion: "apps/v1",
    force: false,
    scope: "main",
    schema: deploymentSchema,
    time: "2026-01-01T00:00:00Z",
    ...options,
  });
  const metadata = { ...(result.object.metadata as Json) };
  if (result.managedFields === undefined) delete metadata.managedFields;
  else metadata.managedFields = result.managedFields;
  return { ...result.object, metadata } as Json;
}

function managers(object: Json): ManagedFieldsEntry[] {
  return ((object.metadata as Json).managedFields ?? []) as ManagedFieldsEntry[];
}

function spec(object: Json): Json {
  return object.spec as Json;
}

describe("field sets", () => {
  it("encode list items by their keys, set items by value, and nest fields below them", () => {
    const set = toFieldSet(
      {
        metadata: { labels: { app: "web" }, finalizers: ["a/b"] },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            spec: {
              containers: [
                { name: "app", image: "app:1", ports: [{ containerPort: 80 }], args: ["-v"] },
              ],
            },
          },
        },
      },
      deploymentSchema,
    );
    expect(toFieldsV1(set)).toEqual({
      "f:metadata": { "f:finalizers": { 'v:"a/b"': {} }, "f:labels": { "f:app": {} } },
      "f:spec": {
        "f:replicas": {},
        // A label selector is an atomic struct: one field.
        "f:selector": {},
        "f:template": {
          "f:spec": {
            "f:containers": {
              'k:{"name":"app"}': {
                ".": {},
                "f:args": {},
                "f:image": {},
                "f:name": {},
                "f:ports": {
                  'k:{"containerPort":80,"protocol":"TCP"}': { ".": {}, "f:containerPort": {} },
                },
              },
            },
          },
        },
      },
    });
  });

  it("print paths as structured-merge-diff does in conflict messages", () => {
    expect(pathString(["f:spec", "f:replicas"])).toBe(".spec.replicas");
    expect(pathString(["f:spec", "f:containers", 'k:{"name":"app"}', "f:image"])).toBe(
      '.spec.containers[name="app"].image',
    );
    expect(pathString(["f:metadata", "f:finalizers", 'v:"a"'])).toBe('.metadata.finalizers[="a"]');
  });

  it("survive a FieldsV1 round trip", () => {
    const value = fc.letrec((tie) => ({
      tree: fc.dictionary(
        fc.constantFrom("f:a", "f:b", 'k:{"name":"x"}', 'v:"y"', "i:0"),
        fc.oneof({ depthSize: "small" }, fc.constant({}), tie("tree")),
        { maxKeys: 4 },
      ),
    })).tree;
    fc.assert(
      fc.property(value, (fields) => {
        const set = fromFieldsV1(fields);
        expect(fromFieldsV1(toFieldsV1(set))).toEqual(set);
        expect(toFieldsV1(fromFieldsV1(toFieldsV1(set)))).toEqual(toFieldsV1(set));
      }),
    );
  });

  it("read custom resource list types from a JSON Schema", () => {
    const schema: FieldSchema = {
      field: (name) =>
        name === "spec"
          ? {
              schema: fromJsonSchema({
                type: "object",
                properties: {
                  ports: {
                    type: "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port"],
                    items: { type: "object", properties: { port: { type: "integer" } } },
                  },
                  tags: { type: "array", "x-kubernetes-list-type": "set" },
                  args: { type: "array" },
                },
              }),
            }
          : undefined,
    };
    const set = toFieldSet(
      { spec: { ports: [{ port: 1, name: "a" }], tags: ["x"], args: ["y"] } },
      schema,
    );
    expect(toFieldsV1(set)).toEqual({
      "f:spec": {
        "f:args": {},
        "f:ports": { 'k:{"port":1}': { ".": {}, "f:name": {}, "f:port": {} } },
        "f:tags": { 'v:"x"': {} },
      },
    });
  });
});

describe("server-side apply", () => {
  it("creates the object and records the applier's fields as an Apply entry", () => {
    const created = apply(
      undefined,
      deployment([{ name: "app", image: "app:1" }], { replicas: 2 }),
      "kubectl",
    );
    expect(spec(created).replicas).toBe(2);
    expect(managers(created)).toEqual([
      {
        manager: "kubectl",
        operation: "Apply",
        apiVersion: "apps/v1",
        time: "2026-01-01T00:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:spec": {
            "f:replicas": {},
            "f:template": {
              "f:spec": {
                "f:containers": {
                  'k:{"name":"app"}': { ".": {}, "f:image": {}, "f:name": {} },
                },
              },
            },
          },
        },
      },
    ]);
  });

  it("removes a field the same manager applied before and leaves out now", () => {
    const first = apply(
      undefined,
      deployment(
        [
          { name: "app", image: "app:1" },
          { name: "side", image: "side:1" },
        ],
        {
          replicas: 2,
        },
      ),
      "kubectl",
    );
    const second = apply(first, deployment([{ name: "app", image: "app:2" }]), "kubectl");
    expect(spec(second).replicas).toBeUndefined();
    expect(spec(second).template).toEqual({
      spec: { containers: [{ name: "app", image: "app:2" }] },
    });
  });

  it("keeps a field left out that another manager also owns", () => {
    const first = apply(undefined, deployment([], { replicas: 2 }), "a");
    const shared = apply(first, deployment([], { replicas: 2 }), "b");
    const second = apply(shared, deployment([]), "a");
    expect(spec(second).replicas).toBe(2);
    // "a" applies no field now: its entry goes.
    expect(managers(second).map((m) => m.manager)).toEqual(["b"]);
  });

  it("refuses to change a field another manager owns, naming it, unless forced", () => {
    const first = apply(undefined, deployment([], { replicas: 2 }), "a");
    let error: unknown;
    try {
      apply(first, deployment([], { replicas: 3 }), "b");
    } catch (err) {
      error = err;
    }
    expect(ApiError.is(error, "Conflict")).toBe(true);
    expect((error as ApiError).message).toBe(
      'Apply failed with 1 conflict: conflict with "a": .spec.replicas',
    );
    expect((error as ApiError).details?.causes).toEqual([
      { reason: "FieldManagerConflict", message: 'conflict with "a"', field: ".spec.replicas" },
    ]);
    const forced = apply(first, deployment([], { replicas: 3 }), "b", { force: true });
    expect(spec(forced).replicas).toBe(3);
    // "a" lost its only field: its entry goes.
    expect(managers(forced).map((m) => m.manager)).toEqual(["b"]);
  });

  it("names several conflicts by manager, an Update manager with its version and time", () => {
    const first = apply(undefined, deployment([], { replicas: 2, paused: false }), "a");
    const updated = {
      ...first,
      metadata: {
        ...(first.metadata as Json),
        managedFields: recordUpdate({
          before: first,
          after: { ...first, spec: { ...spec(first), minReadySeconds: 5 } },
          managedFields: managers(first),
          manager: "kubectl-edit",
          apiVersion: "apps/v1",
          scope: "main",
          schema: deploymentSchema,
          time: "2026-01-02T00:00:00Z",
        }),
      },
      spec: { ...spec(first), minReadySeconds: 5 },
    };
    expect(() =>
      apply(updated, deployment([], { replicas: 3, paused: true, minReadySeconds: 6 }), "b"),
    ).toThrow(
      'Apply failed with 3 conflicts: conflicts with "a":\n- .spec.paused\n- .spec.replicas\nconflicts with "kubectl-edit" using apps/v1 at 2026-01-02T00:00:00Z:\n- .spec.minReadySeconds',
    );
  });

  it("merges list items by key, keeping the items other managers set", () => {
    const first = apply(undefined, deployment([{ name: "app", image: "app:1" }]), "a");
    const both = apply(first, deployment([{ name: "side", image: "side:1" }]), "b");
    expect(spec(both).template).toEqual({
      spec: {
        containers: [
          { name: "app", image: "app:1" },
          { name: "side", image: "side:1" },
        ],
      },
    });
    const withoutSide = apply(both, deployment([]), "b");
    expect((spec(withoutSide).template as Json).spec).toEqual({
      containers: [{ name: "app", image: "app:1" }],
    });
  });

  it("keeps a list item another manager owns fields of, without the leaving manager's fields", () => {
    const first = apply(
      undefined,
      deployment([{ name: "app", image: "app:1", command: ["run"] }]),
      "a",
    );
    const second = apply(first, deployment([{ name: "app", image: "app:1" }]), "b");
    const third = apply(second, deployment([]), "a");
    expect(((spec(third).template as Json).spec as Json).containers).toEqual([
      { name: "app", image: "app:1" },
    ]);
  });

  it("makes no change to an object and its entries when the same configuration is applied again", () => {
    const config = deployment([{ name: "app", image: "app:1" }], { replicas: 2 });
    const first = apply(undefined, config, "a");
    const again = apply(first, config, "a", { time: "2026-02-01T00:00:00Z" });
    expect(again).toEqual(first);
  });

  it("applying a configuration then a part of it leaves exactly the part (property)", () => {
    const labels = fc.dictionary(fc.constantFrom("a", "b", "c", "d"), fc.constantFrom("1", "2"));
    fc.assert(
      fc.property(labels, labels, (whole, part) => {
        const config = (l: Json) => ({ metadata: { name: "x", labels: l }, data: { k: "v" } });
        const first = applyConfiguration({
          live: undefined,
          config: config(whole),
          managedFields: undefined,
          manager: "m",
          apiVersion: "v1",
          force: false,
          scope: "main",
          schema: configMapSchema,
          time: "t",
        });
        const second = applyConfiguration({
          live: {
            ...first.object,
            metadata: { ...(first.object.metadata as Json), managedFields: first.managedFields },
          },
          config: config(part),
          managedFields: first.managedFields,
          manager: "m",
          apiVersion: "v1",
          force: false,
          scope: "main",
          schema: configMapSchema,
          time: "t",
        });
        expect((second.object.metadata as Json).labels ?? {}).toEqual(part);
      }),
    );
  });

  it("tracks the status subresource apart from the main resource", () => {
    const first = apply(undefined, deployment([], { replicas: 1 }), "a");
    const status = apply(first, { status: { replicas: 1 } }, "ctrl", { scope: "status" });
    expect(status.status).toEqual({ replicas: 1 });
    expect(managers(status).find((m) => m.manager === "ctrl")).toMatchObject({
      subresource: "status",
      fieldsV1: { "f:status": { "f:replicas": {} } },
    });
    // The main resource's apply ignores status and leaves the status manager alone.
    const again = apply(status, deployment([], { replicas: 1, paused: true }), "a");
    expect(again.status).toEqual({ replicas: 1 });
  });
});

describe("server-side apply, by property", () => {
  const manager = fc.constantFrom("a", "b", "c");
  const values = fc.dictionary(fc.constantFrom("k1", "k2", "k3"), fc.constantFrom("x", "y"), {
    maxKeys: 3,
  });
  const step = fc.record({ manager, data: values, labels: values, force: fc.boolean() });

  /** Whether the member path of a ConfigMap's field set is there in the object. */
  function present(object: Json, path: readonly string[]): boolean {
    let value: unknown = object;
    for (const element of path) {
      if (!element.startsWith("f:") || value === null || typeof value !== "object") return false;
      const name = element.slice(2);
      if (!Object.hasOwn(value, name)) return false;
      value = (value as Json)[name];
    }
    return true;
  }

  it("applied values are in the object, and every owned field exists, after any sequence of applies", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
        let live: Json | undefined;
        let managed: readonly ManagedFieldsEntry[] | undefined;
        for (const { manager, data, labels, force } of steps) {
          const config = { metadata: { name: "x", labels }, data };
          let result: ReturnType<typeof applyConfiguration>;
          try {
            result = applyConfiguration({
              live,
              config,
              managedFields: managed,
              manager,
              apiVersion: "v1",
              force,
              scope: "main",
              schema: configMapSchema,
              time: "t",
            });
          } catch (err) {
            // Only a conflict, only without force, and only with another manager's fields.
            expect(ApiError.is(err, "Conflict")).toBe(true);
            expect(force).toBe(false);
            expect(
              (err as ApiError).details?.causes?.every((c) => !c.message.includes(`"${manager}"`)),
            ).toBe(true);
            continue;
          }
          live = result.object;
          managed = result.managedFields;
          for (const [k, v] of Object.entries(data)) expect((live.data as Json)[k]).toBe(v);
          for (const entry of managed ?? [])
            for (const path of fromFieldsV1(entry.fieldsV1).paths())
              expect(present(live, path), `${entry.manager} owns ${path.join("/")}`).toBe(true);
        }
      }),
    );
  });

  it("after any mix of applies and other writes, every owned field exists and the last writer of a value owns it", () => {
    const write = fc.record({
      manager,
      data: values,
      labels: values,
      apply: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(write, { minLength: 1, maxLength: 10 }), (writes) => {
        let live: Json = { metadata: { name: "x" } };
        let managed: readonly ManagedFieldsEntry[] | undefined;
        for (const { manager, data, labels, apply } of writes) {
          const config = { metadata: { name: "x", labels }, data };
          const before = (live.data ?? {}) as Json;
          if (apply) {
            const result = applyConfiguration({
              live,
              config,
              managedFields: managed,
              manager,
              apiVersion: "v1",
              force: true,
              scope: "main",
              schema: configMapSchema,
              time: "t",
            });
            live = result.object;
            managed = result.managedFields;
          } else {
            // An update replaces the object with the config: fields left out are removed.
            managed = recordUpdate({
              before: live,
              after: config,
              managedFields: managed,
              manager,
              apiVersion: "v1",
              scope: "main",
              schema: configMapSchema,
              time: "t",
            });
            live = config;
          }
          for (const entry of managed ?? [])
            for (const path of fromFieldsV1(entry.fieldsV1).paths())
              expect(present(live, path), `${entry.manager} owns ${path.join("/")}`).toBe(true);
          // An apply owns every field it applied; another write, every field it changed.
          const mine = (managed ?? []).find(
            (e) => e.manager === manager && e.operation === (apply ? "Apply" : "Update"),
          );
          const owned = mine === undefined ? undefined : fromFieldsV1(mine.fieldsV1);
          for (const [key, value] of Object.entries(data))
            if (apply || before[key] !== value)
              expect(owned?.has(["f:data", `f:${key}`]), `${manager} owns data.${key}`).toBe(true);
        }
      }),
    );
  });

  it("a manager applying again what it applied before changes nothing and never conflicts", () => {
    fc.assert(
      fc.property(values, values, (data, labels) => {
        const config = { metadata: { name: "x", labels }, data };
        const request = {
          config,
          manager: "a",
          apiVersion: "v1",
          force: false,
          scope: "main" as const,
          schema: configMapSchema,
          time: "t",
        };
        const first = applyConfiguration({ ...request, live: undefined, managedFields: undefined });
        const again = applyConfiguration({
          ...request,
          live: first.object,
          managedFields: first.managedFields,
          time: "later",
        });
        expect(again.object).toEqual(first.object);
        expect(again.managedFields).toBe(first.managedFields);
      }),
    );
  });
});

describe("recording other writes", () => {
  const base = {
    before: undefined,
    managedFields: undefined,
    manager: "kubectl-create",
    apiVersion: "v1",
    scope: "main" as const,
    schema: configMapSchema,
    time: "2026-01-01T00:00:00Z",
  };

  it("records a create as an Update entry owning every field it set, maps with their node", () => {
    const entries = recordUpdate({
      ...base,
      after: { metadata: { name: "x", labels: { a: "1" } }, data: { k: "v" } },
    });
    expect(entries).toEqual([
      {
        manager: "kubectl-create",
        operation: "Update",
        apiVersion: "v1",
        time: "2026-01-01T00:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:data": { ".": {}, "f:k": {} },
          "f:metadata": { "f:labels": { ".": {}, "f:a": {} } },
        },
      },
    ]);
  });

  it("records a changed list item's field below the item's key", () => {
    const before = deployment([
      { name: "app", image: "app:1" },
      { name: "side", image: "s:1" },
    ]);
    const after = deployment([
      { name: "app", image: "app:2" },
      { name: "side", image: "s:1" },
    ]);
    const entries = recordUpdate({
      ...base,
      schema: deploymentSchema,
      apiVersion: "apps/v1",
      manager: "kubectl-set",
      before,
      after,
    });
    expect(entries?.[0]?.fieldsV1).toEqual({
      "f:spec": {
        "f:template": {
          "f:spec": { "f:containers": { 'k:{"name":"app"}': { "f:image": {} } } },
        },
      },
    });
  });

  it("hands back the same entries when nothing changed", () => {
    const object = { metadata: { name: "x" }, data: { k: "v" } };
    const entries = recordUpdate({ ...base, after: object });
    expect(
      recordUpdate({ ...base, before: object, after: { ...object }, managedFields: entries }),
    ).toBe(entries);
  });

  it("takes changed fields from other managers and drops removed ones from every manager", () => {
    const created = { metadata: { name: "x" }, data: { k: "v", j: "w" } };
    const entries = recordUpdate({ ...base, after: created });
    const edited = recordUpdate({
      ...base,
      before: created,
      after: { metadata: { name: "x" }, data: { k: "changed" } },
      managedFields: entries,
      manager: "kubectl-edit",
      time: "2026-01-02T00:00:00Z",
    });
    expect(edited?.map((e) => [e.manager, e.fieldsV1])).toEqual([
      ["kubectl-create", { "f:data": {} }],
      ["kubectl-edit", { "f:data": { "f:k": {} } }],
    ]);
    expect(new FieldSet().empty).toBe(true);
  });

  it("keeps at most 10 Update entries, folding the oldest into ancient-changes", () => {
    let object: Json = { metadata: { name: "x" }, data: {} };
    let entries: readonly ManagedFieldsEntry[] | undefined;
    for (let i = 0; i < 200; i++) {
      const after = { ...object, data: { ...(object.data as Json), [`k${i}`]: "v" } };
      entries = recordUpdate({
        ...base,
        before: object,
        after,
        managedFields: entries,
        manager: `u${i}`,
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString().replace(".000", ""),
      });
      object = after;
      expect(entries!.length).toBeLessThanOrEqual(10);
    }
    expect(entries!.map((e) => e.manager)).toEqual([
      "ancient-changes",
      ...Array.from({ length: 9 }, (_, i) => `u${191 + i}`),
    ]);
    const ancient = entries![0]!;
    // Every older writer's fields, at the time of the newest of them.
    expect(Object.keys(ancient.fieldsV1["f:data"]!)).toHaveLength(191);
    expect(ancient.time).toBe("2026-01-01T00:03:10Z");
    expect(ancient.operation).toBe("Update");
    // Apply entries are not capped.
    const applied = Array.from(
      { length: 12 },
      (_, i): ManagedFieldsEntry => ({
        manager: `a${i}`,
        operation: "Apply",
        apiVersion: "v1",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:data": { [`f:a${i}`]: {} } },
      }),
    );
    const withApplied = recordUpdate({
      ...base,
      before: object,
      after: { ...object, data: { ...(object.data as Json), extra: "v" } },
      managedFields: [...applied, ...entries!],
      manager: "u-last",
      time: "2026-02-01T00:00:00Z",
    });
    expect(withApplied!.filter((e) => e.operation === "Apply")).toHaveLength(12);
    expect(withApplied!.filter((e) => e.operation === "Update")).toHaveLength(10);
  });
});

/** A custom resource's spec with a set list (`tags`), a list-map keyed by `port` and an atomic list. */
const listsSchema: FieldSchema = {
  field: (name) =>
    name === "spec"
      ? {
          schema: fromJsonSchema({
            type: "object",
            properties: {
              tags: { type: "array", "x-kubernetes-list-type": "set" },
              ports: {
                type: "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port"],
                items: { type: "object", properties: { port: { type: "integer" } } },
              },
              args: { type: "array" },
            },
          }),
        }
      : undefined,
};

describe("server-side apply of large lists", () => {
  // Quadratic list merging took minutes at these sizes (4,000 shared items already took 5.8 s);
  // linear merging takes well under a second. The deadline is generous for a busy machine.
  const deadline = 5_000;

  it("two managers applying the same 20,000 env entries stays linear", () => {
    const env = Array.from({ length: 20_000 }, (_, i) => ({ name: `V${i}`, value: `${i}` }));
    const config = deployment([{ name: "app", image: "app:1", env }]);
    const started = performance.now();
    const first = apply(undefined, config, "m1");
    const second = apply(first, config, "m2");
    const again = apply(second, config, "m1", { force: true });
    expect(performance.now() - started).toBeLessThan(deadline);
    const containers = ((spec(again).template as Json).spec as Json).containers as Json[];
    expect((containers[0]!.env as Json[]).length).toBe(20_000);
    expect(managers(again).map((m) => m.manager)).toEqual(["m1", "m2"]);
  }, 60_000);

  it("force-applying a reversed 20,000-item set list and list-map stays linear", () => {
    const schema = listsSchema;
    const n = 20_000;
    const tags = Array.from({ length: n }, (_, i) => `t${i}`);
    const ports = Array.from({ length: n }, (_, i) => ({ port: i, name: `p${i}` }));
    const options = { schema, apiVersion: "example.dev/v1" };
    const started = performance.now();
    const first = apply(undefined, { spec: { tags, ports } }, "m1", options);
    const reversed = {
      spec: {
        tags: [...tags].reverse(),
        ports: [...ports].reverse().map((p) => ({ ...p, name: `q${p.port}` })),
      },
    };
    const second = apply(first, reversed, "m2", { ...options, force: true });
    expect(performance.now() - started).toBeLessThan(deadline);
    expect((spec(second).tags as string[]).length).toBe(n);
    expect((spec(second).ports as Json[])[0]).toEqual({ port: 0, name: "q0" });
  }, 60_000);
});

describe("configurations an apply refuses", () => {
  function refusal(run: () => unknown): string {
    try {
      run();
    } catch (err) {
      expect(ApiError.is(err, "BadRequest")).toBe(true);
      return (err as ApiError).message;
    }
    throw new Error("the apply was accepted");
  }

  it("refuses duplicate keys in containers, ports and env, naming the list and the key", () => {
    expect(
      refusal(() =>
        apply(
          undefined,
          deployment([
            { name: "c", image: "a" },
            { name: "c", image: "b" },
          ]),
          "m",
        ),
      ),
    ).toBe(
      'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="c"]',
    );
    const ports = [{ containerPort: 80 }, { containerPort: 80, protocol: "TCP" }];
    expect(refusal(() => apply(undefined, deployment([{ name: "c", ports }]), "m"))).toContain(
      '.spec.template.spec.containers[name="c"].ports: duplicate entries for key [containerPort=80,protocol="TCP"]',
    );
    const env = [
      { name: "A", value: "1" },
      { name: "B", value: "2" },
      { name: "A", value: "3" },
      { name: "B", value: "4" },
    ];
    const live = apply(undefined, deployment([{ name: "c", image: "a" }]), "m");
    expect(refusal(() => apply(live, deployment([{ name: "c", env }]), "m"))).toContain(
      `errors:\n  .spec.template.spec.containers[name="c"].env: duplicate entries for key [name="A"]\n  .spec.template.spec.containers[name="c"].env: duplicate entries for key [name="B"]`,
    );
    // Different protocols are different keys.
    const udp = [{ containerPort: 53 }, { containerPort: 53, protocol: "UDP" }];
    expect(() => apply(undefined, deployment([{ name: "c", ports: udp }]), "m")).not.toThrow();
  });

  it("refuses duplicate items in a custom resource's list-map and set list", () => {
    const schema = listsSchema;
    const options = { schema, apiVersion: "example.dev/v1", kind: "Widget" };
    const config = (spec: Json) => ({ metadata: { name: "w" }, spec });
    expect(refusal(() => apply(undefined, config({ tags: ["a", "b", "a"] }), "m", options))).toBe(
      'failed to create typed patch object (/w; example.dev/v1, Kind=Widget): .spec.tags: duplicate entries for key [="a"]',
    );
    expect(
      refusal(() =>
        apply(undefined, config({ ports: [{ port: 1 }, { port: 1, name: "x" }] }), "m", options),
      ),
    ).toContain(".spec.ports: duplicate entries for key [port=1]");
    // An atomic list may hold anything twice.
    expect(() => apply(undefined, config({ args: ["a", "a"] }), "m", options)).not.toThrow();
  });

  it("refuses metadata.managedFields in the configuration", () => {
    const config = {
      ...deployment([]),
      metadata: { name: "web", managedFields: [] },
    };
    expect(refusal(() => apply(undefined, config, "m"))).toBe("metadata.managedFields must be nil");
    const nulled = { ...deployment([]), metadata: { name: "web", managedFields: null } };
    expect(() => apply(undefined, nulled, "m")).not.toThrow();
  });

  it("refuses a configuration of another type, and one that names none when it must", () => {
    const check = (config: Json, required: boolean) => () =>
      checkAppliedType(config, "v1", "ConfigMap", required);
    expect(refusal(check({ apiVersion: "apps/v1", kind: "ConfigMap" }, false))).toBe(
      "invalid object type: apps/v1, Kind=ConfigMap",
    );
    expect(refusal(check({ apiVersion: "v1", kind: "Secret" }, false))).toBe(
      "invalid object type: /v1, Kind=Secret",
    );
    expect(refusal(check({}, true))).toBe("invalid object type: /, Kind=");
    expect(refusal(check({ kind: "ConfigMap" }, true))).toBe(
      "invalid object type: /, Kind=ConfigMap",
    );
    expect(check({}, false)).not.toThrow();
    expect(check({ apiVersion: "v1", kind: "ConfigMap" }, true)).not.toThrow();
  });
});
