import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ApiError } from "../model/api-error.js";
import { maxNestingDepth } from "../model/validation.js";
import {
  applyStrategicMergePatch,
  type PatchFieldMeta,
  type PatchSchema,
  strategicPatchFields,
} from "./strategic-merge-patch.js";
import { builtinPatchSchema, builtinPatchSchemaOf } from "./strategic-patch-schema.js";

/** apimachinery's test type `MergeItem` (strategicpatch/patch_test.go), as a schema. */
const mergeItem: PatchSchema = {
  field: (name) => mergeItemFields[name],
};
const retainKeysMergeItem: PatchSchema = {
  field: (name) =>
    ({
      mergingIntList: { patchStrategy: "merge" },
      mergingList: { patchStrategy: "merge", patchMergeKey: "name", schema: mergeItem },
      nonMergingList: { schema: mergeItem },
    })[name],
};
const mergeItemFields: Record<string, PatchFieldMeta> = {
  mergingList: { patchStrategy: "merge", patchMergeKey: "name", schema: mergeItem },
  nonMergingList: { schema: mergeItem },
  mergingIntList: { patchStrategy: "merge" },
  nonMergingIntList: {},
  mergeItemPtr: { patchStrategy: "merge", patchMergeKey: "name", schema: mergeItem },
  replacingItem: { patchStrategy: "replace" },
  retainKeysMap: { patchStrategy: "retainKeys", schema: retainKeysMergeItem },
  retainKeysMergingList: {
    patchStrategy: "merge,retainKeys",
    patchMergeKey: "name",
    schema: mergeItem,
  },
};

const apply = (original: object, patch: object) =>
  applyStrategicMergePatch(
    original as Record<string, unknown>,
    patch as Record<string, unknown>,
    mergeItem,
  );

