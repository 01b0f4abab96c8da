/**
 * The namespace lifecycle Kubernetes' API server keeps, over any Backend: namespaces are created
 * the Kubernetes way (`spec.finalizers: [kubernetes]`, the `kubernetes.io/metadata.name` label,
 * phase `Active`); writes into a missing namespace are refused (or, for the typed client of
 * setpoint's own stores, create it), creates into a terminating one are refused; a deleted
 * namespace turns `Terminating` (`deletionTimestamp`, `status.phase`), its content is deleted —
 * finalizers honoured — and it goes once nothing is left.
 *
 * ## Guarantees
 * - Every step is idempotent and keyed on what the store holds, not on memory: a namespace left
 *   `Terminating` by a process that died is finished by the next {@link NamespaceLifecycle.run}
 *   (its informer lists every namespace at start), and several processes sharing a store
 *   (PostgreSQL) may all run one: they delete the same objects (NotFound is fine) and release
 *   the namespace with a compare-and-swap on `resourceVersion`.
 * - A namespace is released only after a pass that found no content of any kind it knows.
 *
 * ## Caveats
 * - Only the kinds it is given are swept: objects of a kind no running process knows stay
 *   behind, as in Kubernetes for a resource the API server no longer serves.
 * - An object whose create passed the namespace check just before the deletion began and
 *   landed after the last pass found the namespace empty outlives it (Kubernetes has the same
 *   window).
 */
import type { Backend, DeleteOptions, StoredObject, WriteOptions } from "../backend/backend.js";
import { Informer } from "../cache/informer.js";
import { ApiError } from "../model/api-error.js";
import { type Clock, systemClock } from "../model/clock.js";
import { type AnyKind, kindId } from "../model/kind.js";
import {
  isNamespaceName,
  isTerminating,
  Namespace,
  namespaceFinalizer,
  namespaceNameLabel,
  namespaceNotFound,
  namespaceTerminating,
  namespaceUndeletable,
  systemNamespaces,
} from "../model/namespace.js";
import type { Frozen, ResourceInput } from "../model/resource.js";
import { type Logger, silentLogger } from "../observability/logging.js";
import { ExponentialBackoff } from "../queue/rate-limiter.js";
import { WorkQueue } from "../queue/work-queue.js";
import { listAll } from "./list-pages.js";

/** Options of {@link NamespaceLifecycle}. */
export interface NamespaceLifecycleOptions {
  /**
   * The kinds whose objects a deleted namespace's content is made of, asked for at every pass
   * (so kinds defined later count). Without it a deleted namespace is only marked
   * `Terminating`: nothing is swept, and a lifecycle that knows the kinds must finish it.
   */
  readonly kinds?: () => Iterable<AnyKind>;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default silentLogger() */
  readonly log?: Logger;
  /**
   * How long {@link NamespaceLifecycle.run} waits before looking again at a namespace whose
   * content is still held by finalizers, doubling up to {@link maxRecheckMs}. @default 200
   */
  readonly recheckMs?: number;
  /** @default 5_000 */
  readonly maxRecheckMs?: number;
}

/** What one pass over a namespace found. */
export type NamespaceState =
  /** Not being deleted. */
  | "active"
  /** Being deleted; content or finalizers still hold it. */
  | "terminating"
  /** Gone from the store. */
  | "gone";

/** What a check before a write does about a namespace with no Namespace object. */
export type MissingNamespace = "refuse" | "create";

type NamespaceObject = StoredObject;

function statusOf(namespace: NamespaceObject): {
  phase?: string;
  conditions?: readonly NamespaceCondition[];
} {
  return (namespace.status ?? {}) as { phase?: string; conditions?: NamespaceCondition[] };
}

interface NamespaceCondition {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly lastTransitionTime?: string;
  readonly reason?: string;
  readonly message?: string;
}

/**
 * Keeps Kubernetes' namespace lifecycle on a Backend; see the module documentation.
 * Constructing one does no I/O; {@link run} watches namespaces and finishes deleted ones.
 *
 * @example
 * ```ts
 * const lifecycle = new NamespaceLifecycle(plane.backend, { kinds: () => plane.kinds.values() });
 * void lifecycle.run(signal); // finishes every namespace deleted, now or later
 * await lifecycle.delete("shop"); // Terminating now; gone once its content is
 * ```
 */
