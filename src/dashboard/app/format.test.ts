import { describe, expect, it } from "vitest";
import { age, duration, plural, until } from "./format.js";

describe("age", () => {
  it("prints ages as kubectl does", () => {
    expect(age(45_000)).toBe("45s");
    expect(age(119_000)).toBe("119s");
    expect(age(200_000)).toBe("3m20s");
    expect(age(240_000)).toBe("4m");
    expect(age(12 * 60_000 + 5_000)).toBe("12m");
    expect(age(5 * 3_600_000)).toBe("5h");
    expect(age(5 * 3_600_000 + 10 * 60_000)).toBe("5h10m");
    expect(age(30 * 3_600_000)).toBe("30h");
    expect(age(76 * 3_600_000)).toBe("3d4h");
    expect(age(120 * 86_400_000)).toBe("120d");
    expect(age(-5_000)).toBe("0s");
  });
});

describe("duration", () => {
  it("keeps a fraction below ten milliseconds and switches to seconds past one", () => {
    expect(duration(0.42)).toBe("0.4 ms");
    expect(duration(12.4)).toBe("12 ms");
    expect(duration(1_500)).toBe("1.5 s");
    expect(duration(undefined)).toBe("—");
  });
});

describe("until", () => {
  it("counts down to a moment and says now once it passed", () => {
    expect(until(10_000, 6_500)).toBe("in 4s");
    expect(until(10_000, 10_000)).toBe("now");
  });
});

describe("plural", () => {
  it("agrees with its count", () => {
    expect(plural(1, "object")).toBe("1 object");
    expect(plural(0, "object")).toBe("0 objects");
    expect(plural(2, "worker")).toBe("2 workers");
    expect(plural(1, "kind", "kinds")).toBe("1 kind");
  });
});
