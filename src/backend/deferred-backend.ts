/**
 * A Backend that is still being made (a connection to open, a schema to migrate): every call
 * waits for it, and fails with its error if making it failed. Lets `createControlPlane` stay
 * synchronous for stores that start asynchronously.
 */
import type { AnyKind } from "../model/kind.js";
import type { Frozen, ObjectKey, ResourceInput } from "../model/resource.js";
import type {
  Backend,
  BackendCapabilities,
  DeleteOptions,
  ListOptions,
  Patch,
  PatchOptions,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from "./backend.js";

export class DeferredBackend implements Backend {
  private made: Backend | undefined;
  private readonly making: Promise<Backend>;

  constructor(
    make: Promise<Backend>,
    readonly capabilities: BackendCapabilities,
  ) {
    this.making = make.then((backend) => {
      this.made = backend;
      return backend;
    });
    // The error reaches every caller; unobserved, it must not end the process.
    this.making.catch(() => {});
  }

  /** Resolves once the backend is made; rejects with why it could not be. */
  ready(): Promise<Backend> {
    return this.making;
  }

  get = async (kind: AnyKind, key: ObjectKey) => (await this.making).get(kind, key);
  list = async (kind: AnyKind, options?: ListOptions) => (await this.making).list(kind, options);
  create = async (kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) =>
    (await this.making).create(kind, object, options);
  update = async (kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) =>
    (await this.making).update(kind, object, options);
  updateStatus = async (kind: AnyKind, object: Frozen<ResourceInput>, options?: WriteOptions) =>
    (await this.making).updateStatus(kind, object, options);
  patch = async (kind: AnyKind, key: ObjectKey, patch: Patch, options?: PatchOptions) =>
    (await this.making).patch(kind, key, patch, options);
  delete = async (kind: AnyKind, key: ObjectKey, options?: DeleteOptions) =>
    (await this.making).delete(kind, key, options);

  watch(kind: AnyKind, options?: WatchOptions): Watch {
    if (this.made !== undefined) return this.made.watch(kind, options);
    let inner: Watch | undefined;
    let closed = false;
    const opened = this.making.then((backend) => {
      inner = backend.watch(kind, options);
      if (closed) inner.close();
      return inner;
    });
    const watch: Watch = {
      [Symbol.asyncIterator]: () => watch,
      next: async (): Promise<IteratorResult<WatchEvent>> =>
        closed ? { done: true, value: undefined } : (await opened).next(),
      poll: () => inner?.poll?.(),
      return: async () => {
        watch.close();
        return { done: true, value: undefined };
      },
      close: () => {
        closed = true;
        inner?.close();
      },
    };
    return watch;
  }

  async close(): Promise<void> {
    const backend = await this.making.catch(() => undefined);
    await backend?.close();
  }
}
