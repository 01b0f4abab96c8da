/**
 * The kind page with 10,000 objects, in Chromium: the grid says how many there are, keeps only
 * the rows in view in the DOM, and scrolls to the last object.
 */

import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineKind } from "../src/index.js";
import {
  browserAvailable,
  type Dashboard,
  type InPageDocument,
  type InPageElement,
  kindRoute,
  launchBrowser,
  openPage,
  startDashboard,
} from "./support/browser.js";

const Item = defineKind({
  group: "test.setpoint.dev",
  version: "v1",
  kind: "Item",
  scope: "Namespaced",
  spec: z.object({ size: z.number().int() }),
  printerColumns: [{ name: "Size", type: "integer", jsonPath: ".spec.size" }],
});
declare const document: InPageDocument;
declare function getComputedStyle(element: InPageElement): { readonly overflowY: string };
declare function requestAnimationFrame(callback: () => void): number;

const count = 10_000;
const name = (i: number) => `item-${String(i).padStart(5, "0")}`;
/** At most this many rows in the DOM: a screenful or two, not 10,000. */
const MAX_ROWS = 300;

const run = browserAvailable();
let browser: Browser;
let dashboard: Dashboard;

describe.runIf(run)("the dashboard with 10,000 objects of a kind", () => {
  beforeAll(async () => {
    [browser, dashboard] = await Promise.all([
      launchBrowser(),
      startDashboard({
        kinds: [Item],
        seed: async (plane) => {
          const items = plane.resources(Item, { namespace: "default" });
          for (let i = 0; i < count; i += 500)
            await Promise.all(
              Array.from({ length: Math.min(500, count - i) }, (_, j) =>
                items.create({ metadata: { name: name(i + j) }, spec: { size: i + j } }),
              ),
            );
        },
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
  });

  it("counts them, renders a bounded number of rows, and scrolls to the last one", async () => {
    const watched = await openPage(browser);
    const { page } = watched;
    try {
      await page.goto(dashboard.url(kindRoute(Item)));
      const grid = page.getByRole("grid", { name: "Item objects" });
      await page
        .getByRole("status")
        .filter({ hasText: /^\s*10000 objects\s*$/ })
        .waitFor({ timeout: 30_000 });
      await grid.getByRole("link", { name: name(0), exact: true }).waitFor({ timeout: 15_000 });
      const rowCount = Number(await grid.getAttribute("aria-rowcount"));
      expect([count, count + 1]).toContain(rowCount); // with or without its header row
      const rows = () => grid.getByRole("row").count();
      expect(await rows()).toBeLessThanOrEqual(MAX_ROWS);
      expect(await rows()).toBeGreaterThan(5);

      // Scroll the grid (or whatever scrolls it) to the end.
      const lastLink = grid.getByRole("link", { name: name(count - 1), exact: true });
      for (let attempt = 0; attempt < 50 && (await lastLink.count()) === 0; attempt++) {
        await grid.evaluate((gridElement) => {
          const element = gridElement as unknown as InPageElement;
          let scroller: InPageElement | null = element;
          while (scroller !== null && scroller.scrollHeight <= scroller.clientHeight + 1)
            scroller = scroller.parentElement;
          for (const inner of element.querySelectorAll("*"))
            if (
              inner.scrollHeight > inner.clientHeight + 1 &&
              getComputedStyle(inner).overflowY !== "visible"
            ) {
              scroller = inner;
              break;
            }
          (scroller ?? document.scrollingElement!).scrollTop = 1e9;
        });
        await page.evaluate(
          () =>
            new Promise<void>((resolve) =>
              requestAnimationFrame(() => requestAnimationFrame(resolve)),
            ),
        );
      }
      await lastLink.waitFor({ timeout: 15_000 });
      // The last row holds the last object's own data, and the first rows have left the DOM.
      const lastRow = grid
        .getByRole("row")
        .filter({ has: page.getByRole("link", { name: name(count - 1), exact: true }) });
      await expect(lastRow.textContent()).resolves.toContain(String(count - 1));
      await expect(grid.getByRole("link", { name: name(0), exact: true }).count()).resolves.toBe(0);
      expect(await rows()).toBeLessThanOrEqual(MAX_ROWS);
      const index = Number(await lastRow.getAttribute("aria-rowindex"));
      expect([count, count + 1]).toContain(index);
      watched.assertNoProblems();
    } finally {
      await watched.close();
    }
  }, 120_000);
});
