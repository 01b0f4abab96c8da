/**
 * Defining controllers: `controller(Kind, {name, reconcile, …})` for a kind, with `.owns`,
 * `.watches` and `.source`; or `controller({name, reconcile})` with `.source` alone, for things
 * that live outside any store. A controller is a description; a {@link Manager} runs it.
 */
import type { StoredObject } from "../backend/backend.js";
import type { Client } from "../backend/client.js";
import type { ControlPlane } from "../backend/control-plane.js";
import type { CacheReader } from "../cache/cache.js";
import { scopeKey, scopeNamespaces, type WatchScope } from "../cache/scope.js";
import type { LeaseTiming } from "../coordination/leader-election.js";
import type { AnyKind, ResourceOf } from "../model/kind.js";
import type { ObjectKey } from "../model/resource.js";
import type { Logger } from "../observability/logging.js";
import type { RateLimiter } from "../queue/rate-limiter.js";
import type { Action } from "./action.js";
import type { EventRecorder } from "./events.js";
import type { Source } from "./source.js";

/** Why a key is being reconciled. */
export type ReconcileReason =
  /** The object appeared (or was there when the controller started). */
  | "added"
  /** Its spec, metadata or deletion state changed. */
  | "changed"
  /** An object it controls (`.owns`) changed. */
  | "owned"
  /** A related object (`.watches`) changed. */
  | "watched"
  /** A source fed the key. */
  | "source"
  /** The reconcile asked for it (`requeueAfter`). */
  | "requeue"
  /** The last reconcile failed. */
  | "retry"
  /** The periodic resync. */
  | "resync"
  /**
   * A source said the key is gone (a poll no longer lists its item): the last reconcile, to
   * clean up. A controller on sources alone gets the item as it was last listed; once such a
   * reconcile succeeds the item is forgotten (unless it came back meanwhile).
   */
  | "gone"
  /** `reconcileAll()`. */
  | "manual";

/** What every reconcile gets besides its object. */
export interface BaseContext {
  /** Aborts on shutdown (after the grace period), lost leadership and the reconcile timeout. */
  readonly signal: AbortSignal;
  /** The key being reconciled: `namespace/name`, or `name`, or a source's key. */
  readonly key: string;
  readonly reason: ReconcileReason;
  /** The control plane the manager runs on: a client for any kind. */
  readonly plane: ControlPlane;
  /** A logger bound to the controller, kind, key and a reconcile id. */
  readonly log: Logger;
}

/** What a reconcile of an object of kind `K` gets. */
export interface ReconcileContext<K extends AnyKind> extends BaseContext {
  /** The typed client of the controller's kind. */
  readonly client: Client<K>;
  /** The controller's cache of its kind. */
  readonly cache: CacheReader<ResourceOf<K>>;
  /**
   * The shared cache of another kind — one the controller owns or watches is already synced;
   * any other starts being watched on first use. Read children with `byOwner(uid)`.
   */
  cacheOf<C extends AnyKind>(kind: C): CacheReader<ResourceOf<C>>;
  /** Records Events about the object being reconciled. */
  readonly events: EventRecorder;
}

/**
 * The context the runner hands every reconcile, `errorPolicy` and finalizer `cleanup`, typed for
 * any controller: a {@link ReconcileContext} for a controller of a kind; a controller on sources
 * alone has no kind, so its `client` and `cache` are `undefined` and it sees a
 * {@link BaseContext}. Internal: the runner's view, not part of the public API.
 */
export interface RunnerContext extends BaseContext {
  readonly client: Client<AnyKind> | undefined;
  readonly cache: CacheReader | undefined;
  cacheOf<C extends AnyKind>(kind: C): CacheReader<ResourceOf<C>>;
  readonly events: EventRecorder;
}

/** What a reconcile returns: an {@link Action}, or nothing for `done()`. */
// biome-ignore lint/suspicious/noConfusingVoidType: a reconcile may simply not return
export type ReconcileResult = Action | undefined | void;

/** Guaranteed cleanup before an object goes: see {@link ControllerOptions.finalizer}. */
export interface FinalizerOptions<T, C> {
  /** The finalizer's name, a qualified name such as `example.com/cleanup`. */
  readonly name: string;
  /** Undoes what reconcile did in the world. Retried with backoff until it resolves. */
  cleanup(object: T, context: C): Promise<void> | void;
}

/** Options shared by every controller. */
interface CommonOptions<T, C> {
  /** Names the controller in logs and metrics; unique within a manager. */
  readonly name: string;
  /** Drives the world toward `object`'s spec. Idempotent: it runs again on every trigger. */
  reconcile(object: T, context: C): Promise<ReconcileResult> | ReconcileResult;
  /**
   * Decides what a failed reconcile does next; return nothing for the default, a retry with
   * per-key exponential backoff. A `TerminalError` is never retried and skips this.
   */
  errorPolicy?(error: unknown, object: T, context: C): Action | undefined;
  /** Reconciles running at once, for different keys. @default 1 */
  readonly concurrency?: number;
  /** Each reconcile's signal aborts after this long. @default 300_000 */
  readonly reconcileTimeoutMs?: number;
  /** Retries of failed keys. @default per-key exponential backoff from 5 ms to 5 minutes */
  readonly rateLimiter?: RateLimiter<string>;
}

