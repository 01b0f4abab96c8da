/**
 * The dashboard of a server with a bearer token, in Chromium: the pages are served, the data is
 * not without the token; the login form refuses a wrong token, and the right one is kept for the
 * tab (sessionStorage) across a reload.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  browserAvailable,
  type Dashboard,
  launchBrowser,
  openPage,
  startDashboard,
} from "./support/browser.js";
import { fixtureKinds, sleeper, Workload, workloads } from "./support/dashboard-fixtures.js";

declare const document: { readonly cookie: string };
declare const sessionStorage: Record<string, string>;
declare const localStorage: Record<string, string>;

const token = "dashboard-s3cret-token";
const run = browserAvailable();

let browser: Browser;
let dashboard: Dashboard;
let processes: ReturnType<typeof workloads>;

describe.runIf(run)("the dashboard behind a bearer token", () => {
  beforeAll(async () => {
    processes = workloads();
    [browser, dashboard] = await Promise.all([
      launchBrowser(),
      startDashboard({
        kinds: fixtureKinds,
        controllers: [processes.controller] as never,
        token,
        seed: async (plane) => {
          await plane.resources(Workload, { namespace: "default" }).create(sleeper("web", 1));
        },
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await processes?.stopAll();
  });

  it("answers API requests without the token 401, and with it 200", async () => {
    const api = `${dashboard.server.url}/setpoint/v1`;
    for (const path of ["/overview", "/controllers/workloads", "/stream?view=overview"]) {
      const refused = await fetch(`${api}${path}`);
      expect(refused.status, path).toBe(401);
      await refused.body?.cancel();
      const wrong = await fetch(`${api}${path}`, { headers: { authorization: "Bearer nope" } });
      expect(wrong.status, path).toBe(401);
      await wrong.body?.cancel();
    }
    const refused = await fetch(`${api}/controllers/workloads/keys/default%2Fweb/reconcile`, {
      method: "POST",
    });
    expect(refused.status).toBe(401);
    const served = await fetch(`${api}/overview`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(served.status).toBe(200);
    const overview = (await served.json()) as { controllers: { name: string }[] };
    expect(overview.controllers.map((c) => c.name)).toEqual(["workloads"]);
    // The pages themselves hold no data: they are served to anyone, to show the login form.
    expect((await fetch(dashboard.url())).status).toBe(200);
  });

  it("asks for the token, refuses a wrong one, and keeps the right one across a reload", async () => {
    const watched = await openPage(browser);
    const { page } = watched;
    try {
      await page.goto(dashboard.url("#/"));
      const field = page.getByLabel("Bearer token", { exact: true });
      await field.waitFor({ timeout: 15_000 });
      expect(await field.getAttribute("type")).toBe("password");
      await expect(page.getByRole("heading", { level: 1, name: "Overview" }).count()).resolves.toBe(
        0,
      );

      await field.fill("not-the-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page
        .getByRole("alert")
        .filter({ hasText: "The token was refused" })
        .waitFor({ timeout: 15_000 });
      await expect(page.getByRole("heading", { level: 1, name: "Overview" }).count()).resolves.toBe(
        0,
      );

      await field.fill(token);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor({ timeout: 15_000 });
      await page
        .getByRole("article", { name: "Controller workloads" })
        .waitFor({ timeout: 15_000 });
      await expect(page.getByRole("alert").filter({ hasText: "refused" }).count()).resolves.toBe(0);

      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor({ timeout: 15_000 });
      await page
        .getByRole("table", { name: "Kinds" })
        .getByText("Workload", { exact: true })
        .first()
        .waitFor({ timeout: 15_000 });
      await expect(page.getByLabel("Bearer token", { exact: true }).count()).resolves.toBe(0);
      expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(token);
      // Kept for the tab only: not in localStorage, not in a cookie.
      expect(
        await page.evaluate(() => JSON.stringify(localStorage) + document.cookie),
      ).not.toContain(token);

      // The only console noise allowed: the browser's own line for the refused request(s).
      const unexpected = watched.problems.filter(
        (problem) =>
          !/Failed to load resource: the server responded with a status of 401/.test(problem),
      );
      expect(unexpected).toEqual([]);
    } finally {
      await watched.close();
    }
  }, 60_000);
});
