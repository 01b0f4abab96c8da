/** Loads a user's module (JavaScript, or TypeScript through tsx when it is installed). */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AnyKind } from "../model/kind.js";

export async function loadModule(path: string): Promise<Record<string, unknown>> {
  if (/\.[cm]?tsx?$/.test(path)) {
    try {
      const { register } = (await import("tsx/esm/api")) as { register: () => unknown };
      register();
    } catch {
      throw new Error(
        `${path} is TypeScript: install tsx (npm install -D tsx) so that setpoint can load it, or pass the compiled .js`,
      );
    }
  }
  return (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
}

/** Whether a value is a kind made by `defineKind`. */
export function isKind(value: unknown): value is AnyKind {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.group === "string" &&
    typeof v.kind === "string" &&
    typeof v.plural === "string" &&
    typeof v.apiVersion === "string" &&
    v.spec !== undefined
  );
}

/** Every kind a module exports. */
export function kindsOf(module: Record<string, unknown>): AnyKind[] {
  return Object.values(module).filter(isKind);
}