export class NamespaceLifecycle {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly recheckMs: number;
  private readonly maxRecheckMs: number;
  private queue: WorkQueue<string> | undefined;
  /**
   * Namespaces seen active, until when (clock time): a library write into one skips the read of
   * its Namespace for a second (every create would otherwise cost a store round trip more). The
   * served API, which must refuse writes into missing or terminating namespaces, never uses it.
   */
  private readonly seenActive = new Map<string, number>();

  constructor(
    private readonly backend: Backend,
    private readonly options: NamespaceLifecycleOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.recheckMs = options.recheckMs ?? 200;
    this.maxRecheckMs = options.maxRecheckMs ?? 5_000;
    if (!(this.recheckMs > 0))
      throw new RangeError(`recheckMs (${this.recheckMs}) must be positive`);
    if (!(this.maxRecheckMs >= this.recheckMs))
      throw new RangeError(
        `maxRecheckMs (${this.maxRecheckMs}) must be at least recheckMs (${this.recheckMs})`,
      );
  }

  /** The namespace `name` as stored, or `undefined`. */
  async get(name: string): Promise<NamespaceObject | undefined> {
    try {
      return await this.backend.get(Namespace, { name });
    } catch (err) {
      if (ApiError.is(err, "NotFound")) return undefined;
      throw err;
    }
  }

  /**
   * Checks a write of an object of `kind` into `namespace`, as Kubernetes' `NamespaceLifecycle`
   * admission does: a missing namespace is `NotFound` (or, with `missing: "create"`, created —
   * not on a dry run, and only after `write.check`, a dry run of the write itself, passed, so
   * that a write the store refuses leaves no namespace behind), and a create into a terminating
   * one is `Forbidden`. A namespace name that is not a DNS label is left for the store to refuse
   * as `Invalid`.
   */
  async admit(
    kind: { readonly group: string; readonly plural: string },
    namespace: string,
    write: {
      readonly name: string | undefined;
      readonly creates: boolean | (() => Promise<boolean>);
      readonly missing: MissingNamespace;
      readonly dryRun?: boolean | undefined;
      readonly check?: () => Promise<unknown>;
    },
  ): Promise<void> {
    if (!isNamespaceName(namespace)) return;
    const lenient = write.missing === "create";
    if (lenient && (this.seenActive.get(namespace) ?? -1) > this.clock.now()) return;
    const found = await this.get(namespace);
    if (found === undefined) {
      if (write.missing === "refuse") throw namespaceNotFound(namespace);
      if (write.dryRun) return;
      await write.check?.();
      await this.create({ metadata: { name: namespace }, spec: {} }).catch(alreadyThere);
      return;
    }
    if (!isTerminating(found)) {
      if (lenient) {
        if (this.seenActive.size > 10_000) this.seenActive.clear();
        this.seenActive.set(namespace, this.clock.now() + 1_000);
      }
      return;
    }
    const creates = typeof write.creates === "function" ? await write.creates() : write.creates;
    if (creates) throw namespaceTerminating(kind, write.name, namespace);
  }

  /**
   * Creates a namespace as Kubernetes does: `spec.finalizers` holds `kubernetes`, the label
   * `kubernetes.io/metadata.name` names it, and its phase is `Active` (written as a second,
   * status write; {@link run} fills in a phase a crash left out).
   */
  async create(
    object: Frozen<ResourceInput> | ResourceInput,
    options: WriteOptions = {},
  ): Promise<NamespaceObject> {
    const prepared = withNamespaceDefaults(object);
    const created = await this.backend.create(Namespace, prepared, options);
    let result = created;
    const name = created.metadata.name;
    if (created.metadata.labels?.[namespaceNameLabel] !== name && !options.dryRun) {
      // A generated name is known only now.
      result = await this.backend.patch(
        Namespace,
        { name },
        { type: "merge", patch: { metadata: { labels: { [namespaceNameLabel]: name } } } },
      );
    }
    const active = { ...result, status: { ...(result.status ?? {}), phase: "Active" } };
    if (options.dryRun) return active as NamespaceObject;
    try {
      return await this.backend.updateStatus(Namespace, active as never);
    } catch (err) {
      // Someone else wrote it in between (deleted it, or set its phase): theirs stands.
      if (ApiError.is(err, "Conflict") || ApiError.is(err, "NotFound")) return result;
      throw err;
    }
  }

