/**
 * The informer a controller reads a kind through: one {@link Informer} per namespace of its
 * scope (Kubernetes lists one namespace or all), seen as one cache.
 */
import type { Backend, StoredObject } from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import type { CacheChange, CacheReader } from "./cache.js";
import { Informer, type InformerOptions } from "./informer.js";
import { scopeNamespaces, type WatchScope } from "./scope.js";

/** Listens to a cache's changes; `fromList` for changes a (re)list found. */
export type CacheListener<T> = (change: CacheChange<T>, fromList: boolean) => void;

/**
 * A kind read within a {@link WatchScope}: list and watch only what the scope selects. Shared
 * by every controller of a manager that reads the kind with an equal scope.
 */
export class ScopedInformer<T extends StoredObject = StoredObject> {
  /** One per namespace of the scope, or one for every namespace. */
  readonly parts: readonly Informer<T>[];
  /** The objects of every part. */
  readonly cache: CacheReader<T>;

  constructor(
    backend: Backend,
    readonly kind: AnyKind,
    readonly scope: WatchScope | undefined,
    options: InformerOptions<T> = {},
  ) {
    const selectors = {
      ...(scope?.labelSelector === undefined ? {} : { labelSelector: scope.labelSelector }),
      ...(scope?.fieldSelector === undefined ? {} : { fieldSelector: scope.fieldSelector }),
    };
    const namespaces = scopeNamespaces(scope);
    this.parts =
      namespaces === undefined
        ? [new Informer<T>(backend, kind, { ...options, ...selectors })]
        : namespaces.map(
            (namespace) => new Informer<T>(backend, kind, { ...options, ...selectors, namespace }),
          );
    this.cache =
      this.parts.length === 1 ? this.parts[0]!.cache : mergedCache(this.parts.map((p) => p.cache));
  }

  /** Calls `listener` for every change of every part; returns a function that unsubscribes. */
  subscribe(listener: CacheListener<T>): () => void {
    const unsubscribe = this.parts.map((part) => part.writer.subscribe(listener));
    return () => {
      for (const stop of unsubscribe) stop();
    };
  }

  /** Lists and watches until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return Promise.all(this.parts.map((part) => part.run(signal))).then(() => {});
  }
}

/** Caches of disjoint namespaces as one: each object is in at most one of them. */
function mergedCache<T extends StoredObject>(caches: readonly CacheReader<T>[]): CacheReader<T> {
  return {
    get(key) {
      for (const cache of caches) {
        const found = cache.get(key);
        if (found !== undefined) return found;
      }
      return undefined;
    },
    list: (options) => caches.flatMap((cache) => cache.list(options)),
    byIndex: (index, value) => caches.flatMap((cache) => cache.byIndex(index, value)),
    byOwner: (uid) => caches.flatMap((cache) => cache.byOwner(uid)),
    *keys() {
      for (const cache of caches) yield* cache.keys();
    },
    get size() {
      return caches.reduce((sum, cache) => sum + cache.size, 0);
    },
    get isReady() {
      return caches.every((cache) => cache.isReady);
    },
    ready: () => Promise.all(caches.map((cache) => cache.ready())).then(() => {}),
  };
}
