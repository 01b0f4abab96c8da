import { type AnyKind, kindId } from "../model/kind.js";
import type { Backend } from "./backend.js";
import { Client } from "./client.js";
import { DurableBackend } from "./durable/durable-backend.js";
import { MemoryBackend, type MemoryBackendOptions } from "./memory/memory-backend.js";

/** Options of {@link createControlPlane}. */
export interface ControlPlaneOptions extends MemoryBackendOptions {
  /** The store; the options above and below apply only when this is left out. @default a new MemoryBackend */
  readonly backend?: Backend;
  /**
   * Keep the store durably in this directory (the embedded durable store, SQLite through the
   * optional dependency better-sqlite3): every acknowledged write survives restarts and
   * `kill -9`. @default in memory only
   */
  readonly dataDir?: string;
  /** With `dataDir`: `"full"` (on disk before acknowledged) or `"normal"` (in the OS; faster). @default "full" */
  readonly durability?: "full" | "normal";
  /** Kinds to register up front; `resources(Kind)` registers the rest as they are used. @default [] */
  readonly kinds?: readonly AnyKind[];
}

/** A Backend plus the registry of the kinds it serves. */
export interface ControlPlane {
  readonly backend: Backend;
  /** Every registered kind, by `group/kind`. */
  readonly kinds: ReadonlyMap<string, AnyKind>;
  /** The typed client of one kind (registering it), all namespaces or one. */
  resources<K extends AnyKind>(kind: K, options?: { readonly namespace?: string }): Client<K>;
  /** Adds kinds to the registry; a different kind of the same `group/kind` is a `TypeError`. */
  register(...kinds: AnyKind[]): void;
  /** Closes the backend: ends every watch. */
  close(): Promise<void>;
}

/**
 * Creates a control plane: in memory, durable in `dataDir`, or over the `backend` given.
 *
 * @example
 * ```ts
 * const plane = createControlPlane(); // or createControlPlane({ dataDir: "./data" })
 * const widgets = plane.resources(Widget);
 * await widgets.create({ metadata: { name: "front", namespace: "shop" }, spec: { replicas: 2 } });
 * ```
 */
export function createControlPlane(options: ControlPlaneOptions = {}): ControlPlane {
  const { backend: given, kinds: initial = [], dataDir, durability, ...memoryOptions } = options;
  if (given !== undefined && dataDir !== undefined)
    throw new TypeError("give a backend or a dataDir, not both");
  const backend =
    given ??
    (dataDir === undefined
      ? new MemoryBackend(memoryOptions)
      : new DurableBackend({ ...memoryOptions, dataDir, ...(durability ? { durability } : {}) }));
  const kinds = new Map<string, AnyKind>();
  const register = (...more: AnyKind[]) => {
    for (const kind of more) {
      const id = kindId(kind);
      const known = kinds.get(id);
      if (known === undefined) kinds.set(id, kind);
      else if (
        known !== kind &&
        (known.version !== kind.version ||
          known.scope !== kind.scope ||
          known.plural !== kind.plural)
      ) {
        throw new TypeError(
          `kind ${id} is already registered as ${known.apiVersion} (${known.scope}, ${known.plural})`,
        );
      }
    }
  };
  register(...initial);
  return {
    backend,
    kinds,
    register,
    resources(kind, clientOptions = {}) {
      register(kind);
      return new Client(backend, kind, clientOptions.namespace);
    },
    close: () => backend.close(),
  };
}
