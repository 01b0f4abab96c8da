/**
 * The cache a watcher feeds: the latest version of every object of a kind, with indexes, read
 * by controllers without touching the backend. A reader and a writer are separate objects: only
 * the watcher writes.
 */
import type { StoredObject } from "../backend/backend.js";
import { keyString, type ObjectKey } from "../model/resource.js";
import { type LabelSelectorInput, toLabelSelector } from "../model/selector.js";

/** Computes the index values of an object, e.g. `(o) => [o.spec.nodeName]`. */
export type Indexer<T> = (object: T) => readonly string[];

/** A change the cache made, as subscribers see it. */
export type CacheChange<T> =
  | { readonly type: "added"; readonly object: T }
  | { readonly type: "updated"; readonly object: T; readonly previous: T }
  | { readonly type: "deleted"; readonly object: T };

/** Options of {@link createCache}. */
export interface CacheOptions<T> {
  /** Extra indexes by name; `owner` (owner uids) and `label` (`key=value`) always exist. */
  readonly indexers?: Readonly<Record<string, Indexer<T>>>;
}

/** What readers of a cache may do. Every object handed out is the store's frozen snapshot. */
export interface CacheReader<T extends StoredObject = StoredObject> {
  get(key: string | ObjectKey): T | undefined;
  /** Every object, or those in a namespace and/or matching a label selector. */
  list(options?: { readonly namespace?: string; readonly labelSelector?: LabelSelectorInput }): T[];
  /** Objects whose indexer named `index` produced `value`. */
  byIndex(index: string, value: string): T[];
  /** Objects with an ownerReference to `uid`. */
  byOwner(uid: string): T[];
  keys(): IterableIterator<string>;
  readonly size: number;
  /** Whether the first full list has arrived. */
  readonly isReady: boolean;
  /** Resolves once the first full list has arrived. */
  ready(): Promise<void>;
}

/** What the watcher does to a cache. */
export interface CacheWriter<T extends StoredObject = StoredObject> {
  /**
   * Swaps in a full list atomically; subscribers then see what changed since the last state,
   * including deletes of objects that vanished while the watch was down.
   */
  replace(items: readonly T[]): void;
  apply(object: T): void;
  delete(object: T): void;
  /**
   * Calls `listener` for every change after it is made — `fromList` is true for changes found by
   * a (re)list rather than seen on the watch; returns a function that unsubscribes.
   */
  subscribe(listener: (change: CacheChange<T>, fromList: boolean) => void): () => void;
}

type Index = Map<string, Set<string>>;

const none: readonly string[] = [];

const builtInIndexers: Readonly<Record<string, Indexer<StoredObject>>> = {
  owner: (o) =>
    o.metadata.ownerReferences === undefined ? none : o.metadata.ownerReferences.map((r) => r.uid),
  label: (o) => {
    const labels = o.metadata.labels;
    if (labels === undefined) return none;
    const values: string[] = [];
    for (const key in labels) values.push(`${key}=${labels[key]}`);
    return values;
  },
};

/**
 * Creates a cache and its writer.
 *
 * @example
 * ```ts
 * const { reader, writer } = createCache<StoredObject>({ indexers: { image: (o) => [String(o.spec.image)] } });
 * writer.replace(list.items);
 * reader.byIndex("image", "nginx");
 * ```
 */
export function createCache<T extends StoredObject = StoredObject>(
  options: CacheOptions<T> = {},
): {
  reader: CacheReader<T>;
  writer: CacheWriter<T>;
} {
  const indexers = new Map<string, Indexer<T>>([
    ...(Object.entries(builtInIndexers) as [string, Indexer<T>][]),
    ...Object.entries(options.indexers ?? {}),
  ]);
  let objects = new Map<string, T>();
  // Indexes are built on first use and kept current from then on: a cache nobody asks by label
  // pays nothing for a label index.
  let indexes = new Map<string, Index>();
  let ready = false;
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const listeners = new Set<(change: CacheChange<T>, fromList: boolean) => void>();

  const addToIndex = (index: Index, indexer: Indexer<T>, key: string, object: T) => {
    for (const value of indexer(object)) {
      let keys = index.get(value);
      if (keys === undefined) {
        keys = new Set();
        index.set(value, keys);
      }
      keys.add(key);
    }
  };
  const addToIndexes = (target: Map<string, Index>, key: string, object: T) => {
    for (const [name, index] of target) addToIndex(index, indexers.get(name)!, key, object);
  };
  const buildIndex = (name: string): Index => {
    const indexer = indexers.get(name);
    if (indexer === undefined) throw new RangeError(`no index named "${name}"`);
    const index: Index = new Map();
    for (const [key, object] of objects) addToIndex(index, indexer, key, object);
    indexes.set(name, index);
    return index;
  };
  const removeFromIndexes = (key: string, object: T) => {
    for (const [name, index] of indexes) {
      for (const value of indexers.get(name)!(object)) {
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
    }
  };
  const notify = (change: CacheChange<T>, fromList = false) => {
    for (const listener of listeners) listener(change, fromList);
  };
  const fromIndex = (name: string, value: string): T[] => {
    const keys = (indexes.get(name) ?? buildIndex(name)).get(value);
    return keys === undefined ? [] : [...keys].map((key) => objects.get(key)!);
  };

  const reader: CacheReader<T> = {
    get: (key) => objects.get(typeof key === "string" ? key : keyString(key)),
    list(listOptions = {}) {
      const selector =
        listOptions.labelSelector === undefined
          ? undefined
          : toLabelSelector(listOptions.labelSelector);
      const out: T[] = [];
      for (const object of objects.values()) {
        if (
          listOptions.namespace !== undefined &&
          object.metadata.namespace !== listOptions.namespace
        )
          continue;
        if (selector !== undefined && !selector.matches(object.metadata.labels)) continue;
        out.push(object);
      }
      return out;
    },
    byIndex: fromIndex,
    byOwner: (uid) => fromIndex("owner", uid),
    keys: () => objects.keys(),
    get size() {
      return objects.size;
    },
    get isReady() {
      return ready;
    },
    ready: () => readyPromise,
  };

  const writer: CacheWriter<T> = {
    replace(items) {
      const next = new Map<string, T>();
      const nextIndexes = new Map<string, Index>(
        [...indexes.keys()].map((name) => [name, new Map()]),
      );
      for (const object of items) {
        const key = keyString(object.metadata);
        next.set(key, object);
        addToIndexes(nextIndexes, key, object);
      }
      const previous = objects;
      objects = next;
      indexes = nextIndexes;
      if (!ready) {
        ready = true;
        markReady();
      }
      for (const [key, object] of next) {
        const old = previous.get(key);
        if (old === undefined) notify({ type: "added", object });
        else if (old.metadata.resourceVersion !== object.metadata.resourceVersion)
          notify({ type: "updated", object, previous: old });
      }
      for (const [key, old] of previous)
        if (!next.has(key)) notify({ type: "deleted", object: old });
    },
    apply(object) {
      const key = keyString(object.metadata);
      const old = objects.get(key);
      if (old !== undefined) removeFromIndexes(key, old);
      objects.set(key, object);
      addToIndexes(indexes, key, object);
      notify(
        old === undefined ? { type: "added", object } : { type: "updated", object, previous: old },
      );
    },
    delete(object) {
      const key = keyString(object.metadata);
      const old = objects.get(key);
      if (old === undefined) return;
      removeFromIndexes(key, old);
      objects.delete(key);
      notify({ type: "deleted", object });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { reader, writer };
}
