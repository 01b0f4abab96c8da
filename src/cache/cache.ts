/**
 * The cache a watcher feeds: the latest version of every object of a kind, with indexes, read
 * by controllers without touching the backend. A reader and a writer are separate objects: only
 * the watcher writes.
 */
import type { StoredObject } from "../backend/backend.js";
import type { ObjectKey } from "../model/resource.js";
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

/** Index value → the objects that produced it. */
type Index<T> = Map<string, Set<T>>;

/**
 * Objects by namespace, then name (cluster-scoped objects under ""). Two levels rather than one
 * map keyed "namespace/name": the keys are the objects' own namespace and name strings, so a
 * cache of many objects allocates no key string per object (a joined key costs about 60 bytes).
 */
class ObjectTable<T extends StoredObject> {
  private readonly namespaces = new Map<string, Map<string, T>>();
  size = 0;

  get(namespace: string | undefined, name: string): T | undefined {
    return this.namespaces.get(namespace ?? "")?.get(name);
  }

  /** Stores `object`; returns the object it replaced. */
  set(object: T): T | undefined {
    const { namespace = "", name } = object.metadata;
    let names = this.namespaces.get(namespace);
    if (names === undefined) {
      names = new Map();
      this.namespaces.set(namespace, names);
    }
    const previous = names.get(name);
    names.set(name, object);
    if (previous === undefined) this.size++;
    return previous;
  }

  /** Removes the object with `object`'s key; returns what was removed. */
  delete(object: T): T | undefined {
    const { namespace = "", name } = object.metadata;
    const names = this.namespaces.get(namespace);
    const previous = names?.get(name);
    if (previous === undefined) return undefined;
    names!.delete(name);
    if (names!.size === 0) this.namespaces.delete(namespace);
    this.size--;
    return previous;
  }

  /** Every object, or those of one namespace. */
  *values(namespace?: string): IterableIterator<T> {
    if (namespace !== undefined) {
      const names = this.namespaces.get(namespace);
      if (names !== undefined) yield* names.values();
      return;
    }
    for (const names of this.namespaces.values()) yield* names.values();
  }

  *keys(): IterableIterator<string> {
    for (const [namespace, names] of this.namespaces)
      for (const name of names.keys()) yield namespace === "" ? name : `${namespace}/${name}`;
  }
}

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
  let objects = new ObjectTable<T>();
  // Indexes are built on first use and kept current from then on: a cache nobody asks by label
  // pays nothing for a label index.
  let indexes = new Map<string, Index<T>>();
  let ready = false;
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const listeners = new Set<(change: CacheChange<T>, fromList: boolean) => void>();

  const addToIndex = (index: Index<T>, indexer: Indexer<T>, object: T) => {
    for (const value of indexer(object)) {
      let members = index.get(value);
      if (members === undefined) {
        members = new Set();
        index.set(value, members);
      }
      members.add(object);
    }
  };
  const addToIndexes = (target: Map<string, Index<T>>, object: T) => {
    for (const [name, index] of target) addToIndex(index, indexers.get(name)!, object);
  };
  const buildIndex = (name: string): Index<T> => {
    const indexer = indexers.get(name);
    if (indexer === undefined) throw new RangeError(`no index named "${name}"`);
    const index: Index<T> = new Map();
    for (const object of objects.values()) addToIndex(index, indexer, object);
    indexes.set(name, index);
    return index;
  };
  const removeFromIndexes = (object: T) => {
    for (const [name, index] of indexes) {
      for (const value of indexers.get(name)!(object)) {
        const members = index.get(value);
        members?.delete(object);
        if (members?.size === 0) index.delete(value);
      }
    }
  };
  const notify = (change: CacheChange<T>, fromList = false) => {
    for (const listener of listeners) listener(change, fromList);
  };
  const fromIndex = (name: string, value: string): T[] => {
    const members = (indexes.get(name) ?? buildIndex(name)).get(value);
    return members === undefined ? [] : [...members];
  };

  const reader: CacheReader<T> = {
    get: (key) => {
      if (typeof key !== "string") return objects.get(key.namespace, key.name);
      const slash = key.indexOf("/");
      return slash < 0
        ? objects.get(undefined, key)
        : objects.get(key.slice(0, slash), key.slice(slash + 1));
    },
    list(listOptions = {}) {
      const selector =
        listOptions.labelSelector === undefined
          ? undefined
          : toLabelSelector(listOptions.labelSelector);
      const out: T[] = [];
      for (const object of objects.values(listOptions.namespace)) {
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
      const next = new ObjectTable<T>();
      const nextIndexes = new Map<string, Index<T>>(
        [...indexes.keys()].map((name) => [name, new Map()]),
      );
      for (const object of items) {
        next.set(object);
        addToIndexes(nextIndexes, object);
      }
      const previous = objects;
      objects = next;
      indexes = nextIndexes;
      if (!ready) {
        ready = true;
        markReady();
      }
      if (listeners.size === 0) return;
      for (const object of next.values()) {
        const old = previous.get(object.metadata.namespace, object.metadata.name);
        if (old === undefined) notify({ type: "added", object }, true);
        else if (old.metadata.resourceVersion !== object.metadata.resourceVersion)
          notify({ type: "updated", object, previous: old }, true);
      }
      for (const old of previous.values())
        if (next.get(old.metadata.namespace, old.metadata.name) === undefined)
          notify({ type: "deleted", object: old }, true);
    },
    apply(object) {
      const old = objects.set(object);
      if (indexes.size > 0) {
        if (old !== undefined) removeFromIndexes(old);
        addToIndexes(indexes, object);
      }
      if (listeners.size > 0)
        notify(
          old === undefined
            ? { type: "added", object }
            : { type: "updated", object, previous: old },
        );
    },
    delete(object) {
      const old = objects.delete(object);
      if (old === undefined) return;
      removeFromIndexes(old);
      notify({ type: "deleted", object });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { reader, writer };
}
