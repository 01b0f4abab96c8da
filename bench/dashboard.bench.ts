/**
 * The web dashboard, against a real server (this process) holding 10,000 objects of one kind:
 * - First render of the kind page in headless Chromium: from navigation to the grid showing its
 *   first rows and the status "10000 objects" (median of 5, each in a fresh browser context; the
 *   app is loaded once before, so the first run does not pay for bundling it).
 * - The server's cost (the server runs in a process of its own) of keeping a watcher of that kind up to date over the same burst of 10,000
 *   changes: the dashboard's kind page (its Table watch, plus the streams the page holds open)
 *   versus a @kubernetes/client-node 1.4 informer (in a process of its own). Measured as the
 *   server process's CPU time (`process.cpuUsage()`, user + system) from the first write of the
 *   burst until the watcher has shown/received the last change, less the same burst's CPU time
 *   with no watcher at all in the same run; median of 5 interleaved runs. Also the kind page's
 *   Table watch alone, read by curl: what the page costs beyond its watch. The objects are of a typical size
 *   (about 700 bytes of JSON): a plain watch sends each whole, a Table watch its row.
 *
 * Needs Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium, type Page } from "playwright-core";
import { table } from "./report.js";

const count = 10_000;
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[values.length >> 1]!;

// In the page (this Node project has no DOM types).
declare const document: {
  querySelectorAll(selectors: string): Iterable<{
    readonly textContent: string | null;
    querySelectorAll(selectors: string): Iterable<{ readonly textContent: string | null }>;
  }>;
};

function firstRowsAndCount(): boolean {
  const status = [...document.querySelectorAll("[role=status]")].some(
    (s) => s.textContent?.trim() === "10000 objects",
  );
  const rows = [...document.querySelectorAll("[role=grid] [role=row]")].some((row) =>
    [...row.querySelectorAll("a")].some((a) => a.textContent?.trim() === "item-00000"),
  );
  return status && rows;
}

function shows(marker: string): boolean {
  return [...document.querySelectorAll("[role=grid] [role=row]")].some(
    (row) =>
      [...row.querySelectorAll("a")].some((a) => a.textContent?.trim() === "item-00000") &&
      [...row.querySelectorAll("[role=gridcell]")].some((c) => c.textContent?.trim() === marker),
  );
}

/** The server (dashboard-serve-run.ts) in a process of its own, driven through its stdin. */
async function startServer() {
  const child = spawn(
    process.execPath,
    [
      "--conditions=source",
      "--import",
      "tsx",
      fileURLToPath(new URL("dashboard-serve-run.ts", import.meta.url)),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const answer = async (prefix: string): Promise<string> => {
    const { value, done } = await lines.next();
    if (done || !value.startsWith(`${prefix} `))
      throw new Error(`the server said ${value}, not ${prefix}`);
    return value.slice(prefix.length + 1);
  };
  const url = await answer("ready");
  // The server's warm-up burst was the first; each burst adds a million.
  let marker = 1_000_000;
  return {
    url,
    /** Its CPU time so far (user + system), in ms. */
    cpu: async () => {
      child.stdin!.write("cpu\n");
      return Number(await answer("cpu"));
    },
    /** Changes every object once; resolves with the value the last change wrote. */
    burst: async () => {
      child.stdin!.write("burst\n");
      const seq = await answer("burst");
      marker = Number(seq);
      return seq;
    },
    /** The value the next burst writes last. */
    nextMarker: () => marker + 1_000_000,
    close: () => stopChild(child),
  };
}

export async function dashboardBenchmarks(): Promise<void> {
  const server = await startServer();
  const kindUrl = `${server.url}/ui/#/kind/bench.setpoint.dev/v1/items`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });

  const openKindPage = async (): Promise<{ page: Page; close(): Promise<void> }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(kindUrl);
    await page.waitForFunction(firstRowsAndCount, undefined, { polling: "raf", timeout: 60_000 });
    return { page, close: () => context.close() };
  };

  try {
    // Warm-up: the server bundles the app on its first request.
    await (await openKindPage()).close();
    const renders: number[] = [];
    for (let run = 0; run < 5; run++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(kindUrl);
      await page.waitForFunction(firstRowsAndCount, undefined, { polling: "raf", timeout: 60_000 });
      renders.push(performance.now() - started);
      await context.close();
    }
    table(
      `Dashboard: the kind page of ${count.toLocaleString("en-US")} objects in Chromium, from navigation to its first rows and "${count} objects" (5 runs)`,
      ["median", "min", "max", "target"],
      [
        [
          `${median(renders).toFixed(0)} ms`,
          `${Math.min(...renders).toFixed(0)} ms`,
          `${Math.max(...renders).toFixed(0)} ms`,
          "< 1000 ms",
        ],
      ],
    );

    const cost = {
      none: [] as number[],
      dashboard: [] as number[],
      curl: [] as number[],
      informer: [] as number[],
    };
    const runs = 5;
    for (let run = 0; run < runs; run++) {
      {
        const since = await server.cpu();
        await server.burst();
        cost.none.push((await server.cpu()) - since);
      }
      {
        const { page, close } = await openKindPage();
        const since = await server.cpu();
        const seq = await server.burst();
        await page.waitForFunction(shows, seq, { polling: "raf", timeout: 120_000 });
        cost.dashboard.push((await server.cpu()) - since);
        await close();
      }
      {
        const seq = String(server.nextMarker());
        // The kind page's watch alone, read by curl: what the page costs beyond its watch.
        const list = (await (
          await fetch(`${server.url}/apis/bench.setpoint.dev/v1/items?limit=1`)
        ).json()) as { metadata: { resourceVersion: string } };
        const child = spawn("curl", [
          "-sN",
          "-H",
          "Accept: application/json;as=Table;v=v1;g=meta.k8s.io",
          `${server.url}/apis/bench.setpoint.dev/v1/items?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`,
        ]);
        let tail = "";
        let sawLast!: () => void;
        const seen = new Promise<void>((resolve) => {
          sawLast = resolve;
        });
        const headers = new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
        child.stdout!.on("data", (chunk: Buffer) => {
          tail += chunk.toString();
          if (tail.includes(`"item-00000",${seq}`)) sawLast();
          tail = tail.slice(-200);
        });
        await Promise.race([headers, new Promise((resolve) => setTimeout(resolve, 1_000))]);
        const since = await server.cpu();
        await server.burst();
        await seen;
        cost.curl.push((await server.cpu()) - since);
        child.kill();
      }
      {
        const seq = String(server.nextMarker());
        const child = spawn(
          process.execPath,
          [
            "--conditions=source",
            "--import",
            "tsx",
            fileURLToPath(new URL("dashboard-informer-run.ts", import.meta.url)),
            server.url,
            seq,
          ],
          { stdio: ["pipe", "pipe", "inherit"] },
        );
        const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
        const expect = async (line: string) => {
          const { value, done } = await lines.next();
          if (done || value !== line) throw new Error(`the informer said ${value}, not ${line}`);
        };
        await expect("ready");
        const since = await server.cpu();
        await server.burst();
        await expect("seen");
        cost.informer.push((await server.cpu()) - since);
        await stopChild(child);
      }
    }
    // Each watcher's cost in a run is its burst's CPU less that run's burst without a watcher;
    // the median of those differences is steadier on a busy machine than a difference of medians.
    const base = median(cost.none);
    const extra = (values: number[]) => median(values.map((value, run) => value - cost.none[run]!));
    const informerExtra = extra(cost.informer);
    table(
      `Dashboard: the server's CPU time for one burst of ${count.toLocaleString("en-US")} changes, by watcher of the kind (process.cpuUsage, user + system; median of ${runs})`,
      ["watcher", "server CPU", "for the watcher (− no watcher)", "÷ the informer's", "target"],
      [
        ["none (the writes alone)", `${base.toFixed(0)} ms`, "—", "—", ""],
        [
          "dashboard kind page (Table watch)",
          `${median(cost.dashboard).toFixed(0)} ms`,
          `${extra(cost.dashboard).toFixed(0)} ms`,
          `${(extra(cost.dashboard) / informerExtra).toFixed(2)}×`,
          "≤ 1.00×",
        ],
        [
          "the kind page's Table watch alone (curl)",
          `${median(cost.curl).toFixed(0)} ms`,
          `${extra(cost.curl).toFixed(0)} ms`,
          `${(extra(cost.curl) / informerExtra).toFixed(2)}×`,
          "",
        ],
        [
          "client-node 1.4 informer",
          `${median(cost.informer).toFixed(0)} ms`,
          `${informerExtra.toFixed(0)} ms`,
          "1.00×",
          "",
        ],
      ],
    );
  } finally {
    await browser.close();
    await server.close();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.stdin!.write("exit\n");
  });
}
