import { describe, expect, it } from "vitest";
import {
  checkAnnotations,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkLabels,
  checkNestingDepth,
  checkQualifiedName,
  FieldErrors,
  maxNestingDepth,
  tooDeepAt,
} from "./validation.js";

function faults(check: (errors: FieldErrors) => void): string[] {
  const errors = new FieldErrors();
  check(errors);
  return errors.causes.map((c) => `${c.field}: ${c.message}`);
}

describe("names", () => {
  it("accepts DNS subdomains up to 253 characters and rejects the rest", () => {
    expect(faults((e) => checkDns1123Subdomain(e, "name", "shop.example-1"))).toEqual([]);
    expect(faults((e) => checkDns1123Subdomain(e, "name", "a".repeat(253)))).toEqual([]);
    expect(faults((e) => checkDns1123Subdomain(e, "name", "a".repeat(254)))[0]).toContain(
      "no more than 253",
    );
    for (const bad of ["Shop", "-shop", "shop-", "sh_op", "", "a..b"]) {
      expect(faults((e) => checkDns1123Subdomain(e, "name", bad))).toHaveLength(1);
    }
  });

  it("accepts DNS labels up to 63 characters for namespaces", () => {
    expect(faults((e) => checkDns1123Label(e, "ns", "team-1"))).toEqual([]);
    expect(faults((e) => checkDns1123Label(e, "ns", "a.b"))).toHaveLength(1);
    expect(faults((e) => checkDns1123Label(e, "ns", "a".repeat(64)))).toHaveLength(1);
  });
});

describe("qualified names", () => {
  it("accepts a name with an optional DNS prefix", () => {
    for (const good of ["app", "App_1.x", "example.com/app", "a/b"]) {
      expect(faults((e) => checkQualifiedName(e, "key", good))).toEqual([]);
    }
  });

  it("rejects empty parts, bad prefixes and long names", () => {
    expect(faults((e) => checkQualifiedName(e, "key", "/app"))[0]).toContain(
      "prefix part must be non-empty",
    );
    expect(faults((e) => checkQualifiedName(e, "key", "Example.com/app"))[0]).toContain(
      "prefix part",
    );
    expect(faults((e) => checkQualifiedName(e, "key", "a/b/c"))[0]).toContain("qualified name");
    expect(faults((e) => checkQualifiedName(e, "key", "x".repeat(64)))[0]).toContain("63");
    expect(faults((e) => checkQualifiedName(e, "key", "-x"))[0]).toContain("start and end");
  });

  it("gives the same answer the second time (the cache of valid names)", () => {
    expect(faults((e) => checkQualifiedName(e, "key", "bad key"))).toHaveLength(1);
    expect(faults((e) => checkQualifiedName(e, "key", "bad key"))).toHaveLength(1);
    expect(faults((e) => checkQualifiedName(e, "key", "good-key"))).toHaveLength(0);
    expect(faults((e) => checkQualifiedName(e, "key", "good-key"))).toHaveLength(0);
  });
});

describe("labels and annotations", () => {
  it("names the label at fault", () => {
    expect(faults((e) => checkLabels(e, "metadata.labels", { app: "ok", tier: "not ok" }))).toEqual(
      [expect.stringContaining("metadata.labels[tier]: Invalid value")],
    );
    expect(faults((e) => checkLabels(e, "metadata.labels", { app: 3 }))[0]).toContain(
      "must be a string",
    );
    expect(faults((e) => checkLabels(e, "metadata.labels", ["x"]))[0]).toContain(
      "must be an object",
    );
  });

  it("limits annotations to 256 KiB together, counting UTF-8 bytes", () => {
    expect(
      faults((e) => checkAnnotations(e, "metadata.annotations", { a: "x".repeat(256 * 1024 - 1) })),
    ).toEqual([]);
    expect(
      faults((e) => checkAnnotations(e, "metadata.annotations", { a: "x".repeat(256 * 1024) }))[0],
    ).toContain("Too long");
    // 90,000 three-byte characters are 270,000 bytes.
    expect(
      faults((e) => checkAnnotations(e, "metadata.annotations", { a: "€".repeat(90_000) }))[0],
    ).toContain("Too long");
  });
});

describe("nesting depth (issue 10)", () => {
  const deep = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
    return value;
  };

  it("finds the first object or array nested deeper than the limit, and its path", () => {
    expect(tooDeepAt(deep(maxNestingDepth))).toBeUndefined();
    expect(tooDeepAt(deep(maxNestingDepth + 1))).toHaveLength(maxNestingDepth);
    expect(tooDeepAt({ a: 1, b: [{ c: { d: {} } }] }, 3)).toEqual(["b", 0, "c"]);
    expect(tooDeepAt("scalar", 0)).toBeUndefined();
  });

  it("walks a cycle or a million levels without overflowing the stack", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(tooDeepAt(cycle)).toBeDefined();
    expect(tooDeepAt(JSON.parse(`${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`))).toBeDefined();
  });

  it("refuses an object nested too deep as Invalid naming the field", () => {
    expect(() =>
      checkNestingDepth({ group: "g", kind: "K", name: "n" }, { spec: deep(maxNestingDepth) }),
    ).toThrow(expect.objectContaining({ reason: "Invalid" }));
  });
});
