/**
 * The dashboard in a real browser (headless Chromium), against a real server running real
 * controllers: the demo's Workloads (real processes), the StaticSite composite whose children
 * get a Ready condition, and a controller that always fails. Every page must render its live
 * data with no console error or warning, follow changes made with kubectl within a second
 * without a reload, show a failing reconcile's error and retry, draw a composite's tree,
 * "reconcile now" a key, and be usable by keyboard and by assistive technology.
 */
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../src/testing/eventually.js";
import {
  accessibilityProblems,
  browserAvailable,
  type Dashboard,
  type InPageDocument,
  kindRoute,
  launchBrowser,
  objectRoute,
  openPage,
  startDashboard,
  timeUntil,
  type WatchedPage,
} from "./support/browser.js";
import {
  Flaky,
  fixtureKinds,
  flakyController,
  pageReadiness,
  StaticSite,
  seedFixtures,
  serverReadiness,
  sleeper,
  staticSites,
  Workload,
  workloads,
} from "./support/dashboard-fixtures.js";
import { hasKubectl } from "./support/kubectl.js";

declare const document: InPageDocument;
declare const window: Record<string, unknown>;

/** How long a page may take to show what is already there, on a busy machine. */
const SHOWN_MS = 15_000;
/** How long after kubectl returns a change must be on screen. */
const LIVE_MS = 1_000;

const run = browserAvailable();

let browser: Browser;
let dashboard: Dashboard;
let processes: ReturnType<typeof workloads>;
const pages: WatchedPage[] = [];

async function open(route: string): Promise<WatchedPage> {
  const watched = await openPage(browser);
  pages.push(watched);
  await watched.page.goto(dashboard.url(route));
  return watched;
}

const shown = (locator: Locator) =>
  locator.first().waitFor({ state: "visible", timeout: SHOWN_MS });

/** A table's or grid's row as `{header: cell text}`, the row found by a cell's exact text. */
async function rowOf(table: Locator, firstCell: string): Promise<Record<string, string>> {
  const headers = (await table.getByRole("columnheader").allTextContents()).map((h) => h.trim());
  const row = table
    .getByRole("row")
    .filter({ has: table.page().getByText(firstCell, { exact: true }) })
    .first();
  const cells = (
    await row.locator("[role=gridcell], [role=cell], [role=rowheader], td, th").allTextContents()
  ).map((c) => c.trim());
  return Object.fromEntries(headers.map((header, i) => [header, cells[i] ?? ""]));
}

/** The value of a controller card's figure (a `dt` and its `dd`, or a figure of that name). */
function figure(card: Locator, name: string): Locator {
  const term = card.getByRole("term").filter({ hasText: new RegExp(`^\\s*${name}\\s*$`) });
  return term
    .locator("xpath=following-sibling::*[1]")
    .or(card.getByRole("figure", { name, exact: true }))
    .first();
}

/** The `pre` labelled YAML of an object page. */
const yamlOf = (page: Page) => page.locator("pre").and(page.getByLabel("YAML", { exact: true }));

/** Waits until `check` passes (a Playwright read and an expect), for up to SHOWN_MS. */
const until = <T>(check: () => Promise<T>) =>
  eventually(check, { timeoutMs: SHOWN_MS, intervalMs: 50 });

// In-page predicates, polled on every animation frame to time live updates precisely.
function hasRowLink(name: string): boolean {
  return [...document.querySelectorAll("[role=row], tr")].some((row) =>
    [...row.querySelectorAll("a")].some((a) => a.textContent?.trim() === name),
  );
}
function hasNoRowLink(name: string): boolean {
  return ![...document.querySelectorAll("[role=row], tr")].some((row) =>
    [...row.querySelectorAll("a")].some((a) => a.textContent?.trim() === name),
  );
}
function rowCell({ name, value }: { name: string; value: string }): boolean {
  return [...document.querySelectorAll("[role=row], tr")].some(
    (row) =>
      [...row.querySelectorAll("a")].some((a) => a.textContent?.trim() === name) &&
      [...row.querySelectorAll("[role=gridcell], [role=cell], td")].some(
        (cell) => cell.textContent?.trim() === value,
      ),
  );
}
function yamlContains(text: string): boolean {
  return [...document.querySelectorAll("pre")].some((pre) => pre.textContent?.includes(text));
}

