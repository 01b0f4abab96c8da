/**
 * The descriptions of Kubernetes' messages and fields (what `kubectl explain` prints), read from
 * the doc comments of `kubernetes-types` — the types package the catalogue is typed with, whose
 * comments are the API's own documentation. Read once, when OpenAPI is first asked for; without
 * the package (or for a field newer than it) there is no description, and nothing else changes.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** A message's description and its fields', by JSON field name. */
export interface MessageDescriptions {
  readonly description?: string;
  readonly fields: ReadonlyMap<string, string>;
}

const files = new Map<string, Map<string, MessageDescriptions> | undefined>();
let root: string | null | undefined;

/** Where `kubernetes-types` is installed, or null. */
function packageRoot(): string | null {
  if (root === undefined) {
    try {
      root = dirname(createRequire(import.meta.url).resolve("kubernetes-types/package.json"));
    } catch {
      root = null;
    }
  }
  return root;
}

/** The `.d.ts` file of a proto package, relative to the package root. */
function fileOf(pkg: string): string | undefined {
  const api = /^k8s\.io\.api\.([a-z0-9]+)\.(v[0-9a-z]+)$/.exec(pkg);
  if (api !== null) return `${api[1]}/${api[2]}.d.ts`;
  if (pkg === "k8s.io.apimachinery.pkg.apis.meta.v1") return "meta/v1.d.ts";
  if (pkg === "k8s.io.apimachinery.pkg.api.resource") return "api/resource.d.ts";
  if (pkg === "k8s.io.apimachinery.pkg.runtime") return "runtime.d.ts";
  return undefined;
}

const interfacePattern =
  /(?:\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*)?export interface (\w+) \{([\s\S]*?)\n\}/g;
const fieldPattern = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*"?([\w$-]+)"?\??:/g;

function parse(text: string): Map<string, MessageDescriptions> {
  const out = new Map<string, MessageDescriptions>();
  for (const [, doc, name, body] of text.matchAll(interfacePattern)) {
    const fields = new Map<string, string>();
    for (const [, fieldDoc, field] of (body ?? "").matchAll(fieldPattern))
      fields.set(field!, fieldDoc!.trim());
    out.set(name!, { ...(doc === undefined ? {} : { description: doc.trim() }), fields });
  }
  return out;
}

/** The descriptions of `message` (`k8s.io.api.apps.v1.DeploymentSpec`), if the types have it. */
export function descriptionsOf(message: string): MessageDescriptions | undefined {
  const dot = message.lastIndexOf(".");
  const pkg = message.slice(0, dot);
  if (!files.has(pkg)) {
    const base = packageRoot();
    const file = fileOf(pkg);
    let parsed: Map<string, MessageDescriptions> | undefined;
    if (base !== null && file !== undefined) {
      try {
        parsed = parse(readFileSync(join(base, file), "utf8"));
      } catch {
        parsed = undefined;
      }
    }
    files.set(pkg, parsed);
  }
  return files.get(pkg)?.get(message.slice(dot + 1));
}
