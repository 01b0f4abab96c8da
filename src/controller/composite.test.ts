import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind, type ResourceOf } from "../model/kind.js";
import { eventually } from "../testing/eventually.js";
import { createTestEnv, type TestEnv } from "../testing/test-env.js";
import { composite, isSuperset, parentLabel, type UpdateStrategy } from "./composite.js";
import { Event } from "./events.js";

const Site = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Site",
  scope: "Namespaced",
  spec: z.object({ pages: z.array(z.string()), port: z.number().default(80) }),
  status: z.record(z.string(), z.unknown()),
});
const Page = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Page",
  scope: "Namespaced",
  // The server fills in `cache` when left out: a field sync never gives.
  spec: z.object({ path: z.string(), body: z.string(), cache: z.boolean().default(true) }),
});
const Server = defineKind({
  group: "example.setpoint.dev",
  version: "v1",
  kind: "Server",
  scope: "Namespaced",
  spec: z.object({ port: z.number(), extra: z.string().optional() }),
});

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

function sites(
  strategy: UpdateStrategy = "InPlace",
  overrides: {
    fail?: () => string | undefined;
    bad?: (site: ResourceOf<typeof Site>) => unknown;
  } = {},
) {
  let syncs = 0;
  const built = composite(Site, {
    name: "sites",
    children: [{ kind: Page }, { kind: Server, updateStrategy: strategy }],
    sync: ({ parent, children }) => {
      syncs++;
      const failure = overrides.fail?.();
      if (failure) throw new Error(failure);
      const bad = overrides.bad?.(parent);
      if (bad !== undefined) return bad as never;
      return {
        children: [
          ...parent.spec.pages.map((path) => ({
            apiVersion: Page.apiVersion,
            kind: "Page",
            metadata: { name: `${parent.metadata.name}-${path}` },
            spec: { path, body: `<h1>${path}</h1>` },
          })),
          {
            apiVersion: Server.apiVersion,
            kind: "Server",
            metadata: { name: parent.metadata.name },
            spec: { port: parent.spec.port },
          },
        ],
        status: { pages: children.of(Page).length },
      };
    },
  });
  return { built, syncs: () => syncs };
}

async function start(strategy?: UpdateStrategy, overrides?: Parameters<typeof sites>[1]) {
  env = createTestEnv();
  const made = sites(strategy, overrides);
  await env.start(made.built as never);
  return {
    ...made,
    sites: env.plane.resources(Site, { namespace: "shop" }),
    pages: env.plane.resources(Page, { namespace: "shop" }),
    servers: env.plane.resources(Server, { namespace: "shop" }),
  };
}

describe("superset match", () => {
  it("holds when every desired field is equal in the observed object, whatever else it has", () => {
    expect(
      isSuperset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, x: 9, b: { c: [1, { d: 2, e: 3 }] } }),
    ).toBe(true);
    expect(isSuperset({ a: 1 }, { a: 2 })).toBe(false);
    expect(isSuperset({ c: [1, 2] }, { c: [1, 2, 3] })).toBe(false);
    expect(isSuperset({ a: { b: 1 } }, { a: null })).toBe(false);
  });
});