  /**
   * Begins deleting a namespace: it keeps the `kubernetes` finalizer, gets `deletionTimestamp`
   * and phase `Terminating`; its content goes next ({@link finish}, or {@link run}). Deleting a
   * terminating namespace again changes nothing. `default`, `kube-system` and `kube-public` may
   * not be deleted (`Forbidden`). Preconditions are checked before anything is written.
   */
  async delete(name: string, options: DeleteOptions = {}): Promise<NamespaceObject> {
    if (systemNamespaces.includes(name)) throw namespaceUndeletable(name);
    this.seenActive.delete(name);
    // A dry run checks existence and preconditions, and writes nothing.
    const checked = await this.backend.delete(Namespace, { name }, { ...options, dryRun: true });
    if (options.dryRun) return terminatingView(checked, this.clock);
    let current = await this.backend.get(Namespace, { name });
    if (current.metadata.deletionTimestamp === undefined) {
      if (!(current.metadata.finalizers ?? []).includes(namespaceFinalizer)) {
        current = await this.backend.patch(
          Namespace,
          { name },
          {
            type: "merge",
            patch: {
              metadata: {
                resourceVersion: current.metadata.resourceVersion,
                finalizers: [...(current.metadata.finalizers ?? []), namespaceFinalizer],
              },
            },
          },
        );
      }
      current = await this.backend.delete(Namespace, { name }, { fence: options.fence });
    }
    this.queue?.add(name);
    return await this.setPhase(current, "Terminating");
  }

