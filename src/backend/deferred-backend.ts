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
  WatchOptions,
  WriteOptions,
} from "./backend.js";
import { WatchChannel } from "./watch-channel.js";

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

  /**
   * Once the backend is made, its own watch; before, a channel that opens it then and forwards
   * its events one at a time as the consumer asks (the inner watch reads lazily, and a slow
   * consumer must not make it read ahead).
   */
  watch(kind: AnyKind, options?: WatchOptions): Watch {
    if (this.made !== undefined) return this.made.watch(kind, options);
    let inner: Watch | undefined;
    const forward = (from: Watch) =>
      from.next().then(
        (result) => (result.done ? channel.end() : channel.push(result.value)),
        (error: unknown) => channel.fail(error),
      );
    const channel = new WatchChannel({
      pull: () => inner?.poll?.(),
      onWait: () => {
        if (inner !== undefined) void forward(inner);
      },
      onEnd: () => inner?.close(),
      signal: options?.signal,
    });
    this.making.then(
      (backend) => {
        if (channel.isEnded) return;
        try {
          inner = backend.watch(kind, options);
        } catch (error) {
          channel.fail(error);
          return;
        }
        if (channel.waiting) void forward(inner);
      },
      (error: unknown) => channel.fail(error),
    );
    return channel;
  }

  async close(): Promise<void> {
    const backend = await this.making.catch(() => undefined);
    await backend?.close();
  }
}