/** How a controller's keys are split among replicas: see {@link ControllerOptions.shards}. */
export interface ShardOptions extends LeaseTiming {
  /** How many shard Leases. */
  readonly count: number;
}

/** Options of a controller of a kind. */
export interface ControllerOptions<K extends AnyKind>
  extends CommonOptions<ResourceOf<K>, ReconcileContext<K>> {
  /**
   * Reconcile every object this often, jittered by ±10%, in the low-priority lane; 0 turns it
   * off. @default 300_000
   */
  readonly resyncMs?: number;
  /**
   * Splits the keys among the live replicas running this controller: `count` shard Leases, a
   * fair share held by each replica, which reconciles only keys of shards it holds (see
   * `ShardSet`). Timings as leader election's, defaults included. @default not sharded
   */
  readonly shards?: ShardOptions;
  /**
   * Guaranteed cleanup: the finalizer is added before the first reconcile of an object; when
   * the object is being deleted, `cleanup` runs instead of `reconcile` (retried with backoff
   * until it succeeds), then the finalizer is removed with a resourceVersion precondition.
   */
  readonly finalizer?: FinalizerOptions<ResourceOf<K>, ReconcileContext<K>>;
  /**
   * Which objects of the kind to reconcile: their namespace(s) and selectors, passed to every
   * list and watch (kube-runtime's `watcher::Config`). `.owns()` and `.watches()` take their
   * own. @default every object of the kind
   */
  readonly scope?: WatchScope;
  /**
   * Waits this long after a change (of the object, a child, a watched object) before
   * reconciling, and again after each further change, so that a burst of changes makes one
   * reconcile (kube-runtime's `Config::debounce`, trailing edge). Unlike kube-runtime's, a key
   * waits at most `debounceMaxWaitMs` after the first change of a burst: an object that never
   * stops changing is still reconciled. Requeues, retries, resyncs and the initial list are not
   * debounced. @default 0 (reconcile at once)
   */
  readonly debounceMs?: number;
  /** The longest a change waits for its debounced reconcile. @default 10 × `debounceMs` */
  readonly debounceMaxWaitMs?: number;
}

/** Where `.owns()` and `.watches()` read their kind. */
export interface RelationOptions {
  /**
   * Which objects of the kind to read. A namespaced controller's owned kind must be read in
   * every namespace the controller's own kind is (children live in their owner's namespace): a
   * scope that would miss children is refused at once. Children must also match the scope's
   * selectors to be seen. @default every object of the kind
   */
  readonly scope?: WatchScope;
}

/** Options of a controller that runs on sources alone. */
export type FeedControllerOptions<T> = CommonOptions<T, BaseContext>;

/**
 * A controller's options as the runner reads them, whatever its kind: those of
 * {@link ControllerOptions} and {@link FeedControllerOptions}, with the runner's context.
 */
export interface ControllerSettings<T> extends CommonOptions<T, RunnerContext> {
  readonly resyncMs?: number;
  readonly scope?: WatchScope;
  readonly debounceMs?: number;
  readonly debounceMaxWaitMs?: number;
  readonly shards?: ShardOptions;
  readonly finalizer?: FinalizerOptions<T, RunnerContext>;
}

/** Maps a related object to the keys of the objects to reconcile. */
export type Mapper<T> = (
  object: T,
) => Iterable<string | ObjectKey> | string | ObjectKey | undefined;

/** A controller: what to reconcile, how, and what triggers it. Run it with a Manager. */
export class Controller<T = unknown> {
  /** Child kinds whose changes trigger their controlling owner. */
  readonly owned: AnyKind[] = [];
  /** Related kinds and the mappers from their objects to keys. */
  readonly related: { kind: AnyKind; mapper: Mapper<StoredObject> }[] = [];
  readonly sources: Source<unknown>[] = [];
  /** The scope each kind is read in (the own kind's, and those `.owns()`/`.watches()` gave). */
  private readonly scopes = new Map<AnyKind, { scope: WatchScope | undefined; key: string }>();

