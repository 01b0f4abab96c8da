import { describe, expect, it } from "vitest";
import { CrdSchema, crdSchemaLimits } from "./crd-schema.js";

/** The compiled schema of `spec` in a root that has only it. */
function specSchema(spec: Record<string, unknown>): CrdSchema {
  const compiled = CrdSchema.compile({ type: "object", properties: { spec } });
  if (compiled.issues !== undefined) throw new Error(JSON.stringify(compiled.issues));
  return compiled.schema.property("spec")!;
}

function issuesOf(schema: Record<string, unknown>): readonly { path: unknown; message: string }[] {
  return CrdSchema.compile({ type: "object", properties: { spec: schema } }).issues ?? [];
}

describe("CrdSchema", () => {
  it("prunes unknown fields, keeps them where the schema says so, and prunes inside kept objects by name", () => {
    const spec = specSchema({
      type: "object",
      properties: {
        name: { type: "string" },
        free: {
          type: "object",
          "x-kubernetes-preserve-unknown-fields": true,
          properties: { known: { type: "object", properties: { a: { type: "string" } } } },
        },
        labels: { type: "object", additionalProperties: { type: "string" } },
      },
    });
    expect(
      spec.apply({
        name: "n",
        extra: 1,
        free: { anything: { deep: [1] }, known: { a: "x", b: "pruned" } },
        labels: { x: "y" },
      }),
    ).toEqual({
      value: {
        name: "n",
        free: { anything: { deep: [1] }, known: { a: "x" } },
        labels: { x: "y" },
      },
    });
  });

  it("gives a new value, sharing nothing with the one it was given", () => {
    const spec = specSchema({ type: "object", "x-kubernetes-preserve-unknown-fields": true });
    const input = Object.freeze({ nested: Object.freeze({ list: Object.freeze([1]) }) });
    const output = spec.apply(input).value as { nested: { list: number[] } };
    expect(output).toEqual(input);
    expect(output.nested).not.toBe(input.nested);
    output.nested.list.push(2); // not frozen: a copy
  });

  it("applies defaults to absent and non-nullable null fields, then defaults inside them", () => {
    const spec = specSchema({
      type: "object",
      properties: {
        size: { type: "integer", default: 1 },
        nothing: { type: "string", nullable: true, default: "d" },
        nested: {
          type: "object",
          default: {},
          properties: { mode: { type: "string", default: "fast" } },
        },
      },
    });
    expect(spec.apply({})).toEqual({ value: { size: 1, nothing: "d", nested: { mode: "fast" } } });
    expect(spec.apply({ size: null, nothing: null })).toEqual({
      value: { size: 1, nothing: null, nested: { mode: "fast" } },
    });
    expect(spec.apply(undefined)).toEqual({ value: undefined });
  });

  it("treats fields named after JavaScript built-ins as any other field (second attack on serve)", () => {
    // ajv read inherited members: every object without toString answered "spec.toString: must
    // be string", and defaults of constructor or hasOwnProperty were never applied.
    const spec = specSchema(
      JSON.parse(`{
        "type": "object",
        "required": ["valueOf"],
        "properties": {
          "toString": { "type": "string" },
          "constructor": { "type": "string", "default": "c" },
          "hasOwnProperty": { "type": "integer", "default": 5 },
          "valueOf": { "type": "object", "properties": { "x": { "type": "string" } } },
          "__proto__": { "type": "string", "default": "p" }
        }
      }`),
    );
    const result = spec.apply({ valueOf: {} });
    expect(result.issues).toBeUndefined();
    expect(JSON.stringify(result.value)).toBe(
      '{"valueOf":{},"constructor":"c","hasOwnProperty":5,"__proto__":"p"}',
    );
    expect(Object.getPrototypeOf(result.value)).toBe(Object.prototype);
    expect(spec.apply({})).toEqual({ issues: [{ path: ["valueOf"], message: "Required value" }] });
    expect(spec.apply({ valueOf: {}, toString: 1 }).issues).toEqual([
      { path: ["toString"], message: 'Invalid value: "integer": must be of type string' },
    ]);
  });

  it("checks every keyword Kubernetes' schemas have, naming the path of each fault", () => {
    const spec = specSchema({
      type: "object",
      properties: {
        n: { type: "number", minimum: 1, maximum: 10, exclusiveMaximum: true, multipleOf: 0.5 },
        s: { type: "string", minLength: 2, maxLength: 3, pattern: "^a" },
        list: { type: "array", minItems: 1, maxItems: 2, items: { type: "integer" } },
        map: { type: "object", maxProperties: 1, additionalProperties: { type: "boolean" } },
        port: { "x-kubernetes-int-or-string": true },
      },
    });
    expect(spec.apply({ n: 1.5, s: "ab", list: [1], map: { a: true }, port: "http" }).issues).toBe(
      undefined,
    );
    const faults = spec.apply({
      n: 10,
      s: "bcde",
      list: [1, "x", 3],
      map: { a: 1, b: true },
      port: 1.5,
    }).issues!;
    expect(faults.map((f) => f.path)).toEqual([
      ["n"],
      ["s"],
      ["s"],
      ["list"],
      ["list", 1],
      ["map"],
      ["map", "a"],
      ["port"],
    ]);
    // Lengths count code points, as Kubernetes counts runes.
    expect(spec.apply({ s: "a😀😀" }).issues).toBeUndefined();
  });

  it("checks an enum with a set, comparing values whatever their key order", () => {
    const spec = specSchema({
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
      properties: {
        mode: { type: "string", enum: Array.from({ length: 20_000 }, (_, i) => `v${i}`) },
        shape: {
          type: "object",
          "x-kubernetes-preserve-unknown-fields": true,
          enum: [{ a: 1, b: [2] }],
        },
      },
    });
    expect(spec.apply({ mode: "v19999", shape: { b: [2], a: 1 } }).issues).toBeUndefined();
    expect(spec.apply({ mode: "nope" }).issues![0]!.message).toMatch(
      /^Unsupported value: "nope": supported values: "v0", "v1",.* \(20000 in all\)$/,
    );
  });

  it("runs allOf, anyOf, oneOf and not on the value they sit beside", () => {
    const spec = specSchema({
      type: "object",
      properties: { a: { type: "string" }, b: { type: "string" } },
      oneOf: [{ required: ["a"] }, { required: ["b"] }],
      not: { required: ["c"] },
      allOf: [{ properties: { a: { maxLength: 1 } } }],
    });
    expect(spec.apply({ a: "x" }).issues).toBeUndefined();
    expect(spec.apply({ a: "x", b: "y" }).issues![0]!.message).toContain("oneOf");
    expect(spec.apply({}).issues![0]!.message).toContain("oneOf");
    expect(spec.apply({ a: "xy" }).issues).toEqual([
      { path: ["a"], message: "Too long: may not be longer than 1" },
    ]);
  });

  it("compiles a schema once: the same schema, however it arrives, gives the same result", () => {
    const schema = {
      type: "object",
      properties: { spec: { type: "object", description: "once" } },
    };
    const first = CrdSchema.compile(schema);
    expect(CrdSchema.compile(structuredClone(schema))).toBe(first);
  });

  it("refuses keyword values of the wrong type and patterns RE2 cannot run, with their paths", () => {
    expect(
      issuesOf({
        type: "object",
        properties: {
          a: { type: "integer", minimum: "1" },
          b: { type: "string", maxLength: -1, pattern: "(?=x)" },
          c: { type: "number", multipleOf: 0 },
        },
      }).map((i) => i.path),
    ).toEqual([
      ["properties", "spec", "properties", "a", "minimum"],
      ["properties", "spec", "properties", "b", "pattern"],
      ["properties", "spec", "properties", "b", "maxLength"],
      ["properties", "spec", "properties", "c", "multipleOf"],
    ]);
  });

  it("refuses defaults their schema does not accept or would prune, as Kubernetes does (second attack on serve)", () => {
    // Such a CRD was accepted, and then every object without the field was refused.
    expect(
      issuesOf({ type: "object", properties: { x: { type: "string", default: { a: 1 } } } }),
    ).toContainEqual({
      path: ["properties", "spec", "properties", "x", "default"],
      message: 'Invalid value: "object": must be of type string',
    });
    expect(
      issuesOf({
        type: "object",
        properties: {
          y: { type: "object", properties: { a: { type: "string" } }, default: { a: "x", b: 1 } },
          z: { type: "integer", minimum: 3, default: 1 },
        },
      }),
    ).toEqual([
      {
        path: ["properties", "spec", "properties", "y", "default"],
        message: 'Invalid value: {"a":"x","b":1}: must not have unknown fields',
      },
      {
        path: ["properties", "spec", "properties", "z", "default"],
        message: "Invalid value: 1: should be greater than or equal to 3",
      },
    ]);
  });

  it("refuses schemas over its limits with the path where each was crossed (second attack on serve)", () => {
    const branches = (n: number) => Array.from({ length: n }, (_, i) => ({ required: [`k${i}`] }));
    // 2,000 branches: ajv's code for them overflowed the stack on every create (500).
    expect(
      issuesOf({
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
        anyOf: branches(2_000),
      }),
    ).toEqual([
      {
        path: ["properties", "spec", "anyOf"],
        message: `Too many: 2000: must have at most ${crdSchemaLimits.checksPerValue - 1} schemas (at most ${crdSchemaLimits.checksPerValue} may apply to one value)`,
      },
    ]);
    // Branches inside branches count together.
    const nested = { anyOf: [{ anyOf: branches(20) }, { anyOf: branches(20) }] };
    expect(
      issuesOf({ type: "object", "x-kubernetes-preserve-unknown-fields": true, ...nested })[0]!
        .message,
    ).toContain(`at most ${crdSchemaLimits.checksPerValue} schemas`);
    const properties = Object.fromEntries(
      Array.from({ length: crdSchemaLimits.nodes }, (_, i) => [`p${i}`, { type: "string" }]),
    );
    expect(issuesOf({ type: "object", properties })).toEqual([
      { path: [], message: expect.stringMatching(/^Too many: more than 20000 schemas/) },
    ]);
    expect(
      issuesOf({
        type: "object",
        properties: {
          a: { type: "string", enum: Array.from({ length: 60_000 }, (_, i) => i) },
          b: { type: "string", enum: Array.from({ length: 60_000 }, (_, i) => i) },
        },
      }),
    ).toEqual([
      {
        path: ["properties", "spec", "properties", "b", "enum"],
        message: expect.stringMatching(/^Too many: more than 100000 enum values/),
      },
    ]);
    expect(
      issuesOf({
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
        anyOf: branches(31),
      }),
    ).toEqual([]);
  });

  it("never throws: a value it cannot read is a fault", () => {
    const spec = specSchema({ type: "object", properties: { a: { type: "string" } } });
    const hostile = {
      get a(): string {
        throw new RangeError("Maximum call stack size exceeded");
      },
    };
    expect(spec.apply(hostile).issues![0]!.message).toContain("could not be validated");
  });
});
