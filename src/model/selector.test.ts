import { describe, expect, it } from "vitest";
import { ApiError } from "./api-error.js";
import { labelSelectorFromObject, parseFieldSelector, parseLabelSelector } from "./selector.js";

function parseError(input: string): ApiError {
  try {
    parseLabelSelector(input);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error(`"${input}" parsed`);
}

describe("parseLabelSelector", () => {
  it("parses every operator Kubernetes accepts", () => {
    const selector = parseLabelSelector("a=1, b==2,c!=3,d in (x, y),e notin (z),f,!g,h>5,i<7");
    expect(selector.requirements).toEqual([
      { key: "a", operator: "In", values: ["1"] },
      { key: "b", operator: "In", values: ["2"] },
      { key: "c", operator: "NotIn", values: ["3"] },
      { key: "d", operator: "In", values: ["x", "y"] },
      { key: "e", operator: "NotIn", values: ["z"] },
      { key: "f", operator: "Exists", values: [] },
      { key: "g", operator: "DoesNotExist", values: [] },
      { key: "h", operator: "Gt", values: ["5"] },
      { key: "i", operator: "Lt", values: ["7"] },
    ]);
  });

  it("matches everything when empty", () => {
    expect(parseLabelSelector("").matches(undefined)).toBe(true);
    expect(parseLabelSelector("   ").matches({ a: "b" })).toBe(true);
  });

  it("lets != and notin match objects that lack the key", () => {
    expect(parseLabelSelector("env!=prod").matches({})).toBe(true);
    expect(parseLabelSelector("env notin (prod)").matches(undefined)).toBe(true);
    expect(parseLabelSelector("env!=prod").matches({ env: "prod" })).toBe(false);
  });

  it("compares integers with > and <, and fails non-integer labels", () => {
    const selector = parseLabelSelector("replicas>2");
    expect(selector.matches({ replicas: "3" })).toBe(true);
    expect(selector.matches({ replicas: "2" })).toBe(false);
    expect(selector.matches({ replicas: "many" })).toBe(false);
    expect(selector.matches({})).toBe(false);
  });

  it("accepts prefixed keys and the empty value", () => {
    const selector = parseLabelSelector("app.kubernetes.io/name=shop,empty=");
    expect(selector.matches({ "app.kubernetes.io/name": "shop", empty: "" })).toBe(true);
  });

  it("names the token at fault", () => {
    expect(parseError("a in b").message).toContain('expected "(", found "b"');
    expect(parseError("a=1,,b").message).toContain("position 4");
    expect(parseError("a in (x y)").message).toContain('"y"');
    expect(parseError("a>x").message).toContain('"x" is not an integer');
    expect(parseError("!").message).toContain("end of input");
  });

  it('reads in () as in (""), as Kubernetes\' parser does, where it used to select nothing (or everything, for notin)', () => {
    for (const input of ["a in ()", "a in ( )"]) {
      const selector = parseLabelSelector(input);
      expect(selector.matches({ a: "" }), input).toBe(true);
      expect(selector.matches({ a: "x" }), input).toBe(false);
      expect(selector.matches({}), input).toBe(false);
    }
    const notIn = parseLabelSelector("a notin ()");
    expect(notIn.matches({ a: "" })).toBe(false);
    expect(notIn.matches({ a: "x" })).toBe(true);
    expect(notIn.matches({})).toBe(true);
  });

  it("rejects keys and values Kubernetes would reject", () => {
    expect(parseError("-a=1").reason).toBe("BadRequest");
    expect(parseError(`a=${"x".repeat(64)}`).message).toContain("63");
    expect(parseError("a=b c").message).toContain('"c"');
  });

  it("prints the canonical form", () => {
    expect(parseLabelSelector("a==1, b in (x,y), !c, d").toString()).toBe("a=1,b in (x,y),!c,d");
  });
});

describe("labelSelectorFromObject", () => {
  it("joins matchLabels and matchExpressions", () => {
    const selector = labelSelectorFromObject({
      matchLabels: { app: "shop" },
      matchExpressions: [{ key: "tier", operator: "NotIn", values: ["db"] }],
    });
    expect(selector.matches({ app: "shop", tier: "web" })).toBe(true);
    expect(selector.matches({ app: "shop", tier: "db" })).toBe(false);
  });

  it("requires values for In and NotIn and none for Exists", () => {
    expect(() =>
      labelSelectorFromObject({ matchExpressions: [{ key: "a", operator: "In" }] }),
    ).toThrow(/must be non-empty/);
    expect(() =>
      labelSelectorFromObject({
        matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }],
      }),
    ).toThrow(/must be empty/);
  });
});

describe("parseFieldSelector", () => {
  it("parses name and namespace terms with every operator", () => {
    const selector = parseFieldSelector("metadata.name=a,metadata.namespace!=b,metadata.name==a");
    expect(selector.matches({ name: "a", namespace: "c" })).toBe(true);
    expect(selector.matches({ name: "a", namespace: "b" })).toBe(false);
    expect(selector.exact("metadata.name")).toBeUndefined();
    expect(parseFieldSelector("metadata.name=a").exact("metadata.name")).toBe("a");
  });

  it("unescapes values", () => {
    expect(parseFieldSelector("metadata.name=a\\,b").requirements[0]?.value).toBe("a,b");
    expect(parseFieldSelector("metadata.name=a\\,b").toString()).toBe("metadata.name=a\\,b");
  });

  it("rejects unsupported fields and terms without an operator", () => {
    expect(() => parseFieldSelector("spec.x=1")).toThrow(/field label not supported: spec.x/);
    expect(() => parseFieldSelector("metadata.name")).toThrow(/is not of the form/);
  });
});
