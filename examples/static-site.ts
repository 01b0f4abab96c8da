/**
 * A composite controller: a `StaticSite {pages}` parent whose children are one `Page` per page
 * and one `Server` that serves them. `sync` is a pure function from the site and its observed
 * children to the desired children and the site's status; setpoint creates, updates and deletes
 * the children, tracks them, and writes the status.
 *
 *   npm run setpoint -- run examples/static-site.ts --memory      (the controller alone)
 *   npx tsx --conditions=source examples/static-site.ts           (with a sample site)
 */
import { pathToFileURL } from "node:url";
import { composite, createControlPlane, defineKind, run } from "setpoint";
import { z } from "zod";

export const StaticSite = defineKind({
  group: "sites.setpoint.dev",
  version: "v1",
  kind: "StaticSite",
  scope: "Namespaced",
  spec: z.object({
    pages: z.array(
      z.object({ path: z.string().regex(/^[a-z0-9-]+$/), title: z.string(), body: z.string() }),
    ),
    port: z.number().int().min(1).max(65535).default(8080),
  }),
  // The composite runtime stamps `observedGeneration` and a `Ready` condition: the schema keeps them.
  status: z.object({
    pages: z.number().int().optional(),
    serving: z.boolean().optional(),
    observedGeneration: z.number().int().optional(),
    conditions: z.array(z.record(z.string(), z.unknown())).optional(),
  }),
  printerColumns: [
    { name: "Pages", type: "integer", jsonPath: ".status.pages" },
    { name: "Serving", type: "boolean", jsonPath: ".status.serving" },
  ],
});

export const Page = defineKind({
  group: "sites.setpoint.dev",
  version: "v1",
  kind: "Page",
  scope: "Namespaced",
  spec: z.object({ path: z.string(), html: z.string() }),
});

export const Server = defineKind({
  group: "sites.setpoint.dev",
  version: "v1",
  kind: "Server",
  scope: "Namespaced",
  spec: z.object({ port: z.number().int(), paths: z.array(z.string()) }),
});

export const staticSites = composite(StaticSite, {
  name: "static-sites",
  children: [
    { kind: Page, updateStrategy: "InPlace" },
    // A new port needs a new server: replace it rather than change it under its clients.
    { kind: Server, updateStrategy: "Recreate" },
  ],
  sync({ parent, children }) {
    const site = parent.metadata.name;
    const pages = parent.spec.pages.map((page) => ({
      apiVersion: Page.apiVersion,
      kind: "Page",
      metadata: { name: `${site}-${page.path}` },
      spec: { path: `/${page.path}`, html: `<h1>${page.title}</h1>\n${page.body}` },
    }));
    const server = {
      apiVersion: Server.apiVersion,
      kind: "Server",
      metadata: { name: site },
      spec: { port: parent.spec.port, paths: parent.spec.pages.map((p) => `/${p.path}`) },
    };
    // Status from what exists now, not from what is wanted.
    return {
      children: [...pages, server],
      status: {
        pages: children.of(Page).length,
        serving: children.of(Server).some((s) => s.spec.port === parent.spec.port),
      },
    };
  },
});

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const plane = createControlPlane();
  await plane.resources(StaticSite, { namespace: "default" }).create({
    metadata: { name: "blog" },
    spec: {
      pages: [
        { path: "home", title: "Home", body: "Welcome." },
        { path: "about", title: "About", body: "Made with setpoint." },
      ],
    },
  });
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  await run([staticSites], { plane, signal: stop.signal });
}
