/**
 * The README's screenshots of the dashboard (1280×800): the overview and an object page of the
 * demo's Workloads (examples/workload.ts, real processes) after some changes. With
 * `UPDATE_SCREENSHOTS=1` they are written to docs/screenshots/; otherwise to a temporary
 * directory, so that a normal run changes no file in the tree, but still checks they can be taken.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { eventually } from "../src/testing/eventually.js";
import {
  browserAvailable,
  launchBrowser,
  objectRoute,
  openPage,
  startDashboard,
} from "./support/browser.js";
import { sleeper, Workload, workloads } from "./support/dashboard-fixtures.js";

const update = process.env.UPDATE_SCREENSHOTS === "1";
const docs = fileURLToPath(new URL("../docs/screenshots/", import.meta.url));

/** A PNG's width and height, from its IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(1, 4).toString()).toBe("PNG");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.runIf(browserAvailable())("the dashboard's screenshots", () => {
  it("shows the demo's Workloads on the overview and an object page, at 1280×800", async () => {
    const dir = update ? docs : await mkdtemp(join(tmpdir(), "setpoint-screenshots-"));
    await mkdir(dir, { recursive: true });
    const processes = workloads();
    const dashboard = await startDashboard({
      kinds: [Workload],
      builtinKinds: false,
      controllers: [processes.controller] as never,
      seed: async (plane) => {
        const client = plane.resources(Workload, { namespace: "default" });
        await client.create(sleeper("sleepers", 2));
        await client.create(sleeper("web", 3));
        await client.create(sleeper("batch", 1));
      },
    });
    const browser = await launchBrowser();
    try {
      // Some history: a scale up and a scale down, as `kubectl scale` would.
      const client = dashboard.plane.resources(Workload, { namespace: "default" });
      await eventually(async () => expect((await client.get("web")).status?.readyReplicas).toBe(3));
      for (const replicas of [4, 3]) {
        const web = await client.get("web");
        await client.update({ ...web, spec: { ...web.spec, replicas } });
        await eventually(async () => {
          const status = (await client.get("web")).status;
          expect(status?.readyReplicas).toBe(replicas);
          expect(status?.observedGeneration).toBe((await client.get("web")).metadata.generation);
        });
      }

      const watched = await openPage(browser, { width: 1280, height: 800 });
      const { page } = watched;
      await page.goto(dashboard.url("#/"));
      const kinds = page.getByRole("table", { name: "Kinds" });
      await kinds.getByRole("link", { name: "Workload", exact: true }).waitFor();
      await page.getByRole("article", { name: "Controller workloads" }).waitFor();
      await page.getByRole("img", { name: "Reconciles per second" }).first().waitFor();
      const overview = await page.screenshot({ path: join(dir, "overview.png") });

      await page.goto(dashboard.url(objectRoute(Workload, "default", "web")));
      await page.getByRole("heading", { level: 1, name: "web" }).waitFor();
      await page
        .getByRole("table", { name: "Conditions" })
        .getByRole("cell", { name: "True", exact: true })
        .waitFor();
      await page.getByRole("table", { name: "Reconciles" }).getByRole("row").nth(3).waitFor();
      const object = await page.screenshot({ path: join(dir, "object.png") });

      for (const png of [overview, object]) {
        expect(pngSize(png)).toEqual({ width: 1280, height: 800 });
        expect(png.length).toBeGreaterThan(10_000); // not a blank page
      }
      expect(await readFile(join(dir, "object.png"))).toEqual(object);
      watched.assertNoProblems();
      await watched.close();
    } finally {
      await browser.close();
      await dashboard.close();
      await processes.stopAll();
      if (!update) await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