// One browser for the file.
beforeAll(async () => {
  if (run) browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.runIf(run && hasKubectl)("the dashboard in Chromium", () => {
  beforeAll(async () => {
    processes = workloads();
    dashboard = await startDashboard({
      kinds: fixtureKinds,
      controllers: [
        processes.controller,
        staticSites,
        serverReadiness,
        pageReadiness,
        flakyController,
      ] as never,
      seed: seedFixtures,
    });
  }, 60_000);

  afterAll(async () => {
    for (const watched of pages) await watched.close().catch(() => {});
    await dashboard?.close();
    await processes?.stopAll();
  });

  it("renders the overview, a kind, an object and the controllers with live data and a quiet console", async () => {
    const overview = await open("#/");
    const { page } = overview;
    await shown(page.getByRole("heading", { level: 1, name: "Overview" }));
    await expect(page.getByRole("banner").textContent()).resolves.toContain("setpoint");
    const nav = page.getByRole("navigation", { name: "Main" });
    for (const link of [
      "Overview",
      "Controllers",
      "Workload",
      "StaticSite",
      "Page",
      "Server",
      "Flaky",
    ])
      await shown(nav.getByRole("link", { name: link, exact: true }));

    const kinds = page.getByRole("table", { name: "Kinds" });
    await until(async () =>
      expect(await rowOf(kinds, "Workload")).toMatchObject({ Kind: "Workload", Total: "2" }),
    );
    // The site's Page children: one Ready, the draft Not Ready.
    await until(async () =>
      expect(await rowOf(kinds, "Page")).toMatchObject({ Total: "2", "Not Ready": "1" }),
    );
    const workloadsCard = page.getByRole("article", { name: "Controller workloads" });
    await shown(workloadsCard);
    for (const figure of ["Queued", "In flight", "Backing off", "p50", "p99"])
      await expect(workloadsCard.textContent()).resolves.toContain(figure);
    await shown(workloadsCard.getByRole("img", { name: "Reconciles per second" }));
    await shown(workloadsCard.getByRole("img", { name: "Errors per second" }));
    // The failing controller's key backs off: its card says so.
    const flakyCard = page.getByRole("article", { name: "Controller flaky" });
    await until(async () => expect(await figure(flakyCard, "Backing off").textContent()).toBe("1"));
    await until(async () =>
      expect(
        Number.parseFloat((await figure(workloadsCard, "p50").textContent()) ?? ""),
      ).toBeGreaterThan(0),
    );
    // The failing controller's Warning event, with the object it is about.
    const warning = page.getByRole("list", { name: "Warnings" }).getByRole("listitem").first();
    await until(async () =>
      expect(await warning.textContent()).toMatch(/Broken[\s\S]*bad is broken/),
    );
    await shown(page.getByRole("table", { name: "Leases" }));

    const kind = await open(kindRoute(Workload));
    await shown(kind.page.getByRole("heading", { level: 1, name: "Workload" }));
    const grid = kind.page.getByRole("grid", { name: "Workload objects" });
    await shown(grid.getByRole("link", { name: "web", exact: true }));
    await shown(grid.getByRole("link", { name: "batch", exact: true }));
    await shown(kind.page.getByRole("status").filter({ hasText: /^\s*2 objects\s*$/ }));
    expect(Number(await grid.getAttribute("aria-rowcount"))).toBeGreaterThanOrEqual(2);
    // Its printer columns, with the controller's status.
    await until(async () =>
      expect(await rowOf(grid, "web")).toMatchObject({ Replicas: "2", Ready: "2" }),
    );
    await shown(kind.page.getByRole("combobox", { name: "Namespace" }));
    await shown(kind.page.getByRole("textbox", { name: "Label selector" }));
    await shown(kind.page.getByRole("searchbox", { name: "Filter" }));

    const object = await open(objectRoute(Workload, "default", "web"));
    const main = object.page.getByRole("main");
    await shown(object.page.getByRole("heading", { level: 1, name: "web" }));
    await until(async () =>
      expect(
        await rowOf(object.page.getByRole("table", { name: "Conditions" }), "Ready"),
      ).toMatchObject({ Type: "Ready", Status: "True" }),
    );
    await shown(object.page.getByRole("table", { name: "Reconciles" }).getByRole("row").nth(1));
    await shown(object.page.getByRole("table", { name: "Events" }));
    await shown(main.getByRole("button", { name: "Reconcile now" }));
    const yaml = yamlOf(object.page);
    await until(async () => {
      const text = await yaml.textContent();
      expect(text).toContain("name: web");
      expect(text).toContain("replicas: 2");
    });

    const controllers = await open("#/controllers");
    await shown(controllers.page.getByRole("heading", { level: 1, name: "Controllers" }));
    for (const name of ["workloads", "static-sites", "servers", "pages", "flaky"]) {
      await shown(controllers.page.getByRole("table", { name: `Backoff of ${name}` }));
      await shown(controllers.page.getByRole("table", { name: `In flight of ${name}` }));
    }
    const backoff = controllers.page.getByRole("table", { name: "Backoff of workloads" });
    expect(
      (await backoff.getByRole("columnheader").allTextContents()).map((h) => h.trim()),
    ).toEqual(["Key", "Attempts", "Next retry", "Last error"]);

    for (const watched of [overview, kind, object, controllers]) watched.assertNoProblems();
  }, 90_000);

  it("shows a change made with kubectl on the open kind and object pages within a second, without a reload", async ({
    annotate,
  }) => {
    const kind = await open(kindRoute(Workload));
    const object = await open(objectRoute(Workload, "default", "web"));
    await shown(
      kind.page
        .getByRole("grid", { name: "Workload objects" })
        .getByRole("link", { name: "batch", exact: true }),
    );
    await shown(object.page.getByRole("heading", { level: 1, name: "web" }));
    await until(async () =>
      expect(await yamlOf(object.page).textContent()).toContain("replicas: 2"),
    );
    // A reload would lose this marker: the pages must change in place.
    for (const { page } of [kind, object])
      await page.evaluate(() => {
        window.notReloaded = true;
      });

    // A new object: its row appears.
    const manifest = await dashboard.file(
      "api.yaml",
      `apiVersion: demo.setpoint.dev/v1\nkind: Workload\nmetadata: {name: api, namespace: default}\nspec: {command: [sleep, "3600"], replicas: 1}\n`,
    );
    expect(await kind.page.evaluate(hasRowLink, "api")).toBe(false);
    await dashboard.kubectl("apply", "-f", manifest);
    let since = performance.now();
    const added = await timeUntil(kind.page, hasRowLink, "api", since);

    // A change: the row's Replicas cell and the object page's YAML follow it.
    await dashboard.kubectl(
      "patch",
      "workload",
      "web",
      "--type=merge",
      "-p",
      '{"spec":{"replicas":3}}',
    );
    since = performance.now();
    const [row, yaml] = await Promise.all([
      timeUntil(kind.page, rowCell, { name: "web", value: "3" }, since),
      timeUntil(object.page, yamlContains, "replicas: 3", since),
    ]);

    expect(await object.page.evaluate(yamlContains, "tier: frontend")).toBe(false);
    await dashboard.kubectl("label", "workload", "web", "tier=frontend");
    since = performance.now();
    const labelled = await timeUntil(object.page, yamlContains, "tier: frontend", since);

    // A deletion: the row goes (the Workload's finalizer stops its process first).
    expect(await kind.page.evaluate(hasRowLink, "batch")).toBe(true);
    await dashboard.kubectl("delete", "workload", "batch");
    since = performance.now();
    const deleted = await timeUntil(kind.page, hasNoRowLink, "batch", since);

    // From kubectl's exit to the page showing it, each within a second.
    const times = { added, changedRow: row, changedYaml: yaml, labelled, deleted };
    await annotate(
      Object.entries(times)
        .map(([what, ms]) => `${what} ${ms.toFixed(0)} ms`)
        .join(", "),
    );
    for (const [what, ms] of Object.entries(times)) expect(ms, what).toBeLessThan(LIVE_MS);
    await expect(
      kind.page
        .getByRole("status")
        .filter({ hasText: /^\s*2 objects\s*$/ })
        .count(),
    ).resolves.toBe(1);

    for (const { page } of [kind, object])
      expect(await page.evaluate(() => window.notReloaded)).toBe(true);
    kind.assertNoProblems();
    object.assertNoProblems();
  }, 90_000);

  it("shows a failing reconcile's error and its next retry on the object and controllers pages", async () => {
    const object = await open(objectRoute(Flaky, "default", "bad"));
    await shown(object.page.getByRole("heading", { level: 1, name: "bad" }));
    const reconciles = object.page.getByRole("table", { name: "Reconciles" });
    await shown(reconciles.getByText(/boom: bad is broken/).first());
    // The key is scheduled to retry: the page says when.
    await until(async () =>
      expect(await object.page.getByRole("main").textContent()).toMatch(/retry/i),
    );
    // Its outcome is an error, to be retried.
    const failed = reconciles.getByRole("row").filter({ hasText: "boom: bad is broken" }).first();
    expect((await failed.getByRole("cell").allTextContents()).map((c) => c.trim())).toEqual(
      expect.arrayContaining(["error", "boom: bad is broken"]),
    );

    // The Warning event it records, in the object's Events.
    const events = object.page.getByRole("table", { name: "Events" });
    await until(async () =>
      expect(await rowOf(events, "Warning")).toMatchObject({ Type: "Warning", Reason: "Broken" }),
    );

    const controllers = await open("#/controllers");
    const backoff = controllers.page.getByRole("table", { name: "Backoff of flaky" });
    await until(async () => {
      const entry = await rowOf(backoff, "default/bad");
      expect(entry.Key).toBe("default/bad");
      expect(Number(entry.Attempts)).toBeGreaterThanOrEqual(1);
      expect(entry["Next retry"]).not.toBe("");
      expect(entry["Last error"]).toContain("boom: bad is broken");
    });
    // Nothing else fails: the other controllers back off nothing.
    await expect(
      controllers.page
        .getByRole("table", { name: "Backoff of workloads" })
        .getByText("boom")
        .count(),
    ).resolves.toBe(0);
    object.assertNoProblems();
    controllers.assertNoProblems();
  }, 60_000);

  it("draws a composite's children as a tree with their Ready state", async () => {
    const object = await open(objectRoute(StaticSite, "default", "blog"));
    await shown(object.page.getByRole("heading", { level: 1, name: "blog" }));
    const tree = object.page.getByRole("tree", { name: "Children" });
    const item = (name: string) =>
      tree
        .getByRole("treeitem")
        .filter({ hasText: new RegExp(`\\b${name}\\b`) })
        .first();
    await until(async () => {
      expect(await item("blog-home").textContent()).toMatch(/\bReady\b/);
      expect(await item("blog-home").textContent()).not.toMatch(/Not Ready/);
      expect(await item("blog-draft-news").textContent()).toMatch(/Not Ready/);
    });
    // The Server child (named as its site) is there too, Ready.
    const server = tree
      .getByRole("treeitem")
      .filter({ hasText: /Server/ })
      .first();
    await until(async () => expect(await server.textContent()).toMatch(/\bReady\b/));
    await expect(tree.getByRole("treeitem").count()).resolves.toBe(3);
    // A child's page is a click away.
    await item("blog-home").getByRole("link").first().click();
    await shown(object.page.getByRole("heading", { level: 1, name: "blog-home" }));
    object.assertNoProblems();
  }, 60_000);

  it("enqueues the key when Reconcile now is pressed: the key's history gains a manual reconcile", async () => {
    const object = await open(objectRoute(Workload, "default", "web"));
    const reconciles = object.page.getByRole("table", { name: "Reconciles" });
    await shown(reconciles.getByRole("row").nth(1));
    await expect(reconciles.getByText("manual", { exact: true }).count()).resolves.toBe(0);
    const button = object.page.getByRole("button", { name: "Reconcile now" });
    await expect(button.isEnabled()).resolves.toBe(true);
    await button.click();
    await shown(reconciles.getByText("manual", { exact: true }));
    const key = (await (
      await fetch(`${dashboard.server.url}/setpoint/v1/controllers/workloads/keys/default%2Fweb`)
    ).json()) as { history: { reason: string }[] };
    expect(key.history.map((r) => r.reason)).toContain("manual");
    object.assertNoProblems();
  }, 60_000);

  it("has landmarks, one h1, labelled fields, named roles, and works by keyboard", async () => {
    const routes = [
      "#/",
      kindRoute(Workload),
      objectRoute(Workload, "default", "web"),
      objectRoute(StaticSite, "default", "blog"),
      "#/controllers",
    ];
    for (const route of routes) {
      const watched = await open(route);
      const { page } = watched;
      await shown(page.getByRole("heading", { level: 1 }));
      // Let the page fill in (its tables or grid), then look.
      await shown(page.getByRole("main").getByRole("row").nth(1));
      await expect(page.getByRole("banner").count(), route).resolves.toBe(1);
      await expect(page.getByRole("navigation", { name: "Main" }).count(), route).resolves.toBe(1);
      await expect(page.getByRole("main").count(), route).resolves.toBe(1);
      await expect(page.getByRole("heading", { level: 1 }).count(), route).resolves.toBe(1);
      expect(await accessibilityProblems(page), route).toEqual([]);
      watched.assertNoProblems();
    }

    // Tab reaches the nav links and the grid's row links; Enter on a link navigates.
    const { page } = await open(kindRoute(Workload));
    await shown(
      page
        .getByRole("grid", { name: "Workload objects" })
        .getByRole("link", { name: "web", exact: true }),
    );
    const reached: string[] = [];
    for (let i = 0; i < 80 && !reached.includes("row link web"); i++) {
      await page.keyboard.press("Tab");
      reached.push(
        await page.evaluate(() => {
          const focused = document.activeElement;
          if (focused === null || focused.tagName !== "A") return focused?.tagName ?? "";
          const where = focused.closest("nav")
            ? "nav link"
            : focused.closest("[role=row], tr")
              ? "row link"
              : "link";
          return `${where} ${focused.textContent?.trim()}`;
        }),
      );
    }
    expect(reached).toEqual(
      expect.arrayContaining([
        "nav link Overview",
        "nav link Controllers",
        "nav link Workload",
        "row link web",
      ]),
    );
    await page.keyboard.press("Enter");
    await shown(page.getByRole("heading", { level: 1, name: "web" }));
    expect(page.url()).toContain(objectRoute(Workload, "default", "web"));
    // And back to the overview by keyboard from the nav.
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Overview" })
      .focus();
    await page.keyboard.press("Enter");
    await shown(page.getByRole("heading", { level: 1, name: "Overview" }));
  }, 90_000);
});

describe.runIf(run)("the dashboard of a read-only server", () => {
  it("disables Reconcile now, and the API refuses it with 403", async () => {
    const processes = workloads();
    const readOnly = await startDashboard({
      kinds: fixtureKinds,
      controllers: [processes.controller] as never,
      readOnly: true,
      seed: async (plane) => {
        await plane.resources(Workload, { namespace: "default" }).create(sleeper("web", 1));
      },
    });
    const watched = await openPage(browser);
    try {
      const { page } = watched;
      await page.goto(readOnly.url(objectRoute(Workload, "default", "web")));
      await shown(page.getByRole("heading", { level: 1, name: "web" }));
      const button = page.getByRole("button", { name: "Reconcile now" });
      await shown(button);
      await until(async () => expect(await button.isDisabled()).toBe(true));
      const refused = await fetch(
        `${readOnly.server.url}/setpoint/v1/controllers/workloads/keys/default%2Fweb/reconcile`,
        { method: "POST" },
      );
      expect(refused.status).toBe(403);
      watched.assertNoProblems();
    } finally {
      await watched.close();
      await readOnly.close();
      await processes.stopAll();
    }
  }, 60_000);
});
