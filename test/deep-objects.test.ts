/**
 * Deep nesting through the typed client, on every store (issue 10, item 8): an object nested
 * 2,200 levels was stored, after which every list of its kind failed with "Maximum call stack
 * size exceeded". Each store now refuses over-deep objects and patches as Invalid before anything
 * reads them, so nothing it keeps can break a later read.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import {
  type Backend,
  createControlPlane,
  DurableBackend,
  defineKind,
  MemoryBackend,
  maxNestingDepth,
} from "../src/index.js";
import { connectPostgres } from "../src/postgres/index.js";

const Bag = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Bag",
  scope: "Namespaced",
  spec: z.object({ items: z.unknown().optional() }),
});

/** `{a: {a: … 1}}`, `depth` objects deep, the outermost counted. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const url = inject("postgresUrl");
const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  if (url && schemas.length > 0) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
});

const stores: [string, () => Promise<Backend>, boolean][] = [
  ["memory", async () => new MemoryBackend(), true],
  [
    "durable",
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), "setpoint-deep-"));
      dirs.push(dataDir);
      return new DurableBackend({ dataDir });
    },
    true,
  ],
  [
    "PostgreSQL",
    async () => {
      const schema = `t_${randomBytes(6).toString("hex")}`;
      schemas.push(schema);
      return connectPostgres({ postgres: url!, schema });
    },
    Boolean(url),
  ],
];

for (const [name, open, available] of stores) {
  describe.runIf(available)(`deep objects on the ${name} store`, () => {
    it("refuses an object nested 2,200 levels as Invalid and keeps every read working", async () => {
      const backend = await open();
      try {
        const bags = createControlPlane({ backend }).resources(Bag, { namespace: "default" });
        // The object is metadata's level 1, spec 2, items 3: so much room is left for items.
        const room = maxNestingDepth - 2;
        await bags.create({ metadata: { name: "deepest" }, spec: { items: nested(room) } });
        for (const depth of [room + 1, 2_200, 2_205, 50_000]) {
          await expect(
            bags.create({ metadata: { name: `d${depth}` }, spec: { items: nested(depth) } }),
            `${depth} levels`,
          ).rejects.toMatchObject({ reason: "Invalid", code: 422 });
        }
        const list = await bags.list();
        expect(list.items.map((b) => b.metadata.name)).toEqual(["deepest"]);
        expect(JSON.stringify(list).length).toBeGreaterThan(0);

        // Patches of every kind that would make it too deep are refused and change nothing.
        const before = await bags.get("deepest");
        for (const patch of [
          { type: "merge", patch: { spec: { items: nested(2_200) } } },
          { type: "merge", patch: { spec: { items: { b: nested(room) } } } },
          { type: "apply", patch: { spec: { items: nested(50_000) } } },
          { type: "json", patch: [{ op: "add", path: "/spec/items/a/b", value: nested(room) }] },
        ] as const) {
          await expect(bags.patch("deepest", patch as never), patch.type).rejects.toMatchObject({
            code: 422,
          });
        }
        expect((await bags.get("deepest")).metadata.resourceVersion).toBe(
          before.metadata.resourceVersion,
        );
        await bags.delete("deepest");
        expect((await bags.list()).items).toEqual([]);
      } finally {
        await backend.close();
      }
    });
  });
}
