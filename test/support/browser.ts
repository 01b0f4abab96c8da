/**
 * A real browser for the dashboard's end-to-end tests: headless Chromium driven by
 * `playwright-core` (which downloads no browser: it runs the one at `CHROMIUM_PATH`, or
 * `/usr/bin/chromium`), pages that record every console error and warning and every uncaught
 * page error so that each test can assert there were none, and a dashboard served over a real
 * control plane with real controllers, with kubectl pointed at it.
 *
 * Where Chromium is missing the browser tests skip with a message — except in CI (`CI=true`),
 * where that is a failure, as for PostgreSQL and kubectl.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { ControlPlane } from "../../src/backend/control-plane.js";
import type { Controller } from "../../src/controller/controller.js";
import { Manager } from "../../src/controller/manager.js";
import { createControlPlane, silentLogger } from "../../src/index.js";
import {
  type KubernetesApiServer,
  type ServeOptions,
  serveKubernetesApi,
} from "../../src/kubernetes/apiserver/server.js";
import type { AnyKind } from "../../src/model/kind.js";

const exec = promisify(execFile);

/** The Chromium the tests run. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Whether Chromium is here to run the browser tests. Throws in CI, where the tests may not skip
 * (`.ci/run` installs it); elsewhere warns once and answers false.
 */
export function browserAvailable(): boolean {
  if (existsSync(chromiumPath)) return true;
  if (process.env.CI === "true")
    throw new Error(
      `Chromium is not at ${chromiumPath}, and CI may not skip the browser tests: install it (apt-get install -y chromium) or set CHROMIUM_PATH`,
    );
  if (!warned) console.warn(`Chromium is not at ${chromiumPath}: the browser tests are skipped`);
  warned = true;
  return false;
}
let warned = false;

/**
 * What the functions handed to `page.evaluate` use of the browser's globals, for the type checker
 * (this Node project has no DOM types; a file that evaluates in the page declares the globals it
 * uses with these types, as module-local `declare const`s).
 */
export interface InPageElement {
  readonly tagName: string;
  readonly textContent: string | null;
  readonly outerHTML: string;
  scrollTop: number;
  readonly scrollHeight: number;
  readonly clientHeight: number;
  readonly parentElement: InPageElement | null;
  readonly labels?: { readonly length: number } | null;
  querySelectorAll(selectors: string): Iterable<InPageElement>;
  closest(selectors: string): InPageElement | null;
  getAttribute(name: string): string | null;
}
export interface InPageDocument {
  readonly activeElement: InPageElement | null;
  readonly scrollingElement: InPageElement | null;
  readonly cookie: string;
  querySelectorAll(selectors: string): Iterable<InPageElement>;
  getElementById(id: string): InPageElement | null;
}
declare const document: InPageDocument;

/** Launches headless Chromium (one per test file: close it in `afterAll`). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root (CI, these machines) cannot use Chromium's sandbox; /dev/shm may be small.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/** A page whose console errors and warnings and uncaught errors are recorded. */
export interface WatchedPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every console error or warning and every page error so far, as `type: text (where)`. */
  readonly problems: string[];
  /** Throws, listing them, if the page logged an error or a warning or threw. */
  assertNoProblems(): void;
  close(): Promise<void>;
}

/** Opens a page (in a context of its own, so that sessionStorage starts empty) at 1280×800. */
export async function openPage(
  browser: Browser,
  options: { readonly width?: number; readonly height?: number } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    reducedMotion: "reduce",
  });
  const page = await context.newPage();
  // Bounds a wait for what is already there (not a live update's deadline), on a busy machine.
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on("console", (message) => {
    const type = message.type();
    if (type !== "error" && type !== "warning") return;
    const where = message.location();
    problems.push(`console.${type}: ${message.text()} (${where.url}:${where.lineNumber})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.stack ?? error.message}`));
  return {
    page,
    context,
    problems,
    assertNoProblems() {
      if (problems.length > 0)
        throw new Error(`the page reported ${problems.length} problem(s):\n${problems.join("\n")}`);
    },
    close: () => context.close(),
  };
}

/**
 * Waits, polling in the page on every animation frame (not Playwright's back-off of up to half a
 * second), until `predicate` (evaluated in the page, with `arg`) is true; resolves to the time it
 * took from `since` (a `performance.now()` of this process). `timeoutMs` only bounds a wait
 * that failed; the caller asserts on the time it returns.
 */
export async function timeUntil<A>(
  page: Page,
  predicate: (arg: A) => boolean,
  arg: A,
  since: number,
  timeoutMs = 15_000,
): Promise<number> {
  await page.waitForFunction(predicate as (arg: unknown) => boolean, arg as unknown, {
    polling: "raf",
    timeout: timeoutMs,
  });
  return performance.now() - since;
}

