import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runDemo } from "../examples/demo.js";
import { eventually } from "../src/testing/eventually.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url);

describe("the README", () => {
  it("shows examples/first-example.ts as its first example", async () => {
    const readme = await readFile(new URL("README.md", root), "utf8");
    const section = readme.slice(readme.indexOf("## A first example"));
    const block = section.slice(
      section.indexOf("```ts\n") + 6,
      section.indexOf("\n```", section.indexOf("```ts\n")) + 1,
    );
    expect(block).toBe(await readFile(new URL("examples/first-example.ts", root), "utf8"));
  });

  it("has a first example that runs and prints what its comments say", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/first-example.ts"],
      {
        cwd: root,
        timeout: 30_000,
      },
    );
    expect(stdout).toContain("{ replicas: 2, image: 'nginx' }");
    expect(stdout).toContain("stale write refused: Conflict");
    expect(stdout).toContain("[ 'metadata.name', 'spec.replicas' ]");
    expect(stdout).toContain("[ 'front: 3/3 ready' ]");
    expect(stdout).toContain("ADDED front generation=1");
    expect(stdout).toContain("MODIFIED front generation=2");
  });
});

describe("the demo behind npm start", () => {
  it("keeps every greeting's message in step with its spec as a user edits them, and stops on abort", async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    const done = runDemo({ signal: stop.signal, log: (line) => lines.push(line), editEveryMs: 10 });
    await eventually(() => {
      expect(lines).toContain(
        '  world: status.message = "Hello, World." (generation 1, revision 6)',
      );
      expect(lines.some((l) => l.includes('status.message = "Hello, Grace."'))).toBe(true);
    });
    stop.abort();
    const final = await done;
    expect(final).toHaveLength(3);
    for (const greeting of final) {
      expect(greeting.status?.message).toBe(
        `Hello, ${greeting.spec.name}${greeting.spec.excited ? "!" : "."}`,
      );
    }
  });
});