describe("applyStrategicMergePatch (apimachinery's test cases)", () => {
  it("merges objects and removes members set to null", () => {
    expect(apply({ name: 1, other: "a" }, { value: 1 })).toEqual({ name: 1, value: 1, other: "a" });
    expect(apply({ name: 1, value: 1, other: "a" }, { name: null, value: null })).toEqual({
      other: "a",
    });
    expect(
      apply({ simpleMap: { key1: 1, key2: 1, other: "a" } }, { simpleMap: { key2: null } }),
    ).toEqual({ simpleMap: { key1: 1, other: "a" } });
  });

  it("leaves nulls out of a value the original did not have", () => {
    expect(apply({ name: "a" }, { name: 1, value: 1, other: null })).toEqual({
      name: 1,
      value: 1,
    });
    expect(apply({}, { simpleMap: { a: 1, b: null } })).toEqual({ simpleMap: { a: 1 } });
  });

  it("keeps unique scalars when merging lists of scalars", () => {
    expect(apply({ mergingIntList: [1, 2] }, { mergingIntList: [2, 3] })).toEqual({
      mergingIntList: [1, 2, 3],
    });
  });

  it("replaces lists without a merge strategy", () => {
    expect(apply({ nonMergingIntList: [1, 2] }, { nonMergingIntList: [2, 3] })).toEqual({
      nonMergingIntList: [2, 3],
    });
    expect(
      apply({ nonMergingList: [{ name: 1 }, { name: 2 }] }, { nonMergingList: [{ name: 3 }] }),
    ).toEqual({ nonMergingList: [{ name: 3 }] });
  });

  it("deletes a map with the $patch delete directive", () => {
    expect(apply({ simpleMap: { key1: 1, key2: 1 } }, { simpleMap: { $patch: "delete" } })).toEqual(
      { simpleMap: {} },
    );
  });

  it("replaces a map with the $patch replace directive", () => {
    expect(apply({ name: 1, value: 1 }, { $patch: "replace" })).toEqual({});
    expect(apply({ name: 1, value: 1 }, { other: "a", $patch: "replace" })).toEqual({
      other: "a",
    });
  });

  it("replaces a merging list when an element says $patch replace", () => {
    expect(
      apply({ mergingList: [{ name: 1 }, { name: 2 }] }, { mergingList: [{ $patch: "replace" }] }),
    ).toEqual({ mergingList: [] });
    expect(
      apply(
        { mergingList: [{ name: 1, value: "a" }, { name: 2 }] },
        { mergingList: [{ name: 3 }, { $patch: "replace" }] },
      ),
    ).toEqual({ mergingList: [{ name: 3 }] });
  });

  it("deletes list elements by merge key, every duplicate of them", () => {
    const original = {
      mergingList: [{ name: 1 }, { name: 1 }, { name: 2, value: "a" }, { name: 3 }, { name: 3 }],
    };
    expect(
      apply(original, {
        mergingList: [
          { name: 1, $patch: "delete" },
          { name: 3, $patch: "delete" },
        ],
      }),
    ).toEqual({ mergingList: [{ name: 2, value: "a" }] });
    expect(
      apply(
        { mergingList: [{ name: 1, other: "a" }, { name: 2 }] },
        {
          mergingList: [
            { name: 1, $patch: "delete" },
            { name: 2, $patch: "delete" },
          ],
        },
      ),
    ).toEqual({ mergingList: [] });
  });

  it("merges list elements by merge key, in the patch's order", () => {
    expect(
      apply(
        { mergingList: [{ name: 1 }, { name: 2, value: "b" }, { name: 3 }] },
        {
          mergingList: [
            { name: 3, value: "c" },
            { name: 1, value: "a" },
            { name: 2, other: "x" },
          ],
        },
      ),
    ).toEqual({
      mergingList: [
        { name: 3, value: "c" },
        { name: 1, value: "a" },
        { name: 2, value: "b", other: "x" },
      ],
    });
    expect(
      apply(
        { mergingList: [{ name: 1 }, { name: 2, value: "b" }, { name: 3 }] },
        {
          mergingList: [
            { name: 3, value: "c" },
            { name: 1, value: "a" },
          ],
        },
      ),
    ).toEqual({
      mergingList: [
        { name: 2, value: "b" },
        { name: 3, value: "c" },
        { name: 1, value: "a" },
      ],
    });
  });

  it("puts an element the patch adds without an order first, as Kubernetes does", () => {
    expect(
      apply({ mergingList: [{ name: 1 }, { name: 2 }] }, { mergingList: [{ name: 3 }] }),
    ).toEqual({ mergingList: [{ name: 3 }, { name: 1 }, { name: 2 }] });
  });

  it("orders a merged list by $setElementOrder", () => {
    expect(
      apply(
        {
          mergingList: [
            { name: 1, other: "a" },
            { name: 2, value: 2, other: "b" },
          ],
        },
        {
          "$setElementOrder/mergingList": [{ name: 4 }, { name: 1 }, { name: 2 }, { name: 3 }],
          mergingList: [
            { name: 4, value: 4 },
            { name: 3, value: 3 },
          ],
        },
      ),
    ).toEqual({
      mergingList: [
        { name: 4, value: 4 },
        { name: 1, other: "a" },
        { name: 2, value: 2, other: "b" },
        { name: 3, value: 3 },
      ],
    });
    expect(
      apply(
        { mergingList: [{ name: 1 }, { name: 3 }] },
        {
          "$setElementOrder/mergingList": [{ name: 3 }, { name: 2 }, { name: 1 }],
          mergingList: [
            { name: 3, value: 3 },
            { name: 1, value: 1 },
          ],
        },
      ),
    ).toEqual({
      mergingList: [
        { name: 3, value: 3 },
        { name: 1, value: 1 },
      ],
    });
    expect(
      apply({ mergingIntList: [1, 3] }, { "$setElementOrder/mergingIntList": [3, 2, 1] }),
    ).toEqual({ mergingIntList: [3, 1] });
  });

  it("refuses a patch list out of the $setElementOrder order", () => {
    const patch = {
      "$setElementOrder/mergingList": [{ name: 1 }, { name: 2 }, { name: 3 }],
      mergingList: [
        { name: 3, value: 3 },
        { name: 1, value: 1 },
      ],
    };
    expect(() => apply({ mergingList: [{ name: 1 }, { name: 3 }, { name: 2 }] }, patch)).toThrow(
      /doesn't match/,
    );
  });

  it("deletes from a primitive list with $deleteFromPrimitiveList", () => {
    expect(
      apply(
        { mergingIntList: [1, 2, 3, 3, 4] },
        {
          "$setElementOrder/mergingIntList": [1, 2],
          "$deleteFromPrimitiveList/mergingIntList": [3],
        },
      ),
    ).toEqual({ mergingIntList: [1, 2, 4] });
    expect(
      apply(
        { mergingIntList: [1, 2, 3, 4] },
        {
          "$setElementOrder/mergingIntList": [1, 2, 4],
          "$deleteFromPrimitiveList/mergingIntList": [3],
          mergingIntList: [4],
        },
      ),
    ).toEqual({ mergingIntList: [1, 2, 4] });
    expect(apply({}, { "$deleteFromPrimitiveList/mergingIntList": [3] })).toEqual({});
  });

  it("clears the keys $retainKeys does not list, and merges the rest", () => {
    expect(
      apply(
        { retainKeysMap: { name: "foo", value: "a", other: "b" } },
        { retainKeysMap: { $retainKeys: ["name", "other"], other: "c" } },
      ),
    ).toEqual({ retainKeysMap: { name: "foo", other: "c" } });
    expect(
      apply(
        { retainKeysMergingList: [{ name: "bar" }, { name: "foo", value: "a" }] },
        { retainKeysMergingList: [{ name: "foo", value: null }] },
      ),
    ).toEqual({ retainKeysMergingList: [{ name: "bar" }, { name: "foo" }] });
  });

  it("refuses a $retainKeys list that leaves out a key the patch sets", () => {
    expect(() =>
      apply(
        { retainKeysMap: { name: "foo" } },
        { retainKeysMap: { $retainKeys: ["name"], value: "x" } },
      ),
    ).toThrow("invalid patch format of retainKeys");
  });

  it("merges lists nested in merged lists by their own keys", () => {
    expect(
      apply(
        { mergingList: [{ name: 1, mergingList: [{ name: "a", value: 1 }, { name: "b" }] }] },
        { mergingList: [{ name: 1, mergingList: [{ name: "a", value: 2 }] }] },
      ),
    ).toEqual({
      mergingList: [{ name: 1, mergingList: [{ name: "a", value: 2 }, { name: "b" }] }],
    });
  });

  it("replaces a field whose strategy is replace", () => {
    expect(apply({ replacingItem: { a: 1, b: 2 } }, { replacingItem: { c: 3 } })).toEqual({
      replacingItem: { c: 3 },
    });
  });

  it("refuses an element without its merge key as apimachinery does", () => {
    const error = (() => {
      try {
        apply({ mergingList: [{ name: 1, value: "a" }] }, { mergingList: [{ value: "b" }] });
      } catch (err) {
        return err;
      }
    })();
    expect(ApiError.is(error, "BadRequest")).toBe(true);
    expect((error as Error).message).toMatch(/does not contain declared merge key: name/);
  });

  it("refuses an unknown $patch directive", () => {
    expect(() => apply({ simpleMap: { a: 1 } }, { simpleMap: { $patch: "frobnicate" } })).toThrow(
      /unknown patch type/,
    );
  });

  it("accepts $patch merge as the default", () => {
    expect(apply({ simpleMap: { a: 1 } }, { simpleMap: { $patch: "merge", b: 2 } })).toEqual({
      simpleMap: { a: 1, b: 2 },
    });
    expect(
      apply(
        { mergingList: [{ name: 1 }] },
        { mergingList: [{ name: 1, value: 1, $patch: "merge" }] },
      ),
    ).toEqual({ mergingList: [{ name: 1, value: 1 }] });
  });

  it("takes directives out of values it places as they are", () => {
    expect(
      apply(
        {},
        {
          mergingList: [{ name: 1, $patch: "delete" }, { name: 2 }],
          simpleMap: { $patch: "delete" },
        },
      ),
    ).toEqual({ mergingList: [{ name: 2 }] });
  });

  it("never changes its inputs", () => {
    const original = Object.freeze({
      mergingList: Object.freeze([Object.freeze({ name: 1, value: 1 })]),
    });
    const patch = Object.freeze({
      mergingList: Object.freeze([Object.freeze({ name: 1, value: 2 })]),
    });
    expect(apply(original, patch)).toEqual({ mergingList: [{ name: 1, value: 2 }] });
  });
});