describe("a composite controller", () => {
  it("creates the desired children, tracked by owner and label, and writes status with observedGeneration and Ready", async () => {
    const { sites: s, pages, servers } = await start();
    const site = await s.create({ metadata: { name: "blog" }, spec: { pages: ["home", "about"] } });
    await eventually(async () => expect((await pages.list()).items).toHaveLength(2));
    const page = await pages.get("blog-home");
    expect(page.metadata.labels?.[parentLabel]).toBe(site.metadata.uid);
    expect(page.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: "Site",
        name: "blog",
        uid: site.metadata.uid,
        controller: true,
      }),
    ]);
    expect((await servers.get("blog")).spec).toEqual({ port: 80 });
    await eventually(async () =>
      expect((await s.get("blog")).status).toMatchObject({
        pages: 2,
        observedGeneration: 1,
        conditions: [expect.objectContaining({ type: "Ready", status: "True", reason: "Synced" })],
      }),
    );
  });

  it("makes no write when nothing changed, though the server and others filled in fields", async () => {
    const { sites: s, pages, servers, syncs } = await start();
    await s.create({ metadata: { name: "blog" }, spec: { pages: ["home"] } });
    await eventually(async () => expect((await s.get("blog")).status?.pages).toBe(1));
    // Someone else annotates a child; the server defaulted `cache` on create.
    const page = await pages.get("blog-home");
    expect(page.spec.cache).toBe(true);
    await pages.update({
      ...page,
      metadata: { ...page.metadata, annotations: { "other/note": "x" } },
    });
    const before = [
      (await pages.get("blog-home")).metadata.resourceVersion,
      (await servers.get("blog")).metadata.resourceVersion,
      (await s.get("blog")).metadata.resourceVersion,
    ];
    const syncsBefore = syncs();
    env!.manager.reconcileAll();
    await eventually(() => expect(syncs()).toBeGreaterThan(syncsBefore));
    await env!.advance(10);
    expect([
      (await pages.get("blog-home")).metadata.resourceVersion,
      (await servers.get("blog")).metadata.resourceVersion,
      (await s.get("blog")).metadata.resourceVersion,
    ]).toEqual(before);
  });

  it("deletes children no longer desired, and never touches an object it did not create", async () => {
    const { sites: s, pages } = await start();
    await s.create({ metadata: { name: "blog" }, spec: { pages: ["home", "about"] } });
    await eventually(async () => expect((await pages.list()).items).toHaveLength(2));
    const stranger = await pages.create({
      metadata: { name: "blog-contact" },
      spec: { path: "contact", body: "mine" },
    });
    const current = await s.get("blog");
    await s.update({ ...current, spec: { ...current.spec, pages: ["home", "contact"] } });
    await eventually(async () =>
      expect((await s.get("blog")).status?.conditions).toEqual([
        expect.objectContaining({
          type: "Ready",
          status: "False",
          reason: "InvalidSync",
          message: "Page blog-contact exists and was not created by this Site: it is left alone",
        }),
      ]),
    );
    expect(await pages.get("blog-contact")).toEqual(stranger);
    // Nothing was touched meanwhile: "about" is still there.
    expect((await pages.list()).items.map((p) => p.metadata.name).sort()).toEqual([
      "blog-about",
      "blog-contact",
      "blog-home",
    ]);
    await pages.delete("blog-contact");
    await env!.advance(1_000); // the retry, after backoff
    await eventually(async () =>
      expect((await pages.list()).items.map((p) => p.metadata.name).sort()).toEqual([
        "blog-contact",
        "blog-home",
      ]),
    );
    expect((await pages.get("blog-contact")).spec.body).toBe("<h1>contact</h1>");
  });

  for (const [strategy, expectation] of [
    ["InPlace", "updates the child to the desired fields"],
    ["Apply", "merges the desired fields into the child, keeping others'"],
    ["OnDelete", "leaves the child alone until it is deleted, then creates it as desired"],
    ["Recreate", "deletes the child, then creates it as desired"],
  ] as const) {
    it(`with ${strategy}, ${expectation}`, async () => {
      const { sites: s, servers } = await start(strategy);
      await s.create({ metadata: { name: "blog" }, spec: { pages: [] } });
      await eventually(async () => expect((await servers.list()).items).toHaveLength(1));
      const first = await servers.get("blog");
      await servers.update({ ...first, spec: { ...first.spec, extra: "theirs" } });
      const site = await s.get("blog");
      await s.update({ ...site, spec: { ...site.spec, port: 8080 } });
      if (strategy === "OnDelete") {
        await eventually(async () =>
          expect((await s.get("blog")).status?.observedGeneration).toBe(2),
        );
        expect((await servers.get("blog")).spec).toEqual({ port: 80, extra: "theirs" });
        await servers.delete("blog");
      }
      await eventually(async () => {
        const server = await servers.get("blog");
        expect(server.spec.port).toBe(8080);
        if (strategy === "Apply") expect(server.spec.extra).toBe("theirs");
        if (strategy === "InPlace") expect(server.spec.extra).toBeUndefined();
        if (strategy === "Recreate" || strategy === "OnDelete")
          expect(server.metadata.uid).not.toBe(first.metadata.uid);
        else expect(server.metadata.uid).toBe(first.metadata.uid);
      });
    });
  }

  it("records a failing sync as Ready=False and an Event, touches no child, and retries", async () => {
    let failing = true;
    const { sites: s, pages } = await start("InPlace", {
      fail: () => (failing ? "the page store is down" : undefined),
    });
    await s.create({ metadata: { name: "blog" }, spec: { pages: ["home"] } });
    await eventually(async () =>
      expect((await s.get("blog")).status?.conditions).toEqual([
        expect.objectContaining({
          type: "Ready",
          status: "False",
          reason: "SyncFailed",
          message: "the page store is down",
        }),
      ]),
    );
    expect((await pages.list()).items).toEqual([]);
    const events = (await env!.plane.resources(Event).list()).items;
    expect(
      events.map((e) => [(e as { reason?: string }).reason, (e as { note?: string }).note]),
    ).toContainEqual(["SyncFailed", "the page store is down"]);
    failing = false;
    await env!.advance(1_000);
    await eventually(async () => expect((await pages.list()).items).toHaveLength(1));
  });

  it.each([
    [
      "a child of an undeclared kind",
      { children: [{ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }] },
      "which is not declared in children",
    ],
    [
      "two children of one name",
      {
        children: [
          {
            apiVersion: Page.apiVersion,
            kind: "Page",
            metadata: { name: "p" },
            spec: { path: "a", body: "" },
          },
          {
            apiVersion: Page.apiVersion,
            kind: "Page",
            metadata: { name: "p" },
            spec: { path: "b", body: "" },
          },
        ],
      },
      "two Page children named p",
    ],
    [
      "a child in another namespace",
      {
        children: [
          {
            apiVersion: Page.apiVersion,
            kind: "Page",
            metadata: { name: "p", namespace: "elsewhere" },
            spec: { path: "a", body: "" },
          },
        ],
      },
      "children live in the parent's namespace shop",
    ],
    ["a malformed status", { children: [], status: "ok" }, "malformed status"],
  ])("refuses %s, applying nothing", async (_what, bad, message) => {
    const { sites: s, pages } = await start("InPlace", {
      bad: () => ({
        ...bad,
        children: [
          {
            apiVersion: Page.apiVersion,
            kind: "Page",
            metadata: { name: "first" },
            spec: { path: "x", body: "" },
          },
          ...(bad as { children: unknown[] }).children,
        ],
      }),
    });
    await s.create({ metadata: { name: "blog" }, spec: { pages: [] } });
    await eventually(async () =>
      expect((await s.get("blog")).status?.conditions).toEqual([
        expect.objectContaining({
          status: "False",
          reason: "InvalidSync",
          message: expect.stringContaining(message),
        }),
      ]),
    );
    expect((await pages.list()).items).toEqual([]);
  });
});

describe("a composite's finalize", () => {
  it("runs while the parent is being deleted, retried until it says finalized, then lets the parent go", async () => {
    env = createTestEnv();
    let calls = 0;
    const built = composite(Site, {
      name: "sites",
      children: [{ kind: Page }],
      sync: () => ({ children: [], status: {} }),
      finalize: () => {
        calls++;
        return { finalized: calls >= 3, status: { finalizing: calls } };
      },
    });
    await env.start(built as never);
    const s = env.plane.resources(Site, { namespace: "shop" });
    await s.create({ metadata: { name: "blog" }, spec: { pages: [] } });
    await eventually(async () =>
      expect((await s.get("blog")).metadata.finalizers).toEqual(["setpoint.dev/composite-sites"]),
    );
    await s.delete("blog");
    await eventually(async () => expect(calls).toBeGreaterThanOrEqual(1));
    expect((await s.get("blog")).metadata.deletionTimestamp).toBeDefined();
    for (let i = 0; i < 10 && calls < 3; i++) await env.advance(1_000);
    await eventually(async () => expect((await s.list()).items).toEqual([]));
    expect(calls).toBe(3);
  });
});
