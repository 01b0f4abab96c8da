/**
 * The dashboard's read API over HTTP, as the browser app and scripts use it: kinds counted,
 * controllers' queues and history, keys backing off with their errors, an object with its
 * conditions, events and children, "reconcile now", the live stream, and the token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { ControllerDetail, KeyView, ObjectView, Overview } from "../src/dashboard/types.js";
import {
  type ControlPlane,
  controller,
  controllerReference,
  createControlPlane,
  defineKind,
  Manager,
  StandardStatus,
  serveKubernetesApi,
  setCondition,
  silentLogger,
  writeStatus,
} from "../src/index.js";
import type { KubernetesApiServer } from "../src/kubernetes/apiserver/server.js";
import { eventually } from "../src/testing/eventually.js";

const Site = defineKind({
  group: "dash.setpoint.dev",
  version: "v1",
  kind: "Site",
  scope: "Namespaced",
  spec: z.object({ pages: z.number().int() }),
  status: StandardStatus,
});

const Page = defineKind({
  group: "dash.setpoint.dev",
  version: "v1",
  kind: "Page",
  scope: "Namespaced",
  spec: z.object({ path: z.string() }),
  status: StandardStatus,
});

/** Sites get one Page each and turn Ready; a Site named "broken" fails every reconcile. */
const sites = controller(Site, {
  name: "sites",
  async reconcile(site, ctx) {
    if (site.metadata.name === "broken") {
      await ctx.events.record({ type: "Warning", reason: "Broken", message: "boom: no pages" });
      throw new Error("boom: no pages");
    }
    const pages = ctx.plane.resources(Page, { namespace: site.metadata.namespace });
    const name = `${site.metadata.name}-index`;
    const page = await pages.get(name).catch(() => undefined);
    const child =
      page ??
      (await pages.create({
        metadata: { name, ownerReferences: [controllerReference(site)] },
        spec: { path: "/" },
      }));
    if (child.status?.conditions === undefined)
      await writeStatus(
        pages,
        child,
        setCondition(child.status, {
          type: "Ready",
          status: "True",
          reason: "Served",
          message: "",
        }),
      );
    await writeStatus(
      ctx.client,
      site,
      setCondition(site.status, {
        type: "Ready",
        status: "True",
        reason: "PagesServed",
        message: `${site.spec.pages} pages`,
      }),
    );
  },
}).owns(Page);

async function json<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
}

