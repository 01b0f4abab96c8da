import { describe, expect, it } from "vitest";
import { YamlParser } from "./yaml-parser.js";

describe("YamlParser", () => {
  it("parses YAML on its worker and refuses what is not YAML with BadRequest", async () => {
    const parser = new YamlParser();
    try {
      expect(await parser.parse("a: 1\nb: [x, y]\n")).toEqual({ a: 1, b: ["x", "y"] });
      await expect(parser.parse("a: [")).rejects.toMatchObject({ reason: "BadRequest" });
    } finally {
      await parser.close();
    }
  });

  it("fails only the slow body: the bodies queued behind it get their own time on a new worker (second attack on serve)", async () => {
    // Each body's clock used to start when it was queued, and the body that ran out of time or
    // memory failed every body queued behind it with 413. This body takes the worker's whole
    // heap (256 MiB) for seconds.
    const parser = new YamlParser(3_000);
    try {
      const slow = parser.parse("- a\n".repeat(750_000));
      const queued = [0, 1, 2].map((i) => parser.parse(`n: ${i}\n`));
      await expect(slow).rejects.toMatchObject({ reason: "RequestEntityTooLarge" });
      expect(await Promise.all(queued)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    } finally {
      await parser.close();
    }
  });

  it("fails the bodies still waiting when it is closed", async () => {
    const parser = new YamlParser();
    const pending = [parser.parse("a: 1"), parser.parse("b: 2")].map((body) =>
      body.then(
        () => "parsed",
        (err: unknown) => err,
      ),
    );
    await parser.close();
    for (const outcome of await Promise.all(pending))
      expect(outcome).toMatchObject({ reason: "ServiceUnavailable" });
  });
});