  /**
   * One pass over a namespace: a namespace not being deleted gets a phase if it has none; a
   * deleted one turns `Terminating`, every object of the known kinds in it is deleted, what
   * finalizers still hold is reported in its conditions (`NamespaceContentRemaining`,
   * `NamespaceFinalizersRemaining`), and once nothing is left the `kubernetes` finalizer goes —
   * and with it the namespace, unless other finalizers hold it.
   */
  async finish(name: string): Promise<NamespaceState> {
    let namespace = await this.get(name);
    if (namespace === undefined) return "gone";
    if (namespace.metadata.deletionTimestamp === undefined) {
      if (statusOf(namespace).phase === undefined)
        await this.setPhase(namespace, isTerminating(namespace) ? "Terminating" : "Active");
      return "active";
    }
    namespace = await this.setPhase(namespace, "Terminating");
    const kinds = this.options.kinds;
    if (kinds === undefined) return "terminating";

    const remaining = new Map<string, number>();
    const byFinalizer = new Map<string, number>();
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const kind of kinds()) {
      const id = kindId(kind);
      if (kind.scope !== "Namespaced" || seen.has(id)) continue;
      seen.add(id);
      const resource = `${kind.plural}.${kind.group}`;
      for (const object of await this.listAll(kind, name)) {
        if (object.metadata.deletionTimestamp !== undefined) continue;
        try {
          await this.backend.delete(
            kind,
            { namespace: name, name: object.metadata.name },
            { preconditions: { uid: object.metadata.uid } },
          );
        } catch (err) {
          if (ApiError.is(err, "NotFound") || ApiError.is(err, "Conflict")) continue;
          failures.push(`${resource} "${object.metadata.name}": ${(err as Error).message}`);
        }
      }
      for (const object of await this.listAll(kind, name)) {
        remaining.set(resource, (remaining.get(resource) ?? 0) + 1);
        for (const finalizer of object.metadata.finalizers ?? [])
          byFinalizer.set(finalizer, (byFinalizer.get(finalizer) ?? 0) + 1);
      }
    }
    if (remaining.size > 0 || failures.length > 0) {
      await this.report(namespace, remaining, byFinalizer, failures);
      return "terminating";
    }
    const finalizers = (namespace.metadata.finalizers ?? []).filter(
      (f) => f !== namespaceFinalizer,
    );
    const spec = (namespace.spec ?? {}) as { finalizers?: string[] };
    const released = await this.backend.update(Namespace, {
      ...namespace,
      metadata: { ...namespace.metadata, finalizers },
      spec: {
        ...spec,
        finalizers: (spec.finalizers ?? []).filter((f) => f !== namespaceFinalizer),
      },
    } as never);
    this.log.info({ namespace: name }, "namespace content deleted");
    return (released.metadata.finalizers?.length ?? 0) > 0 ? "terminating" : "gone";
  }

  /**
   * Watches namespaces until `signal` aborts: finishes every deleted one (those a crashed
   * process left too: the first list has them), looking again at one held by finalizers after
   * {@link NamespaceLifecycleOptions.recheckMs} (doubling), and gives a phase to those that lack
   * one. Once at the start, it gives a Namespace object to every namespace in use that has none
   * (objects written before setpoint kept namespaces). Resolves once stopped.
   */
  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue<string>({
      clock: this.clock,
      rateLimiter: new ExponentialBackoff({ baseMs: this.recheckMs, maxMs: this.maxRecheckMs }),
    });
    this.queue = queue;
    const informer = new Informer(this.backend, Namespace, { clock: this.clock });
    informer.writer.subscribe((change) => {
      if (change.type === "deleted") return;
      const { object } = change;
      if (object.metadata.deletionTimestamp !== undefined || statusOf(object).phase === undefined)
        queue.add(object.metadata.name);
    });
    const stop = () => queue.shutDown();
    signal.addEventListener("abort", stop, { once: true });
    const watching = informer.run(signal);
    const adopting = informer.cache
      .ready()
      .then(() => this.adoptNamespaces((name) => informer.cache.get(name) !== undefined, signal))
      .catch((err) => {
        if (!signal.aborted) this.log.warn({ err }, "could not look for namespaces in use");
      });
    try {
      for (;;) {
        const name = await queue.get();
        if (name === undefined) break;
        try {
          const state = await this.finish(name);
          if (state === "terminating") queue.addRateLimited(name);
          else queue.forget(name);
        } catch (err) {
          if (!signal.aborted)
            this.log.warn({ err, namespace: name }, "could not finish a namespace; retrying");
          queue.addRateLimited(name);
        } finally {
          queue.done(name);
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
      if (this.queue === queue) this.queue = undefined;
      await Promise.all([watching, adopting]);
    }
  }

  /**
   * Gives a Namespace object to every namespace that holds objects of the known kinds but has
   * none (written before setpoint kept namespaces, or through a Backend directly), so that
   * `kubectl get namespaces` shows it and writes into it are not refused. Reads each kind once,
   * a page at a time.
   */
  private async adoptNamespaces(
    known: (name: string) => boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const kinds = this.options.kinds;
    if (kinds === undefined) return;
    const inUse = new Set<string>();
    const seen = new Set<string>();
    for (const kind of kinds()) {
      const id = kindId(kind);
      if (kind.scope !== "Namespaced" || seen.has(id)) continue;
      seen.add(id);
      let token: string | undefined;
      do {
        if (signal.aborted) return;
        const page = await this.backend.list(kind, {
          limit: 500,
          ...(token === undefined ? {} : { continue: token }),
        });
        for (const object of page.items)
          if (object.metadata.namespace !== undefined) inUse.add(object.metadata.namespace);
        token = page.continue;
      } while (token);
    }
    for (const name of inUse) {
      if (signal.aborted) return;
      if (known(name) || !isNamespaceName(name) || (await this.get(name)) !== undefined) continue;
      // Still in use now? (A namespace finished meanwhile is not brought back.)
      let used = false;
      for (const kind of kinds())
        if (kind.scope === "Namespaced" && !used)
          used = (await this.backend.list(kind, { namespace: name, limit: 1 })).items.length > 0;
      if (!used) continue;
      await this.create({ metadata: { name }, spec: {} }).catch(alreadyThere);
      this.log.info({ namespace: name }, "created a Namespace for a namespace in use");
    }
  }

  /** Creates `default`, `kube-system` and `kube-public` where they are missing. */
  async createSystemNamespaces(): Promise<void> {
    for (const name of systemNamespaces) {
      if ((await this.get(name)) !== undefined) continue;
      await this.create({ metadata: { name }, spec: {} }).catch(alreadyThere);
    }
  }

  private async listAll(kind: AnyKind, namespace: string): Promise<StoredObject[]> {
    return (await listAll(this.backend, kind, { namespace })).items;
  }

  private async setPhase(
    namespace: NamespaceObject,
    phase: "Active" | "Terminating",
  ): Promise<NamespaceObject> {
    if (statusOf(namespace).phase === phase) return namespace;
    try {
      return await this.backend.updateStatus(Namespace, {
        ...namespace,
        status: { ...statusOf(namespace), phase },
      } as never);
    } catch (err) {
      if (!ApiError.is(err, "Conflict")) throw err;
      // Written meanwhile: read it again; a later pass settles the phase.
      return (await this.get(namespace.metadata.name)) ?? namespace;
    }
  }

  /** Writes what holds a terminating namespace into its conditions, when that changed. */
  private async report(
    namespace: NamespaceObject,
    remaining: ReadonlyMap<string, number>,
    byFinalizer: ReadonlyMap<string, number>,
    failures: readonly string[],
  ): Promise<void> {
    const list = (entries: Iterable<[string, number]>, format: (k: string, n: number) => string) =>
      [...entries].map(([k, n]) => format(k, n)).sort();
    const wanted: NamespaceCondition[] = [
      failures.length > 0
        ? {
            type: "NamespaceDeletionContentFailure",
            status: "True",
            reason: "ContentDeletionFailed",
            message: `Failed to delete all resource types, ${failures.length} remaining: ${failures.join(", ")}`,
          }
        : {
            type: "NamespaceDeletionContentFailure",
            status: "False",
            reason: "ContentDeleted",
            message: "All content successfully deleted, may be waiting on finalization",
          },
      remaining.size > 0
        ? {
            type: "NamespaceContentRemaining",
            status: "True",
            reason: "SomeResourcesRemain",
            message: `Some resources are remaining: ${list(remaining, (r, n) => `${r} has ${n} resource instances`).join(", ")}`,
          }
        : {
            type: "NamespaceContentRemaining",
            status: "False",
            reason: "ContentRemoved",
            message: "All content successfully removed",
          },
      byFinalizer.size > 0
        ? {
            type: "NamespaceFinalizersRemaining",
            status: "True",
            reason: "SomeFinalizersRemain",
            message: `Some content in the namespace has finalizers remaining: ${list(byFinalizer, (f, n) => `${f} in ${n} resource instances`).join(", ")}`,
          }
        : {
            type: "NamespaceFinalizersRemaining",
            status: "False",
            reason: "ContentHasNoFinalizers",
            message: "All content-preserving finalizers finished",
          },
    ];
    const current = statusOf(namespace).conditions ?? [];
    const now = `${new Date(this.clock.wallNow()).toISOString().slice(0, 19)}Z`;
    let changed = false;
    const conditions = wanted.map((condition) => {
      const previous = current.find((c) => c.type === condition.type);
      if (
        previous !== undefined &&
        previous.status === condition.status &&
        previous.message === condition.message &&
        previous.reason === condition.reason
      )
        return previous;
      changed = true;
      return {
        ...condition,
        lastTransitionTime:
          previous !== undefined && previous.status === condition.status
            ? previous.lastTransitionTime
            : now,
      };
    });
    if (!changed) return;
    const others = current.filter((c) => !wanted.some((w) => w.type === c.type));
    try {
      await this.backend.updateStatus(Namespace, {
        ...namespace,
        status: { ...statusOf(namespace), conditions: [...others, ...conditions] },
      } as never);
    } catch (err) {
      if (!ApiError.is(err, "Conflict") && !ApiError.is(err, "NotFound")) throw err;
    }
  }
}

