// Bundles the dashboard's browser app (src/dashboard/app) into dist/dashboard/app-bundle/, which
// dist/dashboard/assets.js serves. Run by `npm run build`, after tsc.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { bundleDashboard } from "../dist/dashboard/assets.js";

const out = new URL("../dist/dashboard/app-bundle/", import.meta.url);
const files = await bundleDashboard(
  fileURLToPath(new URL("../src/dashboard/app/main.tsx", import.meta.url)),
);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
for (const [name, body] of files) await writeFile(new URL(name, out), body);
console.log(
  `dashboard: ${[...files].map(([name, body]) => `${name} ${(body.length / 1024).toFixed(1)} KB`).join(", ")}`,
);
