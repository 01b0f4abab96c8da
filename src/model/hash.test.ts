import { describe, expect, it } from "vitest";
import { fnv1a } from "./hash.js";

describe("fnv1a", () => {
  it("gives the published FNV-1a 32-bit values", () => {
    // From the FNV reference test vectors.
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("is an unsigned 32-bit integer, the same on every call", () => {
    const hash = fnv1a("shop/front");
    expect(hash).toBe(fnv1a("shop/front"));
    expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32).toBe(true);
  });
});