/** A namespace object as Kubernetes creates it: label, `spec.finalizers`. */
function withNamespaceDefaults(object: Frozen<ResourceInput> | ResourceInput): ResourceInput {
  const metadata = (object.metadata ?? {}) as NonNullable<ResourceInput["metadata"]>;
  const spec = ((object as { spec?: unknown }).spec ?? {}) as { finalizers?: readonly string[] };
  const finalizers = spec.finalizers ?? [];
  const name = metadata.name;
  return {
    ...(object as ResourceInput),
    metadata: {
      ...metadata,
      ...(name ? { labels: { ...(metadata.labels ?? {}), [namespaceNameLabel]: name } } : {}),
    },
    spec: {
      ...spec,
      finalizers: finalizers.includes(namespaceFinalizer)
        ? [...finalizers]
        : [...finalizers, namespaceFinalizer],
    },
  } as ResourceInput;
}

/** How a namespace would look once its deletion began (for a dry run). */
function terminatingView(namespace: NamespaceObject, clock: Clock): NamespaceObject {
  if (namespace.metadata.deletionTimestamp !== undefined) return namespace;
  return {
    ...namespace,
    metadata: {
      ...namespace.metadata,
      deletionTimestamp: `${new Date(clock.wallNow()).toISOString().slice(0, 19)}Z`,
      deletionGracePeriodSeconds: 0,
    },
    status: { ...(namespace.status ?? {}), phase: "Terminating" },
  } as NamespaceObject;
}

function alreadyThere(err: unknown): void {
  if (!ApiError.is(err, "AlreadyExists")) throw err;
}
