/**
 * The embedded durable store under `kill -9`: a child process writes continuously and is killed at
 * a random moment, 50 times; after each kill the store opens and holds every write the child was
 * told had succeeded, with the acknowledged content. And a process that never closes its store
 * ends by itself, its writes kept (commits run on a thread that keeps the process alive only
 * while a commit is in flight).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { z } from "zod";
import { DurableBackend, defineKind } from "../src/index.js";
import { withDeadline } from "../src/testing/eventually.js";
import { ExampleWidget as Widget } from "../src/testing/fixtures.js";

const Entry = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Entry",
  scope: "Cluster",
  spec: z.object({ n: z.number(), data: z.string() }),
});
const writerScript = fileURLToPath(new URL("./fixtures/durable-writer.ts", import.meta.url));
const onceScript = fileURLToPath(new URL("./fixtures/durable-once.ts", import.meta.url));
const raceScript = fileURLToPath(new URL("./fixtures/durable-open-race.ts", import.meta.url));

/** Runs the writer until it has acknowledged a few writes, then kills it after a random delay. */
async function writeAndKill(dataDir: string, round: number, acked: Map<string, number>) {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", writerScript, dataDir, `r${round}`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once("exit", (_code, signal) => resolve(signal)),
  );
  let killAt = Number.POSITIVE_INFINITY;
  let count = 0;
  for await (const line of createInterface({ input: child.stdout! })) {
    const [word, name, value] = line.split(" ");
    if (word !== "acked") continue;
    acked.set(name!, Number(value));
    // Kill somewhere between the 1st and the ~400th acknowledged write, at a random moment.
    if (++count === 1) {
      killAt = Math.floor(Math.random() * 400);
      setTimeout(() => child.kill("SIGKILL"), Math.random() * 40);
    }
    if (count >= killAt) child.kill("SIGKILL");
  }
  expect(await exited).toBe("SIGKILL");
}

it("keeps every acknowledged write through 50 kill -9s at random moments", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "setpoint-crash-"));
  const acked = new Map<string, number>();
  try {
    for (let round = 0; round < 50; round++) {
      await writeAndKill(dataDir, round, acked);
      const store = new DurableBackend({ dataDir });
      const stored = new Map(
        (await store.list(Entry)).items.map((e) => [e.metadata.name, e.spec.n as number]),
      );
      await store.close();
      const missing = [...acked].filter(([name, n]) => stored.get(name) !== n);
      expect(missing, `round ${round}: acknowledged but not stored as acknowledged`).toEqual([]);
    }
    expect(acked.size).toBeGreaterThan(50);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}, 180_000);

it("lets a process that wrote and never closed its store end by itself, with every acknowledged write kept", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "setpoint-once-"));
  try {
    const child = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", onceScript, dataDir],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout! })) lines.push(line);
    // Ends with no help: an idle commit thread keeps no process alive.
    expect(await withDeadline(exited, 30_000, "the child's exit")).toBe(0);
    expect(lines).toEqual(["acked"]);
    const store = new DurableBackend({ dataDir });
    expect((await store.list(Widget)).items).toHaveLength(100);
    await store.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

it("lets one of several processes opening a store at the same moment have it: the others are told it is in use, and no write is lost (the bug: two both wrote, one write vanished)", async () => {
  for (let trial = 0; trial < 4; trial++) {
    const dataDir = await mkdtemp(join(tmpdir(), "setpoint-race-"));
    try {
      // A store with something in it, so that the openers load it.
      const first = new DurableBackend({ dataDir });
      await first.create(Widget, {
        metadata: { name: "seed", namespace: "shop" },
        spec: { replicas: 0 },
      });
      await first.close();
      const children = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const child = spawn(
            process.execPath,
            ["--conditions=source", "--import", "tsx", raceScript, dataDir],
            { stdio: ["pipe", "pipe", "inherit"] },
          );
          const said = (async () => {
            const lines: string[] = [];
            for await (const line of createInterface({ input: child.stdout! })) lines.push(line);
            return lines.join(" ");
          })();
          return { child, said };
        }),
      );
      // Started, loaded with tsx: now all at once.
      for (const { child } of children) child.stdin!.end("go\n");
      const said = await withDeadline(
        Promise.all(children.map(({ said }) => said)),
        60_000,
        "the openers' answers",
      );
      // Each either had the store (and then wrote, unless another had written first) or was
      // told it is in use — and what a winner was told it wrote is what the store holds.
      const store = new DurableBackend({ dataDir });
      const same = (await store.list(Widget)).items.filter((o) => o.metadata.name === "same");
      await store.close();
      const won = said.filter((line) => line === "won").length;
      expect(
        said.every((line) => /^(won|in use|create failed .*already exists.*)$/.test(line)),
      ).toBe(true);
      expect(won).toBe(same.length);
      expect(won).toBeLessThanOrEqual(1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
});