describe("the dashboard's read API", () => {
  let plane: ControlPlane;
  let manager: Manager;
  let server: KubernetesApiServer;
  const stop = new AbortController();
  let running: Promise<void>;

  beforeAll(async () => {
    plane = createControlPlane({ kinds: [Site, Page] });
    manager = new Manager({ plane, logger: silentLogger() }).add(sites as never);
    running = manager.run({ signal: stop.signal });
    await manager.ready();
    server = await serveKubernetesApi(plane, { dashboard: { manager } });
    const client = plane.resources(Site, { namespace: "shop" });
    await client.create({ metadata: { name: "front" }, spec: { pages: 3 } });
    await client.create({ metadata: { name: "broken" }, spec: { pages: 1 } });
  });

  afterAll(async () => {
    await server?.close();
    stop.abort();
    await running;
  });

  it("counts each kind's objects, Ready or not, and lists the controllers with their totals", async () => {
    await eventually(async () => {
      const { status, body } = await json<Overview>(`${server.url}/setpoint/v1/overview`);
      expect(status).toBe(200);
      const site = body.kinds.find((k) => k.kind === "Site")!;
      expect(site).toMatchObject({ group: "dash.setpoint.dev", plural: "sites", total: 2 });
      expect(site.notReady).toBe(0); // broken has no Ready condition at all
      expect(body.kinds.find((k) => k.kind === "Page")).toMatchObject({ total: 1, notReady: 0 });
      const summary = body.controllers.find((c) => c.name === "sites")!;
      expect(summary.state).toBe("running");
      expect(summary.totalReconciles).toBeGreaterThanOrEqual(3);
      expect(summary.totalErrors).toBeGreaterThanOrEqual(1);
      expect(summary.reconciles.counts.reduce((a, b) => a + b, 0)).toBe(summary.totalReconciles);
      expect(summary.p99Ms).toBeGreaterThanOrEqual(summary.p50Ms!);
      expect(body.server).toMatchObject({ mode: "run", readOnly: false });
      expect(body.warnings.map((w) => w.reason)).toContain("Broken");
      expect(body.warnings[0]!.regarding).toMatchObject({
        kind: "Site",
        name: "broken",
        plural: "sites",
      });
    });
  });

  it("shows a failing key backing off, with its attempts, next retry and error", async () => {
    await eventually(async () => {
      const { body } = await json<ControllerDetail>(`${server.url}/setpoint/v1/controllers/sites`);
      const entry = body.backoff.find((b) => b.key === "shop/broken");
      expect(entry).toBeDefined();
      expect(entry!.attempts).toBeGreaterThanOrEqual(1);
      expect(entry!.lastError).toBe("boom: no pages");
      // Epoch milliseconds, in the future: a browser shows it as a time.
      expect(entry!.retryAt).toBeGreaterThan(Date.now() - 1_000);
      expect(entry!.retryAt).toBeLessThan(Date.now() + 60 * 60_000);
      expect(body.backingOff).toBeGreaterThanOrEqual(1);
      expect(body.recent.some((r) => r.key === "shop/front" && r.result === "success")).toBe(true);
    });
    const { body: key } = await json<KeyView>(
      `${server.url}/setpoint/v1/controllers/sites/keys/${encodeURIComponent("shop/broken")}`,
    );
    expect(key.history[0]).toMatchObject({
      key: "shop/broken",
      result: "error",
      error: "boom: no pages",
    });
    expect(key.scheduled?.retry).toBe(true);
    expect(key.nextReason).toBe("retry");
  });

  it("shows an object with its conditions, events, children and the controller's view of its key", async () => {
    await eventually(async () => {
      const { status, body } = await json<ObjectView>(
        `${server.url}/setpoint/v1/objects/dash.setpoint.dev/v1/sites/shop/front`,
      );
      expect(status).toBe(200);
      expect(body.ref).toMatchObject({ kind: "Site", namespace: "shop", name: "front" });
      expect(body.conditions).toEqual([
        expect.objectContaining({ type: "Ready", status: "True", message: "3 pages" }),
      ]);
      expect(body.children).toEqual([
        expect.objectContaining({
          ref: expect.objectContaining({ kind: "Page", name: "front-index", plural: "pages" }),
          ready: "True",
          terminating: false,
        }),
      ]);
      expect(body.controllers[0]).toMatchObject({ controller: "sites", key: "shop/front" });
      expect(body.controllers[0]!.history[0]!.result).toBe("success");
    });
    const { body: page } = await json<ObjectView>(
      `${server.url}/setpoint/v1/objects/dash.setpoint.dev/v1/pages/shop/front-index`,
    );
    expect(page.owners).toEqual([
      expect.objectContaining({ kind: "Site", name: "front", plural: "sites", namespace: "shop" }),
    ]);
    const { body: broken } = await json<ObjectView>(
      `${server.url}/setpoint/v1/objects/dash.setpoint.dev/v1/sites/shop/broken`,
    );
    expect(broken.events.map((e) => e.reason)).toContain("Broken");
    const missing = await fetch(
      `${server.url}/setpoint/v1/objects/dash.setpoint.dev/v1/sites/shop/nope`,
    );
    expect(missing.status).toBe(404);
  });

  it("reconciles a key now when asked, with the reason manual", async () => {
    const url = `${server.url}/setpoint/v1/controllers/sites/keys/${encodeURIComponent("shop/front")}`;
    const answer = await fetch(`${url}/reconcile`, { method: "POST" });
    expect(answer.status).toBe(202);
    await eventually(async () => {
      const { body } = await json<KeyView>(url);
      expect(body.history[0]!.reason).toBe("manual");
    });
    const unknown = await fetch(
      `${server.url}/setpoint/v1/controllers/sites/keys/${encodeURIComponent("shop/nope")}/reconcile`,
      { method: "POST" },
    );
    expect(unknown.status).toBe(404);
    const noController = await fetch(`${server.url}/setpoint/v1/controllers/nope`);
    expect(noController.status).toBe(404);
  });

  it("streams a view at once and again when it changes", async () => {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/setpoint/v1/stream?view=overview`, {
      signal: abort.signal,
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const nextEvent = async (): Promise<{ type: string; data: Overview }> => {
      for (;;) {
        const end = text.indexOf("\n\n");
        if (end >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          if (block.startsWith(":")) continue;
          const type = /^event: (.*)$/m.exec(block)![1]!;
          const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as Overview;
          return { type, data };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        text += decoder.decode(value, { stream: true });
      }
    };
    try {
      const first = await nextEvent();
      expect(first.type).toBe("overview");
      const before = first.data.kinds.find((k) => k.kind === "Site")!.total;
      await plane
        .resources(Site, { namespace: "shop" })
        .create({ metadata: { name: "later" }, spec: { pages: 1 } });
      for (;;) {
        const { data } = await nextEvent();
        if (data.kinds.find((k) => k.kind === "Site")!.total === before + 1) break;
      }
    } finally {
      abort.abort();
    }
    const bad = await fetch(`${server.url}/setpoint/v1/stream?view=nonsense`);
    expect(bad.status).toBe(400);
  });
});

describe("the kind page's Table watch", () => {
  it("sends the column definitions with the first event only, as kube-apiserver does", async () => {
    const plane = createControlPlane({ kinds: [Site] });
    const server = await serveKubernetesApi(plane, { builtinKinds: false });
    const sites = plane.resources(Site, { namespace: "shop" });
    const abort = new AbortController();
    try {
      await sites.create({ metadata: { name: "a" }, spec: { pages: 1 } });
      const response = await fetch(
        `${server.url}/apis/dash.setpoint.dev/v1/sites?watch=1&resourceVersion=0`,
        {
          headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
          signal: abort.signal,
        },
      );
      await sites.patch("a", { type: "merge", patch: { spec: { pages: 2 } } });
      const reader = response.body!.getReader();
      let text = "";
      while ((text.match(/\n/g) ?? []).length < 2)
        text += new TextDecoder().decode((await reader.read()).value);
      const [first, second] = text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { type: string; object: Record<string, unknown> });
      expect(first!.type).toBe("ADDED");
      expect((first!.object.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual([
        "Name",
        "Age",
      ]);
      expect(second!.type).toBe("MODIFIED");
      expect(second!.object.columnDefinitions).toBeNull();
      expect(second!.object.rows).toEqual([
        expect.objectContaining({ cells: ["a", expect.any(String)] }),
      ]);
    } finally {
      abort.abort();
      await server.close();
    }
  });
});

describe("the dashboard's controller states", () => {
  it("tells the leader from the standby, and shows the shards a replica holds", async () => {
    const plane = createControlPlane({ kinds: [Site, Page] });
    const timing = { leaseDurationMs: 900, renewDeadlineMs: 600, retryPeriodMs: 150 };
    const elected = (identity: string) =>
      new Manager({
        plane,
        logger: silentLogger(),
        identity,
        leaderElection: { name: "sites", ...timing },
      }).add(sites as never);
    const first = elected("first");
    const stop = new AbortController();
    const runs = [first.run({ signal: stop.signal })];
    await first.ready();
    const second = elected("second");
    runs.push(second.run({ signal: stop.signal }));
    const sharded = new Manager({
      plane,
      logger: silentLogger(),
      identity: "sharder",
      shards: { count: 4 },
    }).add(controller(Site, { name: "sharded-sites", reconcile() {} }) as never);
    runs.push(sharded.run({ signal: stop.signal }));
    const servers = await Promise.all(
      [first, second, sharded].map((manager) =>
        serveKubernetesApi(plane, { dashboard: { manager } }),
      ),
    );
    try {
      const overviews = async () =>
        Promise.all(
          servers.map(
            async (server) => (await json<Overview>(`${server.url}/setpoint/v1/overview`)).body,
          ),
        );
      await eventually(async () => {
        const [leader, standby, shards] = await overviews();
        expect(leader!.controllers[0]!.state).toBe("running");
        expect(leader!.server).toMatchObject({ identity: "first", leading: true });
        expect(standby!.controllers[0]!.state).toBe("standby");
        expect(standby!.server.leading).toBe(false);
        expect(shards!.controllers[0]).toMatchObject({
          state: "sharded",
          shards: { held: [0, 1, 2, 3], count: 4 },
        });
        // Every replica's dashboard shows the Lease, and who holds it.
        expect(standby!.leases.find((l) => l.name === "sites")).toMatchObject({
          holder: "first",
          live: true,
        });
      });
      const detail = await json<ControllerDetail>(
        `${servers[2]!.url}/setpoint/v1/controllers/sharded-sites`,
      );
      expect(detail.body.leases.map((l) => l.name).sort()).toEqual([
        "sharded-sites-shard-0",
        "sharded-sites-shard-1",
        "sharded-sites-shard-2",
        "sharded-sites-shard-3",
      ]);
      const refused = await fetch(
        `${servers[1]!.url}/setpoint/v1/controllers/sites/keys/${encodeURIComponent("shop/front")}/reconcile`,
        { method: "POST" },
      );
      expect(refused.status).toBe(409);
    } finally {
      await Promise.all(servers.map((server) => server.close()));
      stop.abort();
      await Promise.all(runs);
    }
  });
});

describe("the dashboard's read API under use", () => {
  it("counts on the first call, the modules' CRDs included, keeps errors short and refuses reconcile-now spam", async () => {
    const huge = "x".repeat(100_000);
    const failing = controller(Page, {
      name: "pages",
      reconcile() {
        throw new Error(`boom ${huge}`);
      },
    });
    const plane = createControlPlane({ kinds: [Site, Page] });
    const pages = plane.resources(Page, { namespace: "shop" });
    for (let i = 0; i < 3; i++)
      await pages.create({ metadata: { name: `p${i}` }, spec: { path: `/${i}` } });
    const manager = new Manager({ plane, logger: silentLogger() }).add(failing as never);
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    await manager.ready();
    const server = await serveKubernetesApi(plane, { dashboard: { manager } });
    try {
      // One call, as a script makes it: the counts it starts are there.
      const { body } = await json<Overview>(`${server.url}/setpoint/v1/overview`);
      expect(body.kinds.find((k) => k.kind === "Page")).toMatchObject({
        counted: true,
        total: 3,
        builtin: false,
      });
      // Site and Page are served as CRDs the server makes, not stored ones.
      expect(body.kinds.find((k) => k.kind === "CustomResourceDefinition")).toMatchObject({
        total: 2,
        builtin: true,
      });
      const key = `${server.url}/setpoint/v1/controllers/pages/keys/${encodeURIComponent("shop/p0")}`;
      await eventually(async () => {
        const { body: view } = await json<KeyView>(key);
        expect(view.history[0]!.error).toHaveLength(2_049);
        expect(view.history[0]!.error!.endsWith("…")).toBe(true);
      });
      expect((await fetch(`${key}/reconcile`, { method: "POST" })).status).toBe(202);
      const again = await fetch(`${key}/reconcile`, { method: "POST" });
      expect(again.status).toBe(429);
      expect(((await again.json()) as { message: string }).message).toMatch(/once a second/);
      const head = await fetch(`${server.url}/setpoint/v1/stream?view=overview`, {
        method: "HEAD",
      });
      expect(head.status).toBe(200);
      expect(head.headers.get("cache-control")).toBe("no-store");
    } finally {
      stop.abort();
      await running;
    }
    try {
      // The manager stopped; its dashboard says so and enqueues nothing.
      const { body } = await json<Overview>(`${server.url}/setpoint/v1/overview`);
      expect(body.controllers[0]!.state).toBe("stopped");
      const refused = await fetch(
        `${server.url}/setpoint/v1/controllers/pages/keys/${encodeURIComponent("shop/p1")}/reconcile`,
        { method: "POST" },
      );
      expect(refused.status).toBe(409);
    } finally {
      await server.close();
    }
  });
});

describe("the dashboard's security", () => {
  it("asks for the token on every answer with data, but serves its pages to the login form", async () => {
    const plane = createControlPlane();
    const server = await serveKubernetesApi(plane, { token: "s3cret" });
    try {
      expect((await fetch(`${server.url}/setpoint/v1/overview`)).status).toBe(401);
      const authorized = await fetch(`${server.url}/setpoint/v1/overview`, {
        headers: { Authorization: "Bearer s3cret" },
      });
      expect(authorized.status).toBe(200);
      const body = (await authorized.json()) as Overview;
      expect(body.server).toMatchObject({ mode: "serve", readOnly: true });
      expect(body.controllers).toEqual([]);
      expect((await fetch(`${server.url}/setpoint/v1/stream`)).status).toBe(401);
      const page = await fetch(`${server.url}/ui/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      expect(await page.text()).not.toContain("s3cret");
      expect((await fetch(`${server.url}/ui/nothing-here.js`)).status).toBe(404);
      expect((await fetch(`${server.url}/ui/`, { method: "POST" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it("refuses reconcile now on a read-only dashboard and serves nothing when turned off", async () => {
    const plane = createControlPlane({ kinds: [Site, Page] });
    const manager = new Manager({ plane, logger: silentLogger() }).add(sites as never);
    const stop = new AbortController();
    const running = manager.run({ signal: stop.signal });
    await manager.ready();
    const readOnly = await serveKubernetesApi(plane, { dashboard: { manager, readOnly: true } });
    const off = await serveKubernetesApi(plane, { dashboard: false });
    try {
      await plane
        .resources(Site, { namespace: "shop" })
        .create({ metadata: { name: "front" }, spec: { pages: 1 } });
      const refused = await fetch(
        `${readOnly.url}/setpoint/v1/controllers/sites/keys/${encodeURIComponent("shop/front")}/reconcile`,
        { method: "POST" },
      );
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { message: string }).message).toMatch(/read-only/);
      expect((await fetch(`${off.url}/setpoint/v1/overview`)).status).toBe(404);
      expect((await fetch(`${off.url}/ui/`)).status).toBe(404);
    } finally {
      await readOnly.close();
      await off.close();
      stop.abort();
      await running;
    }
  });
});
