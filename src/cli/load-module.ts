/** Loads a user's module (JavaScript, or TypeScript through tsx when it is installed). */
import { spawnSync } from "node:child_process";
import { relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AnyKind } from "../model/kind.js";

export async function loadModule(path: string): Promise<Record<string, unknown>> {
  if (/\.[cm]?tsx?$/.test(path)) {
    try {
      const { register } = (await import("tsx/esm/api")) as { register: () => unknown };
      register();
    } catch {
      throw new Error(
        `${path} is TypeScript: install tsx (npm install tsx — a dependency, not a dev one, where the controllers run, images too) so that setpoint can load it, or pass the compiled .js`,
      );
    }
  }
  try {
    return (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    if (
      (error as { code?: string }).code === "ERR_MODULE_NOT_FOUND" &&
      (error as Error).message.includes(resolve(path))
    )
      throw new Error(`${path}: no such module`, { cause: error });
    const { message, where } = describeLoadError(error, resolve(path));
    throw new Error(
      `${path} could not be loaded: ${message}${where === undefined ? "" : ` (at ${where})`}`,
      { cause: error },
    );
  }
}

/** What went wrong loading a module, and where: a syntax error's place, or the throw's. */
function describeLoadError(error: unknown, file: string): { message: string; where?: string } {
  // esbuild (through tsx) reports TypeScript syntax errors with their location.
  const esbuild = (
    error as {
      errors?: { text?: string; location?: { file: string; line: number; column: number } }[];
    }
  )?.errors?.[0];
  if (esbuild?.text !== undefined) {
    const at = esbuild.location;
    return {
      message: esbuild.text,
      ...(at === undefined ? {} : { where: `${shown(at.file)}:${at.line}:${at.column + 1}` }),
    };
  }
  // The first line of the message, and the next when the first announces it ("…error:").
  const lines = (error instanceof Error ? error.message : String(error)).split("\n");
  const message = lines[0]!.endsWith(":") && lines[1] ? `${lines[0]} ${lines[1]}` : lines[0]!;
  // Node keeps a JavaScript module's syntax error location to itself: ask `node --check`.
  if (error instanceof SyntaxError && /\.[cm]?js$/.test(file)) {
    const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8" });
    const at = /^(.+?):(\d+)\n/.exec(check.stderr ?? "");
    if (at !== null) return { message, where: `${shown(at[1]!)}:${at[2]}` };
  }
  const where = locationOf(error);
  return where === undefined ? { message } : { message, where };
}

/** A path relative to the working directory when it is below it. */
function shown(file: string): string {
  const path = relative(process.cwd(), file.startsWith("file:") ? fileURLToPath(file) : file);
  return path.startsWith("..") ? file : path;
}

/**
 * Where an error was thrown in the user's code — the first `file:line:column` of its stack that
 * is not setpoint's, a dependency's or Node's own — as a path relative to the working directory.
 */
function locationOf(error: unknown): string | undefined {
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  const setpoint = fileURLToPath(new URL("../..", import.meta.url));
  for (const match of stack.matchAll(
    /(?<=^|[\s(])(file:\/\/[^\s()]+?|\/[^\s():]+):(\d+)(?::(\d+))?/gm,
  )) {
    const [, where, line, column] = match;
    const file = where!.startsWith("file:") ? fileURLToPath(where!) : where!;
    if (
      file.includes("/node_modules/") ||
      (file.startsWith(setpoint) && /\/(src|dist)\//.test(file.slice(setpoint.length - 1)))
    )
      continue;
    return `${shown(file)}:${line}${column === undefined ? "" : `:${column}`}`;
  }
  return undefined;
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
