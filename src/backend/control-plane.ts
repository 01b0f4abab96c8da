import { NamespaceLifecycle } from "../kubernetes/namespace-lifecycle.js";
import { type AnyKind, kindId } from "../model/kind.js";
import type { Backend } from "./backend.js";
import { Client } from "./client.js";
import { DeferredBackend } from "./deferred-backend.js";
import { DurableBackend } from "./durable/durable-backend.js";
import { MemoryBackend, type MemoryBackendOptions } from "./memory/memory-backend.js";

/** A `pg` Pool, as far as the control plane's options need to know (the core does not import pg). */
export interface PostgresPool {
  readonly options: object;
  connect(): Promise<unknown>;
  end(): Promise<void>;
}

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
  /**
   * Keep the store in PostgreSQL: a connection string or a `pg` Pool (the optional peer
   * dependency `pg`, loaded only then). The plane is returned at once; calls wait for the
   * connection and the schema's migrations (`await plane.ready()` to wait, or to see an error
   * early). @default in memory only
   */
  readonly postgres?: string | PostgresPool;
  /** With `postgres`: the schema of the store's tables, so several planes share a database. @default "setpoint" */
  readonly schema?: string;
  /** Kinds to register up front; `resources(Kind)` registers the rest as they are used. @default [] */
  readonly kinds?: readonly AnyKind[];
}

/** A Backend plus the registry of the kinds it serves. */
export interface ControlPlane {
  readonly backend: Backend;
  /** Every registered kind, by `group/kind`. */
  readonly kinds: ReadonlyMap<string, AnyKind>;
  /**
   * The typed client of one kind (registering it), all namespaces or one. On setpoint's own
   * stores its first create into a namespace with no `Namespace` object creates one, and
   * deleting a `Namespace` deletes the objects of every kind registered here in it (see
   * {@link Client}).
   */
  resources<K extends AnyKind>(kind: K, options?: { readonly namespace?: string }): Client<K>;
  /** Adds kinds to the registry; a different kind of the same `group/kind` is a `TypeError`. */
  register(...kinds: AnyKind[]): void;
  /** Resolves once the store is ready (connected, migrated); rejects with why it is not. */
  ready(): Promise<void>;
  /** Closes the backend: ends every watch. */
  close(): Promise<void>;
}

/**
 * Creates a control plane: in memory, durable in `dataDir`, in PostgreSQL, or over the `backend`
 * given.
 *
 * @example
 * ```ts
 * const plane = createControlPlane(); // or createControlPlane({ dataDir: "./data" })
 * const widgets = plane.resources(Widget);
 * await widgets.create({ metadata: { name: "front", namespace: "shop" }, spec: { replicas: 2 } });
 * ```
 */
export function createControlPlane(options: ControlPlaneOptions = {}): ControlPlane {
  const {
    backend: given,
    kinds: initial = [],
    dataDir,
    durability,
    postgres,
    schema,
    ...memoryOptions
  } = options;
  const stores = [given, dataDir, postgres].filter((store) => store !== undefined).length;
  if (stores > 1) throw new TypeError("give one of backend, dataDir and postgres, not several");
  const backend =
    given ??
    (dataDir !== undefined
      ? new DurableBackend({ ...memoryOptions, dataDir, ...(durability ? { durability } : {}) })
      : postgres !== undefined
        ? new DeferredBackend(
            import("../postgres/index.js").then(({ connectPostgres }) =>
              connectPostgres({
                postgres: postgres as Parameters<typeof connectPostgres>[0]["postgres"],
                ...(schema === undefined ? {} : { schema }),
                ...(memoryOptions.maxObjectBytes === undefined
                  ? {}
                  : { maxObjectBytes: memoryOptions.maxObjectBytes }),
              }),
            ),
            { name: "postgres", durable: true },
          )
        : new MemoryBackend(memoryOptions));
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
  // Namespaces are kept by the plane's clients unless the store keeps them (a real API server);
  // a namespace's deletion sweeps the kinds registered here.
  const namespaces =
    backend.capabilities.keepsNamespaces === true
      ? false
      : new NamespaceLifecycle(backend, { kinds: () => kinds.values() });
  return {
    backend,
    kinds,
    register,
    resources(kind, clientOptions = {}) {
      register(kind);
      return new Client(backend, kind, clientOptions.namespace, { namespaces });
    },
    ready: async () => {
      if (backend instanceof DeferredBackend) await backend.ready();
    },
    close: () => backend.close(),
  };
}
