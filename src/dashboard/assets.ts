/**
 * The dashboard's static assets: the browser app the server serves under {@link UI_PREFIX}.
 *
 * Two ways to get them:
 * - from the compiled package: `npm run build` bundles the app into `dist/dashboard/app-bundle/`,
 *   next to this module, and they are read from there;
 * - from the TypeScript sources (tsx, vitest): the app in `./app/` is bundled in memory with
 *   esbuild, once per process. esbuild is imported only then, so the published package never
 *   needs it at run time.
 *
 * Nothing is fetched from the network, at build time or at run time.
 */

import { readdir, readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { UI_PREFIX } from "./types.js";

/** One asset: its bytes and the `Content-Type` to serve them with. */
export interface DashboardAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The content types of the files a bundle holds. */
const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

/** The page that loads the app. */
export function dashboardIndexHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>setpoint</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${UI_PREFIX}app.css">
<script type="module" src="${UI_PREFIX}app.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
}

/**
 * Bundles the browser app whose entry is `entry` (`app/main.tsx`) with esbuild: minified, es2022,
 * no source maps. Answers the files by name: `index.html`, `app.js`, `app.css`.
 */
export async function bundleDashboard(entry: string): Promise<Map<string, Buffer>> {
  // A computed specifier keeps bundlers and type-only builds from following it.
  const esbuildName = "esbuild";
  const esbuild = (await import(esbuildName)) as typeof import("esbuild");
  const result = await esbuild.build({
    entryPoints: { app: entry },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    jsx: "automatic",
    jsxImportSource: "preact",
    sourcemap: false,
    legalComments: "none",
    write: false,
    outdir: "/app-bundle",
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const files = new Map<string, Buffer>();
  for (const file of result.outputFiles) {
    files.set(file.path.slice(file.path.lastIndexOf("/") + 1), Buffer.from(file.contents));
  }
  files.set("index.html", Buffer.from(dashboardIndexHtml()));
  return files;
}

function toAssets(files: ReadonlyMap<string, Buffer>): Map<string, DashboardAsset> {
  const assets = new Map<string, DashboardAsset>();
  for (const [name, body] of files) {
    assets.set(name, {
      body,
      contentType: contentTypes[extname(name)] ?? "application/octet-stream",
    });
  }
  const index = assets.get("index.html");
  if (index !== undefined) assets.set("", index);
  return assets;
}

async function readBundle(dir: URL): Promise<Map<string, Buffer> | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const files = new Map<string, Buffer>();
  for (const name of names) files.set(name, await readFile(new URL(name, dir)));
  return files;
}

async function loadAssets(): Promise<ReadonlyMap<string, DashboardAsset>> {
  const fromSources = import.meta.url.endsWith(".ts");
  if (!fromSources) {
    const built = await readBundle(new URL("./app-bundle/", import.meta.url));
    if (built !== undefined) return toAssets(built);
  }
  // From the sources, or a compiled tree whose bundle was not built: bundle the app's sources.
  const entry = fromSources
    ? new URL("./app/main.tsx", import.meta.url)
    : new URL("../../src/dashboard/app/main.tsx", import.meta.url);
  try {
    return toAssets(await bundleDashboard(fileURLToPath(entry)));
  } catch (error) {
    throw new Error(
      `the dashboard's bundle is missing (run npm run build) and bundling ${fileURLToPath(entry)} failed`,
      { cause: error },
    );
  }
}

let assets: Promise<ReadonlyMap<string, DashboardAsset>> | undefined;

/**
 * The dashboard's assets, keyed by their path below {@link UI_PREFIX}: `""` and `index.html` are
 * the page, `app.js` and `app.css` the app. Loaded (or bundled) once per process; a failure is
 * not cached, so the next call tries again.
 *
 * @example
 * const asset = (await dashboardAssets()).get("app.js");
 */
export async function dashboardAssets(): Promise<ReadonlyMap<string, DashboardAsset>> {
  if (assets === undefined) {
    assets = loadAssets();
    assets.catch(() => {
      assets = undefined;
    });
  }
  return assets;
}

/** Sends a dashboard page or asset: `/ui` goes to `/ui/`; unknown files are 404. */
export async function serveDashboardAsset(res: ServerResponse, pathname: string): Promise<void> {
  if (pathname === "/ui") {
    res.writeHead(301, { Location: "/ui/" }).end();
    return;
  }
  const assets = await dashboardAssets();
  const file = pathname.slice("/ui/".length);
  const asset = assets.get(file === "" ? "index.html" : file);
  if (asset === undefined) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end("no such file");
    return;
  }
  res.writeHead(200, {
    "Content-Type": asset.contentType,
    "Content-Length": asset.body.length,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy":
      "default-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
  });
  res.end(asset.body);
}
