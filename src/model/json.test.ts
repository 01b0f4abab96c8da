import { describe, expect, it } from "vitest";
import { ApiError } from "./api-error.js";
import { applyJsonPatch, applyMergePatch, deepEqual } from "./json.js";

describe("applyMergePatch", () => {
  it("follows RFC 7386's examples", () => {
    expect(applyMergePatch({ a: "b" }, { a: "c" })).toEqual({ a: "c" });
    expect(applyMergePatch({ a: "b" }, { b: "c" })).toEqual({ a: "b", b: "c" });
    expect(applyMergePatch({ a: "b" }, { a: null })).toEqual({});
    expect(applyMergePatch({ a: ["b"] }, { a: "c" })).toEqual({ a: "c" });
    expect(applyMergePatch({ a: "c" }, { a: ["b"] })).toEqual({ a: ["b"] });
    expect(applyMergePatch({ a: { b: "c" } }, { a: { b: "d", c: null } })).toEqual({
      a: { b: "d" },
    });
    expect(applyMergePatch({ a: [{ b: "c" }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch(["a", "b"], ["c", "d"])).toEqual(["c", "d"]);
    expect(applyMergePatch({ a: "b" }, ["c"])).toEqual(["c"]);
    expect(applyMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(applyMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });

  it("leaves the target unchanged, even when it is frozen", () => {
    const target = Object.freeze({ a: Object.freeze({ b: 1 }) });
    expect(applyMergePatch(target, { a: { c: 2 } })).toEqual({ a: { b: 1, c: 2 } });
    expect(target).toEqual({ a: { b: 1 } });
  });
});

describe("applyJsonPatch", () => {
  it("applies operations in order and leaves a frozen target alone", () => {
    const target = Object.freeze({ list: Object.freeze([1]) });
    const result = applyJsonPatch(target, [
      { op: "add", path: "/list/-", value: 2 },
      { op: "test", path: "/list/1", value: 2 },
      { op: "copy", from: "/list", path: "/copy" },
    ]);
    expect(result).toEqual({ list: [1, 2], copy: [1, 2] });
  });

  it("fails a test as Invalid naming the operation", () => {
    try {
      applyJsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]);
      expect.unreachable();
    } catch (err) {
      expect(ApiError.is(err, "Invalid")).toBe(true);
      expect((err as ApiError).message).toContain("operation 0");
    }
  });

  it("rejects a malformed operation as BadRequest", () => {
    expect(() => applyJsonPatch({}, [{ op: "jump", path: "/a" } as never])).toThrow(ApiError);
    expect(() => applyJsonPatch({}, "nope" as never)).toThrow(/array of operations/);
  });
});

describe("deepEqual", () => {
  it("compares JSON values structurally, ignoring key order", () => {
    expect(deepEqual({ a: [1, { b: 2 }], c: null }, { c: null, a: [1, { b: 2 }] })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
  });
});

describe("patches from outside (issue 10)", () => {
  const deep = (depth: number) => JSON.parse(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`);

  it("keeps __proto__ in a merge patch an ordinary key, never a prototype", () => {
    const result = applyMergePatch(
      { spec: {} },
      JSON.parse('{"spec":{"__proto__":{"polluted":1}},"constructor":{"prototype":{"x":1}}}'),
    ) as Record<string, Record<string, unknown>>;
    expect(Object.getPrototypeOf(result.spec)).toBe(Object.prototype);
    expect(Object.keys(result.spec!)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("refuses a merge patch nested deeper than objects may be as Invalid, without overflowing the stack", () => {
    expect(() => applyMergePatch({}, deep(100_000))).toThrow(
      expect.objectContaining({ reason: "Invalid" }),
    );
    expect(applyMergePatch({}, deep(50))).toEqual(deep(50));
  });

  it("refuses JSON patch operations that cannot apply as Invalid: prototype paths, a move into its own child, inherited members", () => {
    for (const operations of [
      [{ op: "add", path: "/__proto__/polluted", value: 1 }],
      [{ op: "add", path: "/a/constructor/prototype/polluted", value: 1 }],
      [{ op: "move", from: "/a", path: "/a/b" }],
      [{ op: "copy", from: "/a/constructor", path: "/b" }],
      [{ op: "move", from: "/a/hasOwnProperty", path: "/b" }],
      [{ op: "add", path: "/x", value: deep(200) }],
    ] as const) {
      expect(
        () => applyJsonPatch({ a: {} }, operations as never),
        JSON.stringify(operations).slice(0, 80),
      ).toThrow(expect.objectContaining({ reason: "Invalid" }));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("bounds what copies may add and how many operations a patch has, as Kubernetes does", () => {
    // Each copy doubles the document: thirty of them would need gigabytes.
    const doubling = Array.from({ length: 30 }, (_, i) => ({
      op: "copy" as const,
      from: "/a",
      path: `/a/c${i}`,
    }));
    expect(() => applyJsonPatch({ a: { pad: "x".repeat(100) } }, doubling)).toThrow(
      expect.objectContaining({ reason: "Invalid" }),
    );
    const many = Array.from({ length: 10_001 }, () => ({
      op: "test" as const,
      path: "/a",
      value: 1,
    }));
    expect(() => applyJsonPatch({ a: 1 }, many)).toThrow(
      expect.objectContaining({ reason: "RequestEntityTooLarge" }),
    );
  });
});

describe("JSON patch operations fast-json-patch would take and RFC 6902 refuses (second attack on serve)", () => {
  it("refuses the internal _get operation and inherited names as operations with BadRequest", () => {
    for (const op of ["_get", "toString", "constructor", "hasOwnProperty", "__proto__"])
      expect(() => applyJsonPatch({ a: 1 }, [{ op, path: "/a" } as never]), op).toThrow(
        expect.objectContaining({ reason: "BadRequest" }),
      );
  });

  it("refuses ~ escapes other than ~0 and ~1 as BadRequest", () => {
    for (const path of ["/~2", "/a~", "/~x/b"])
      expect(() => applyJsonPatch({ "~2": 1 }, [{ op: "remove", path }]), path).toThrow(
        expect.objectContaining({ reason: "BadRequest" }),
      );
    expect(
      applyJsonPatch({ "a/b": 1, "c~d": 2 }, [
        { op: "remove", path: "/a~1b" },
        { op: "remove", path: "/c~0d" },
      ]),
    ).toEqual({});
  });

  it("refuses array indexes with leading zeros, and - outside an add, as paths that do not exist", () => {
    for (const operation of [
      { op: "replace", path: "/arr/01", value: 9 },
      { op: "remove", path: "/arr/00" },
      { op: "add", path: "/arr/01", value: 9 },
      { op: "test", path: "/arr/-", value: 1 },
      { op: "copy", from: "/arr/01", path: "/b" },
      { op: "add", path: "/arr/3", value: 9 },
    ] as const)
      expect(() => applyJsonPatch({ arr: [1, 2] }, [operation]), JSON.stringify(operation)).toThrow(
        expect.objectContaining({ reason: "Invalid" }),
      );
    expect(applyJsonPatch({ arr: [1, 2] }, [{ op: "add", path: "/arr/2", value: 3 }])).toEqual({
      arr: [1, 2, 3],
    });
  });

  it("does not find inherited members: replacing or removing a missing toString is Invalid", () => {
    for (const operation of [
      { op: "replace", path: "/spec/toString", value: "x" },
      { op: "remove", path: "/spec/valueOf" },
      { op: "test", path: "/spec/constructor", value: {} },
      { op: "add", path: "/spec/toString/x", value: 1 },
    ] as const)
      expect(() => applyJsonPatch({ spec: {} }, [operation]), JSON.stringify(operation)).toThrow(
        expect.objectContaining({ reason: "Invalid" }),
      );
    expect(
      applyJsonPatch({ spec: {} }, [{ op: "add", path: "/spec/toString", value: "x" }]),
    ).toEqual({ spec: { toString: "x" } });
  });
});
