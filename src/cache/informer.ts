import type { Backend, StoredObject } from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import { type CacheOptions, type CacheReader, type CacheWriter, createCache } from "./cache.js";
import { Watcher, type WatcherOptions } from "./watcher.js";
import type { CacheEvent } from "./watcher-state.js";

/** Options of {@link Informer}. */
export interface InformerOptions<T> extends WatcherOptions, CacheOptions<T> {}

/**
 * A watcher feeding a cache: the latest state of one kind, kept in step with a Backend.
 * Controllers share one per kind.
 *
 * @example
 * ```ts
 * const informer = new Informer(plane.backend, Widget);
 * void informer.run(signal);
 * await informer.cache.ready();
 * informer.cache.list({ namespace: "shop" });
 * ```
 */
export class Informer<T extends StoredObject = StoredObject> {
  readonly cache: CacheReader<T>;
  readonly writer: CacheWriter<T>;
  readonly watcher: Watcher;

  constructor(
    backend: Backend,
    readonly kind: AnyKind,
    options: InformerOptions<T> = {},
  ) {
    const { reader, writer } = createCache<T>(options);
    this.cache = reader;
    this.writer = writer;
    this.watcher = new Watcher(backend, kind, (event) => this.apply(event), options);
  }

  /** Lists and watches until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return this.watcher.run(signal);
  }

  private apply(event: CacheEvent): void {
    switch (event.type) {
      case "replace":
        this.writer.replace(event.items as readonly T[]);
        return;
      case "apply":
        this.writer.apply(event.object as T);
        return;
      case "delete":
        this.writer.delete(event.object as T);
        return;
    }
  }
}