describe("builtinPatchSchema (from the API's definitions)", () => {
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", labels: { app: "web", tier: "front" }, finalizers: ["a", "b"] },
    spec: {
      replicas: 2,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } },
      template: {
        spec: {
          containers: [
            {
              name: "app",
              image: "app:1",
              ports: [
                { containerPort: 80, name: "http" },
                { containerPort: 9090, name: "metrics" },
              ],
              env: [
                { name: "A", value: "1" },
                { name: "B", value: "2" },
              ],
              args: ["--a", "--b"],
            },
            { name: "sidecar", image: "sidecar:1" },
          ],
          volumes: [{ name: "config", configMap: { name: "cm" } }],
          tolerations: [{ key: "a" }, { key: "b" }],
        },
      },
    },
  };
  const schema = builtinPatchSchema("apps", "v1", "Deployment");
  const patchDeployment = (patch: object) =>
    applyStrategicMergePatch(deployment, patch as Record<string, unknown>, schema);

  it("knows built-in kinds and not custom resources", () => {
    expect(schema).toBeDefined();
    expect(builtinPatchSchema("", "v1", "Service")).toBeDefined();
    expect(builtinPatchSchema("coordination.k8s.io", "v1", "Lease")).toBeDefined();
    expect(builtinPatchSchema("rbac.authorization.k8s.io", "v1", "Role")).toBeDefined();
    expect(builtinPatchSchemaOf("v1", "Namespace")).toBeDefined();
    expect(builtinPatchSchema("example.setpoint.dev", "v1", "Widget")).toBeUndefined();
    expect(builtinPatchSchema("apps.example.com", "v1", "Deployment")).toBeUndefined();
    expect(builtinPatchSchema("apps", "v1", "Widget")).toBeUndefined();
  });

  it("merges a Deployment's containers by name, and env and ports by their keys", () => {
    const result = patchDeployment({
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "app",
                image: "app:2",
                env: [{ name: "B", value: "3" }],
                ports: [{ containerPort: 80, protocol: "TCP" }],
              },
            ],
          },
        },
      },
    }) as typeof deployment;
    const [app, sidecar] = result.spec.template.spec.containers;
    expect(app!.image).toBe("app:2");
    expect(app!.env).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "3" },
    ]);
    expect(app!.ports).toEqual([
      { containerPort: 80, name: "http", protocol: "TCP" },
      { containerPort: 9090, name: "metrics" },
    ]);
    expect(app!.args).toEqual(["--a", "--b"]);
    expect(sidecar).toEqual({ name: "sidecar", image: "sidecar:1" });
  });

  it("takes out a container and an env var as kubectl apply's patch says", () => {
    // What kubectl apply sends when the new manifest drops the sidecar and env B.
    const result = patchDeployment({
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }],
            containers: [
              {
                name: "app",
                "$setElementOrder/env": [{ name: "A" }],
                env: [{ name: "B", $patch: "delete" }],
              },
              { name: "sidecar", $patch: "delete" },
            ],
          },
        },
      },
    }) as typeof deployment;
    expect(result.spec.template.spec.containers.map((c) => c.name)).toEqual(["app"]);
    expect(result.spec.template.spec.containers[0]!.env).toEqual([{ name: "A", value: "1" }]);
  });

  it("replaces atomic lists (args, tolerations) and merges labels and finalizers", () => {
    const result = patchDeployment({
      metadata: { labels: { tier: null, team: "x" }, finalizers: ["c"] },
      spec: {
        template: {
          spec: {
            containers: [{ name: "app", args: ["--c"] }],
            tolerations: [{ key: "c" }],
          },
        },
      },
    }) as typeof deployment;
    expect(result.metadata.labels).toEqual({ app: "web", team: "x" });
    expect(result.metadata.finalizers).toEqual(["c", "a", "b"]);
    expect(result.spec.template.spec.containers[0]!.args).toEqual(["--c"]);
    expect(result.spec.template.spec.tolerations).toEqual([{ key: "c" }]);
  });

  it("switches a volume's source with $retainKeys, through the inlined VolumeSource", () => {
    const result = patchDeployment({
      spec: {
        template: {
          spec: {
            volumes: [
              { name: "config", $retainKeys: ["name", "secret"], secret: { secretName: "s" } },
            ],
          },
        },
      },
    }) as { spec: { template: { spec: { volumes: unknown[] } } } };
    expect(result.spec.template.spec.volumes).toEqual([
      { name: "config", secret: { secretName: "s" } },
    ]);
  });

  it("switches a Deployment's strategy with $retainKeys", () => {
    const result = patchDeployment({
      spec: { strategy: { $retainKeys: ["type"], type: "Recreate" } },
    }) as typeof deployment;
    expect(result.spec.strategy).toEqual({ type: "Recreate" });
  });

  it("applies the patch kubectl 1.32's second apply of a Service sent", () => {
    const live = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", labels: { app: "web", tier: "front" } },
      spec: {
        selector: { app: "web" },
        ports: [
          { name: "http", port: 80, protocol: "TCP", targetPort: 8080 },
          { name: "https", port: 443, protocol: "TCP", targetPort: 8443 },
          { name: "metrics", port: 9090, protocol: "TCP", targetPort: 17090 },
        ],
      },
    };
    const sent = {
      metadata: { labels: { tier: null } },
      spec: {
        "$setElementOrder/ports": [{ port: 80 }, { port: 9091 }],
        ports: [
          { name: "metrics", port: 9091, protocol: "TCP", targetPort: 17091 },
          { $patch: "delete", port: 443 },
          { $patch: "delete", port: 9090 },
        ],
      },
    };
    expect(applyStrategicMergePatch(live, sent, builtinPatchSchemaOf("v1", "Service"))).toEqual({
      ...live,
      metadata: { name: "web", labels: { app: "web" } },
      spec: {
        selector: { app: "web" },
        ports: [
          { name: "http", port: 80, protocol: "TCP", targetPort: 8080 },
          { name: "metrics", port: 9091, protocol: "TCP", targetPort: 17091 },
        ],
      },
    });
  });

  it("merges a Service's ports by port", () => {
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec: {
        ports: [
          { port: 80, targetPort: 8080, name: "http" },
          { port: 443, name: "https" },
        ],
      },
    };
    const result = applyStrategicMergePatch(
      service,
      { spec: { ports: [{ port: 443, targetPort: 8443 }] } },
      builtinPatchSchemaOf("v1", "Service"),
    );
    expect((result.spec as { ports: unknown[] }).ports).toEqual([
      { port: 80, targetPort: 8080, name: "http" },
      { port: 443, name: "https", targetPort: 8443 },
    ]);
  });
});