  /** @internal Use {@link controller}. */
  constructor(
    /** The primary kind; `undefined` for a controller on sources alone. */
    readonly kind: AnyKind | undefined,
    readonly options: ControllerSettings<T>,
  ) {
    const { name, concurrency = 1, reconcileTimeoutMs = 300_000, resyncMs = 300_000 } = options;
    if (typeof name !== "string" || name === "")
      throw new TypeError("controller: name must be a non-empty string");
    if (typeof options.reconcile !== "function")
      throw new TypeError(`controller "${name}": reconcile must be a function`);
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new RangeError(
        `controller "${name}": concurrency (${concurrency}) must be a positive integer`,
      );
    if (!(reconcileTimeoutMs > 0))
      throw new RangeError(
        `controller "${name}": reconcileTimeoutMs (${reconcileTimeoutMs}) must be positive`,
      );
    if (!(resyncMs >= 0))
      throw new RangeError(`controller "${name}": resyncMs (${resyncMs}) must not be negative`);
    if (options.finalizer !== undefined && kind === undefined)
      throw new TypeError(`controller "${name}": a finalizer needs a kind`);
    const { debounceMs = 0, debounceMaxWaitMs = 10 * debounceMs } = options;
    if (!(debounceMs >= 0) || !Number.isFinite(debounceMs))
      throw new RangeError(`controller "${name}": debounceMs (${debounceMs}) must not be negative`);
    if (!(debounceMaxWaitMs >= debounceMs) || !Number.isFinite(debounceMaxWaitMs))
      throw new RangeError(
        `controller "${name}": debounceMaxWaitMs (${debounceMaxWaitMs}) must be at least debounceMs (${debounceMs})`,
      );
    if (kind !== undefined) this.setScope(kind, options.scope, "its own kind");
    else if (options.scope !== undefined)
      throw new TypeError(`controller "${name}": a scope needs a kind`);
  }

  /** The scope `kind` is read in; `undefined` for every object of it. */
  scopeOf(kind: AnyKind): WatchScope | undefined {
    return this.scopes.get(kind)?.scope;
  }

  private setScope(kind: AnyKind, scope: WatchScope | undefined, what: string): void {
    const key = scopeKey(scope, `controller "${this.name}": ${what} (${kind.kind})`);
    const known = this.scopes.get(kind);
    if (known !== undefined && known.key !== key)
      throw new TypeError(
        `controller "${this.name}": ${kind.kind} is read in two different scopes (${JSON.stringify(known.key || "everything")} and ${JSON.stringify(key || "everything")}); give it one`,
      );
    this.scopes.set(kind, { scope, key });
  }

  get name(): string {
    return this.options.name;
  }

  /**
   * Reconciles the controlling owner of every object of `kind` that changes (its
   * `ownerReference` with `controller: true` naming this controller's kind).
   */
  owns(kind: AnyKind, options: RelationOptions = {}): this {
    const own = this.kind;
    if (own === undefined)
      throw new TypeError(`controller "${this.name}": owns() needs a controller of a kind`);
    const childNamespaces = scopeNamespaces(options.scope);
    // A namespaced owner's children are in its namespace; a cluster-scoped owner's anywhere.
    if (
      own.scope === "Namespaced" &&
      kind.scope === "Namespaced" &&
      childNamespaces !== undefined
    ) {
      const ownNamespaces = scopeNamespaces(this.options.scope);
      const missed =
        ownNamespaces === undefined
          ? "every other namespace"
          : ownNamespaces.filter((n) => !childNamespaces.includes(n)).join(", ");
      if (missed !== "")
        throw new TypeError(
          `controller "${this.name}": owns(${kind.kind}) reads namespaces ${childNamespaces.join(", ")}, but children are written in their owner's namespace, and ${own.kind}s are read in ${missed} too: a child there would never be seen. Read ${kind.kind} in the same namespaces as ${own.kind}`,
        );
    }
    this.setScope(kind, options.scope, "owns()");
    this.owned.push(kind);
    return this;
  }

  /** Reconciles the keys `mapper` returns for every object of `kind` that changes. */
  watches<R extends AnyKind>(
    kind: R,
    mapper: Mapper<ResourceOf<R>>,
    options: RelationOptions = {},
  ): this {
    this.setScope(kind, options.scope, "watches()");
    // The cache of `kind` holds its objects: the mapper is only ever given those.
    this.related.push({ kind, mapper: mapper as Mapper<StoredObject> });
    return this;
  }

  /**
   * Feeds keys from outside the store: {@link poll}, {@link fromAsyncIterable} or your own. A
   * controller of a kind uses only the keys (object keys, `namespace/name`); one on sources alone
   * reconciles the items.
   */
  source<S extends T | unknown>(source: Source<S>): this {
    this.sources.push(source as Source<unknown>);
    return this;
  }
}

/**
 * Defines a controller of a kind, or (with no kind) one that runs on sources alone.
 *
 * @example
 * ```ts
 * const widgets = controller(Widget, {
 *   name: "widgets",
 *   async reconcile(widget, { log }) {
 *     log.info({ replicas: widget.spec.replicas }, "reconciling");
 *     return requeueAfter(30_000);
 *   },
 * }).owns(Gadget);
 * ```
 */
export function controller<K extends AnyKind>(
  kind: K,
  options: ControllerOptions<K>,
): Controller<ResourceOf<K>>;
export function controller<T>(options: FeedControllerOptions<T>): Controller<T>;
export function controller(
  kindOrOptions: AnyKind | FeedControllerOptions<unknown>,
  options?: ControllerOptions<AnyKind>,
): Controller {
  if (options !== undefined) return new Controller(kindOrOptions as AnyKind, options);
  return new Controller(undefined, kindOrOptions as FeedControllerOptions<unknown>);
}
