/**
 * A Backend whose every write carries a fence (see `WriteOptions.fence`): what a leader-elected
 * controller's reconciles write through, so that a deposed leader's late writes are refused.
 */
import type {
  Backend,
  DeleteOptions,
  Fence,
  ListOptions,
  Patch,
  PatchOptions,
  WatchOptions,
  WriteOptions,
} from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import type { Frozen, ObjectKey, ResourceInput } from "../model/resource.js";

export class FencedBackend implements Backend {
  constructor(
    private readonly backend: Backend,
    readonly fence: Fence,
  ) {}

  get capabilities() {
    return this.backend.capabilities;
  }

  get(kind: AnyKind, key: ObjectKey) {
    return this.backend.get(kind, key);
  }
  list(kind: AnyKind, options?: ListOptions) {
    return this.backend.list(kind, options);
  }
  watch(kind: AnyKind, options?: WatchOptions) {
    return this.backend.watch(kind, options);
  }
  create(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.backend.create(kind, object, { ...options, fence: this.fence });
  }
  update(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.backend.update(kind, object, { ...options, fence: this.fence });
  }
  updateStatus(kind: AnyKind, object: Frozen<ResourceInput>, options: WriteOptions = {}) {
    return this.backend.updateStatus(kind, object, { ...options, fence: this.fence });
  }
  patch(kind: AnyKind, key: ObjectKey, patch: Patch, options: PatchOptions = {}) {
    return this.backend.patch(kind, key, patch, { ...options, fence: this.fence });
  }
  delete(kind: AnyKind, key: ObjectKey, options: DeleteOptions = {}) {
    return this.backend.delete(kind, key, { ...options, fence: this.fence });
  }
  /** The underlying backend belongs to the plane: closing a term's view closes nothing. */
  async close(): Promise<void> {}
}