describe("applyStrategicMergePatch on arbitrary input", () => {
  const keys = fc.constantFrom(
    "spec",
    "template",
    "containers",
    "name",
    "image",
    "env",
    "ports",
    "containerPort",
    "finalizers",
    "metadata",
    "labels",
    "strategy",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$deleteFromPrimitiveList/finalizers",
    "$deleteFromPrimitiveList",
    "__proto__",
  );
  const leaf = fc.oneof(
    fc.constantFrom("delete", "replace", "merge", "a", "app", null, 80, true),
    fc.string({ maxLength: 3 }),
  );
  const { json } = fc.letrec((tie) => ({
    json: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("json"), { maxLength: 3 }),
      fc.dictionary(keys, tie("json"), { maxKeys: 4 }),
    ),
  }));
  const object = fc.dictionary(keys, json, { maxKeys: 4 });
  const schema = builtinPatchSchema("apps", "v1", "Deployment");

  it("answers a result or an ApiError, never another error, and changes neither input", () => {
    fc.assert(
      fc.property(object, object, (original, patch) => {
        const before = JSON.stringify([original, patch]);
        try {
          const result = applyStrategicMergePatch(original, patch, schema);
          expect(JSON.parse(JSON.stringify(result))).toBeTypeOf("object");
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
        expect(JSON.stringify([original, patch])).toBe(before);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });

  it("does the same where a Pod's lists merge by key", () => {
    const name = fc.constantFrom("a", "b", "c");
    const element = fc.record(
      {
        name,
        mountPath: name,
        containerPort: fc.constantFrom(80, 81),
        image: fc.constantFrom("x", null),
        env: fc.array(fc.record({ name, value: leaf }, { requiredKeys: [] }), { maxLength: 3 }),
        $patch: fc.constantFrom("delete", "replace", "merge", "other"),
        $retainKeys: fc.constantFrom(["name"], ["name", "image"], "x"),
        "$setElementOrder/env": fc.array(fc.record({ name }), { maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    const list = fc.oneof(fc.array(element, { maxLength: 4 }), json);
    const podSpec = fc.record(
      {
        containers: list,
        volumes: list,
        tolerations: list,
        "$setElementOrder/containers": fc.array(fc.record({ name }), { maxLength: 3 }),
        "$deleteFromPrimitiveList/containers": fc.array(leaf, { maxLength: 2 }),
        $retainKeys: fc.constantFrom(["containers"], ["volumes", "containers"]),
      },
      { requiredKeys: [] },
    );
    const pod = builtinPatchSchema("", "v1", "Pod");
    fc.assert(
      fc.property(podSpec, podSpec, (original, patch) => {
        const before = JSON.stringify([original, patch]);
        try {
          applyStrategicMergePatch({ spec: original }, { spec: patch }, pod);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
        expect(JSON.stringify([original, patch])).toBe(before);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });
});

/** `{ a: { a: … 1 } }`, `levels` objects deep, built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

describe("applyStrategicMergePatch and strategicPatchFields on deep patches", () => {
  const schema = builtinPatchSchema("apps", "v1", "Deployment");
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it("refuses a patch nested past maxNestingDepth as Invalid (422), however deep, never a stack overflow", () => {
    for (const levels of [maxNestingDepth + 1, 5000, 200_000]) {
      const patch = { spec: nested(levels) };
      for (const f of [
        () => strategicPatchFields(patch),
        () => applyStrategicMergePatch({}, patch, schema),
        () =>
          applyStrategicMergePatch(
            {},
            {
              spec: {
                template: { spec: { containers: [{ name: "app", env: [nested(levels)] }] } },
              },
            },
            schema,
          ),
      ]) {
        const err = refusal(f);
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).reason).toBe("Invalid");
        expect((err as ApiError).code).toBe(422);
        expect((err as ApiError).message).toContain(`nests deeper than ${maxNestingDepth} levels`);
      }
    }
  });

  it("takes a patch exactly maxNestingDepth deep", () => {
    const patch = { spec: nested(maxNestingDepth - 1) };
    expect(strategicPatchFields(patch)).toEqual(patch);
    expect(applyStrategicMergePatch({}, patch, schema)).toEqual(patch);
  });
});

describe("applyStrategicMergePatch on large lists, in linear time", () => {
  // Each case took seconds at a fifth of these sizes when lists were merged by scanning
  // (O(n·m)); merged by key (maps, sets) they take well under a second. The deadline is
  // generous so that a loaded machine does not fail them; the quadratic version missed it
  // by an order of magnitude.
  const deadline = 5_000;
  const schema = builtinPatchSchema("apps", "v1", "Deployment");
  const deploymentWith = (container: Record<string, unknown>, metadata: object = {}) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", ...metadata },
    spec: { template: { spec: { containers: [{ name: "app", image: "app:1", ...container }] } } },
  });
  const containerPatch = (container: Record<string, unknown>) => ({
    spec: { template: { spec: { containers: [{ name: "app", ...container }] } } },
  });
  type Container = { env: { name: string; value?: string }[]; args: string[] };
  const containerOf = (result: Record<string, unknown>) =>
    (result as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec
      .containers[0]!;
  const timed = <T>(f: () => T): T => {
    const start = performance.now();
    const result = f();
    expect(performance.now() - start).toBeLessThan(deadline);
    return result;
  };
  const n = 50_000;
  const env = Array.from({ length: n }, (_, i) => ({ name: `V${i}`, value: "1" }));

  it("merges 50,000 env entries by name, each into its own", { timeout: 60_000 }, () => {
    const result = timed(() =>
      applyStrategicMergePatch(
        deploymentWith({ env }),
        containerPatch({ env: env.map((e) => ({ ...e, value: "2" })) }),
        schema,
      ),
    );
    expect(containerOf(result).env).toEqual(env.map((e) => ({ ...e, value: "2" })));
  });

  it("deletes 50,000 env entries with $patch: delete", { timeout: 60_000 }, () => {
    const result = timed(() =>
      applyStrategicMergePatch(
        deploymentWith({ env: [...env, { name: "KEPT", value: "k" }] }),
        containerPatch({ env: env.map((e) => ({ name: e.name, $patch: "delete" })) }),
        schema,
      ),
    );
    expect(containerOf(result).env).toEqual([{ name: "KEPT", value: "k" }]);
  });

  it("takes 200,000 args and 100,000 finalizers out with $deleteFromPrimitiveList", {
    timeout: 60_000,
  }, () => {
    const args = Array.from({ length: 200_000 }, (_, i) => `--a${i}`);
    const finalizers = Array.from({ length: 100_000 }, (_, i) => `example.com/f${i}`);
    const result = timed(() =>
      applyStrategicMergePatch(
        deploymentWith({ args: [...args, "--kept"] }, { finalizers: [...finalizers, "kept"] }),
        {
          metadata: { "$deleteFromPrimitiveList/finalizers": finalizers },
          ...containerPatch({ "$deleteFromPrimitiveList/args": args }),
        },
        schema,
      ),
    );
    expect(containerOf(result).args).toEqual(["--kept"]);
    expect((result.metadata as { finalizers: string[] }).finalizers).toEqual(["kept"]);
  });

  it("merges 100,000 finalizers into 100,000 as a set", { timeout: 60_000 }, () => {
    const finalizers = Array.from({ length: 100_000 }, (_, i) => `example.com/f${i}`);
    const result = timed(() =>
      applyStrategicMergePatch(
        deploymentWith({}, { finalizers }),
        { metadata: { finalizers: [...finalizers.slice(50_000), "new"] } },
        schema,
      ),
    );
    const merged = (result.metadata as { finalizers: string[] }).finalizers;
    expect(merged).toHaveLength(100_001);
    expect(new Set(merged).size).toBe(100_001);
  });

  it("keeps the scan's semantics: the first element of a key merges, an added one is found", () => {
    const original = {
      mergingList: [
        { name: "a", value: 1 },
        { name: "a", value: 2 },
        { name: "b", value: 3 },
      ],
    };
    // Both patch elements named "a" merge into the first "a"; the duplicate stays as it was.
    expect(
      apply(original, {
        mergingList: [
          { name: "a", other: "x" },
          { name: "a", more: "y" },
        ],
      }),
    ).toEqual({
      mergingList: [
        { name: "a", value: 1, other: "x", more: "y" },
        { name: "a", value: 2 },
        { name: "b", value: 3 },
      ],
    });
    // An element the patch adds is matched by a later element of the patch with its key.
    expect(
      apply(original, {
        mergingList: [
          { name: "c", value: 4 },
          { name: "c", more: "z" },
        ],
      }).mergingList,
    ).toContainEqual({ name: "c", value: 4, more: "z" });
  });
});
