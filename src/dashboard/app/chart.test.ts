import { describe, expect, it } from "vitest";
import { averageRate, latestRate, rateText, spanText } from "./chart.js";

const series = (counts: number[]) => ({ bucketMs: 5_000, end: 0, counts });

describe("the rates of a chart", () => {
  it("takes now from the last full bucket, not the one still filling", () => {
    expect(latestRate(series([10, 5, 100]))).toBe(1);
  });

  it("averages over the full buckets only", () => {
    expect(averageRate(series([10, 20, 0, 999]))).toBe(2);
    expect(averageRate(series([]))).toBe(0);
  });

  it("names how far back the chart reaches", () => {
    expect(spanText(series(Array.from({ length: 60 }, () => 0)))).toBe("5 min");
    expect(spanText(series([1, 2, 3]))).toBe("15 s");
  });

  it("writes a rate briefly", () => {
    expect(rateText(0)).toBe("0/s");
    expect(rateText(0.6)).toBe("0.6/s");
    expect(rateText(0.01)).toBe("<0.1/s");
    expect(rateText(42.4)).toBe("42/s");
  });
});