/**
 * The page's accessibility problems that a simple check can see: roles without their required
 * accessible name (from Playwright's ARIA snapshot, which computes names as browsers do), and
 * form fields without a label.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  const problems: string[] = [];
  const snapshot = await page.locator("body").ariaSnapshot();
  // Roles that ARIA requires to have an accessible name (those a dashboard can contain).
  const named =
    /^\s*- (link|button|img|table|grid|tree|treeitem|textbox|searchbox|combobox|listbox|checkbox|radio|switch|slider|spinbutton|dialog|alertdialog|navigation|region|article|form|progressbar|meter|tab|tabpanel|menuitem|option|figure)(?=$|:|\s*\[)/;
  for (const line of snapshot.split("\n"))
    if (named.test(line)) problems.push(`no accessible name: ${line.trim()}`);
  problems.push(
    ...(await page.evaluate(() => {
      const found: string[] = [];
      for (const field of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
        const labelled =
          (field.labels?.length ?? 0) > 0 ||
          (field.getAttribute("aria-label") ?? "").trim() !== "" ||
          (field.getAttribute("aria-labelledby") ?? "")
            .split(/\s+/)
            .some((id: string) => (document.getElementById(id)?.textContent ?? "").trim() !== "");
        if (!labelled) found.push(`unlabelled field: ${field.outerHTML.slice(0, 120)}`);
      }
      for (const element of document.querySelectorAll("[aria-labelledby]"))
        for (const id of (element.getAttribute("aria-labelledby") ?? "").split(/\s+/))
          if (id !== "" && document.getElementById(id) === null)
            found.push(
              `aria-labelledby names a missing id "${id}": ${element.outerHTML.slice(0, 120)}`,
            );
      return found;
    })),
  );
  return problems;
}

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** Kinds registered on the plane (those of the controllers need not be listed). */
  readonly kinds?: readonly AnyKind[];
  /** Controllers run by a manager the dashboard shows; none: no manager at all. */
  readonly controllers?: readonly Controller<never>[];
  /** Serve with this bearer token. */
  readonly token?: string;
  /** Refuse "reconcile now". */
  readonly readOnly?: boolean;
  /** Serve Kubernetes' built-in kinds too (ConfigMap, Pod…). @default true */
  readonly builtinKinds?: boolean;
  /** Called with the plane before the manager starts (to seed objects). */
  readonly seed?: (plane: ControlPlane) => Promise<void>;
}

/** A dashboard served over a real control plane, with its manager running, and kubectl. */
export interface Dashboard {
  readonly plane: ControlPlane;
  readonly manager: Manager | undefined;
  readonly server: KubernetesApiServer;
  readonly kubeconfig: string;
  /** `http://127.0.0.1:PORT/ui/` followed by `route` (`#/kind/…`). */
  url(route?: string): string;
  /** Runs kubectl against the server; resolves to its standard output. */
  kubectl(...args: string[]): Promise<string>;
  /** Writes a file in the dashboard's temporary directory and returns its path. */
  file(name: string, text: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Serves the dashboard (and the Kubernetes API) over a new memory control plane, runs
 * `controllers` on it, and waits until they are ready.
 */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const plane = createControlPlane({ kinds: options.kinds ?? [] });
  await options.seed?.(plane);
  const manager =
    options.controllers === undefined
      ? undefined
      : new Manager({ plane, logger: silentLogger(), shutdownTimeoutMs: 2_000 });
  for (const controller of options.controllers ?? []) manager!.add(controller);
  const serveOptions = {
    token: options.token,
    ...(options.builtinKinds === false ? { builtinKinds: false } : {}),
    ...(manager === undefined
      ? {}
      : { dashboard: { manager, ...(options.readOnly ? { readOnly: true } : {}) } }),
  } as ServeOptions;
  const server = await serveKubernetesApi(plane, serveOptions);
  const stop = new AbortController();
  const running = manager?.run({ signal: stop.signal });
  await manager?.ready();
  const dir = await mkdtemp(join(tmpdir(), "setpoint-dashboard-"));
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, server.kubeconfig());
  const base = ["--kubeconfig", kubeconfig, "--cache-dir", `${kubeconfig}.cache`];
  return {
    plane,
    manager,
    server,
    kubeconfig,
    url: (route = "") => `${server.url}/ui/${route}`,
    kubectl: async (...args) =>
      (await exec("kubectl", [...base, ...args], { timeout: 30_000 })).stdout,
    file: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
    close: async () => {
      stop.abort();
      await running;
      await server.close();
      await plane.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The hash route of a kind's page. */
export function kindRoute(kind: { group: string; version: string; plural: string }): string {
  return `#/kind/${kind.group === "" ? "core" : kind.group}/${kind.version}/${kind.plural}`;
}

/** The hash route of an object's page. */
export function objectRoute(
  kind: { group: string; version: string; plural: string },
  namespace: string | undefined,
  name: string,
): string {
  return `#/object/${kind.group === "" ? "core" : kind.group}/${kind.version}/${kind.plural}/${namespace ?? "-"}/${name}`;
}
