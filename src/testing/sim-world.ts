/**
 * The world a deterministic simulation runs in: one memory store, one seeded clock, and a
 * scheduler that decides, step by step, what happens next — which pending store call completes
 * (or fails), which watch delivers its next event, when time moves. Each simulated process (a
 * manager and its controllers) talks to the store through its own {@link ProcessBackend}, so
 * that a process can crash: its pending calls never come back, its timers never fire, its
 * watches go quiet; the store keeps what was written.
 *
 * Guarantees: with the same seed and the same controllers, every run makes the same choices in
 * the same order (the store, the clock, generated names and uids, jitter and the turn budget all
 * draw from the seed), so one seed is one history. Per watch, events arrive in revision order,
 * as Kubernetes delivers them; across watches (informers of different kinds) in any order.
 */
import type {
  Backend,
  DeleteOptions,
  ListOptions,
  ObjectList,
  Patch,
  PatchOptions,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from "../backend/backend.js";
import { MemoryBackend } from "../backend/memory/memory-backend.js";
import { WatchChannel } from "../backend/watch-channel.js";
import { ApiError, expired } from "../model/api-error.js";
import type { Clock, Timer } from "../model/clock.js";
import type { AnyKind } from "../model/kind.js";
import type { Frozen, ObjectKey, ResourceInput } from "../model/resource.js";
import { FakeClock } from "./fake-clock.js";

/** A small, fast, seeded generator of numbers uniform in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A {@link FakeClock} whose randomness is seeded and whose CPU time is a count that moves with
 * every reading (so the turn budget yields at the same points in every run).
 */
export class SimClock extends FakeClock {
  private cpu = 0;

  constructor(readonly random: () => number) {
    super({ now: 0, wallNow: Date.UTC(2026, 0, 1) });
  }

  cpuNow(): number {
    this.cpu += 0.01;
    return this.cpu;
  }
}

/** A simulated process: its name, and whether it still runs. */
export interface SimProcess {
  readonly name: string;
  alive: boolean;
}

/** A store call waiting for the scheduler. */
export interface PendingCall {
  readonly process: SimProcess;
  readonly text: string;
  readonly write: boolean;
  run(): void;
  fail(error: unknown): void;
  /** Runs the call, then answers with `error` as if the answer was lost on the way back. */
  runThenFail(error: unknown): void;
}

/**
 * A watch of a process, whose events the scheduler delivers one at a time: the store's events
 * wait in `buffer` until the scheduler delivers them into a {@link WatchChannel}, which hands
 * them to the consumer and, after them, the end or the error.
 */
export class SimWatch implements Watch {
  /** Events the store produced, not yet delivered; stopping the watch discards them. */
  readonly buffer: WatchEvent[] = [];
  /** What was delivered and not yet taken, then the end or the error. */
  private readonly channel = new WatchChannel();
  /**
   * Whether the stream has ended, as the scheduler sees it: at an end, and at a failure once the
   * consumer has the error (at once if it waits for one); the channel ends at the failure itself.
   */
  private ended = false;
  private readonly underlying: Watch;

  constructor(
    readonly process: SimProcess,
    readonly text: string,
    underlying: Watch,
    private readonly world: SimWorld,
  ) {
    this.underlying = underlying;
    void (async () => {
      try {
        for await (const event of underlying) {
          this.buffer.push(event);
          world.activity++;
        }
      } catch (error) {
        // The store ended the watch (Expired, a closed store): delivered after what it sent.
        this.buffer.push({ type: "BOOKMARK", resourceVersion: "" });
        this.storeError = error;
        world.activity++;
      }
    })();
  }

  /** A failure of the store's own watch, delivered once the events before it are. */
  private storeError: unknown;

  /** Whether the scheduler has something to deliver. */
  get deliverable(): boolean {
    return !this.ended && this.process.alive && this.buffer.length > 0;
  }

  /** Delivers the next event (in order), or the store's error after the last. */
  deliver(): string {
    const event = this.buffer.shift()!;
    if (event.type === "BOOKMARK" && event.resourceVersion === "") {
      this.fail(this.storeError);
      return `${this.text}: ends with ${describeError(this.storeError)}`;
    }
    this.world.activity++;
    this.channel.push(event);
    return `${this.text}: ${describeEvent(event)}`;
  }

  /** Whether the stream has ended (delivered its end or error, or was closed). */
  get closed(): boolean {
    return this.ended;
  }

  /** Stops the store's side and delivers nothing more, not even an end: a dead process's watch. */
  silence(): void {
    this.underlying.close();
    this.buffer.length = 0;
    this.onClose?.();
    this.onClose = undefined;
  }

  /** Ends the stream, as a dropped connection does: the watcher watches again from where it was. */
  drop(): void {
    this.underlying.close();
    this.buffer.length = 0;
    this.end();
  }

  /** Fails the stream with `Expired` (410), as after compaction: the watcher relists. */
  expire(): void {
    this.underlying.close();
    this.buffer.length = 0;
    this.fail(expired("simulated: the resource version is too old"));
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    // An ended channel with nothing left answers this call with its error or its end.
    if (this.channel.isEnded && this.channel.backlog === 0) this.ended = true;
    return this.channel.next();
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  close(): void {
    this.underlying.close();
    this.buffer.length = 0;
    this.end();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Called once the stream ends, however it ends. */
  onClose: (() => void) | undefined;

  private end(): void {
    this.onClose?.();
    this.onClose = undefined;
    if (this.ended) return;
    this.ended = true;
    this.world.activity++;
    this.channel.end();
  }

  private fail(error: unknown): void {
    this.onClose?.();
    this.onClose = undefined;
    if (this.ended) return;
    this.world.activity++;
    if (this.channel.waiting) this.ended = true;
    this.channel.fail(error);
  }
}

/** The shared state of a simulation: the store, the clock, the calls and watches in flight. */
export class SimWorld {
  readonly clock: SimClock;
  readonly store: MemoryBackend;
  readonly pending: PendingCall[] = [];
  readonly watches: SimWatch[] = [];
  /** Moves whenever something happens; a settled world holds it still. */
  activity = 0;

  constructor(readonly random: () => number) {
    this.clock = new SimClock(random);
    this.store = new MemoryBackend({ clock: this.clock });
  }

  /** Watches that can deliver now. */
  deliverable(): SimWatch[] {
    return this.watches.filter((w) => w.deliverable);
  }

  /** Forgets the calls and watches of processes that no longer run, and ended watches. */
  prune(): void {
    for (let i = this.pending.length - 1; i >= 0; i--)
      if (!this.pending[i]!.process.alive) this.pending.splice(i, 1);
    for (let i = this.watches.length - 1; i >= 0; i--) {
      const watch = this.watches[i]!;
      if (!watch.process.alive) {
        // A dead process hears nothing more, not even an end (which its watcher would answer
        // with a new watch, at once, forever).
        watch.silence();
        this.watches.splice(i, 1);
      } else if (watch.closed) this.watches.splice(i, 1);
    }
  }
}

/** The clock a process sees: the world's, but its timers die with it. */
export class ProcessClock implements Clock {
  private readonly timers = new Set<Timer>();

  constructor(
    private readonly base: SimClock,
    private readonly process: SimProcess,
  ) {}

  now(): number {
    return this.base.now();
  }

  wallNow(): number {
    return this.base.wallNow();
  }

  random(): number {
    return this.base.random();
  }

  cpuNow(): number {
    return this.base.cpuNow();
  }

  setTimer(ms: number, callback: () => void): Timer {
    if (!this.process.alive) return { cancel: () => {} };
    const timer = this.base.setTimer(ms, () => {
      this.timers.delete(timer);
      if (this.process.alive) callback();
    });
    this.timers.add(timer);
    return {
      cancel: () => {
        this.timers.delete(timer);
        timer.cancel();
      },
    };
  }

  /** Cancels every timer: the process is gone. */
  kill(): void {
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
  }
}

/**
 * The store as one process sees it: every call waits for the scheduler, and a dead process's
 * calls never come back.
 */
export class ProcessBackend implements Backend {
  readonly capabilities = { name: "simulated memory", durable: false } as const;

  constructor(
    private readonly world: SimWorld,
    readonly process: SimProcess,
  ) {}

  get(kind: AnyKind, key: ObjectKey): Promise<StoredObject> {
    return this.call(`get ${kind.kind} ${keyText(key)}`, false, () =>
      this.world.store.get(kind, key),
    );
  }

  list(kind: AnyKind, options?: ListOptions): Promise<ObjectList> {
    return this.call(
      `list ${kind.kind}${options?.namespace ? ` in ${options.namespace}` : ""}`,
      false,
      () => this.world.store.list(kind, options),
    );
  }

  watch(kind: AnyKind, options: WatchOptions = {}): Watch {
    const underlying = this.world.store.watch(kind, options);
    const watch = new SimWatch(
      this.process,
      `${this.process.name} watch ${kind.kind}${options.resourceVersion ? ` from ${options.resourceVersion}` : ""}`,
      underlying,
      this.world,
    );
    if (!this.process.alive) watch.silence();
    else this.world.watches.push(watch);
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = () => watch.close();
      signal.addEventListener("abort", onAbort, { once: true });
      watch.onClose = () => signal.removeEventListener("abort", onAbort);
    }
    return watch;
  }

  create(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject> {
    return this.call(`create ${kind.kind} ${keyText(object.metadata ?? {})}`, true, () =>
      this.world.store.create(kind, object, options),
    );
  }

  update(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject> {
    return this.call(`update ${kind.kind} ${keyText(object.metadata ?? {})}`, true, () =>
      this.world.store.update(kind, object, options),
    );
  }

  updateStatus(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options?: WriteOptions,
  ): Promise<StoredObject> {
    return this.call(`update status of ${kind.kind} ${keyText(object.metadata ?? {})}`, true, () =>
      this.world.store.updateStatus(kind, object, options),
    );
  }

  patch(
    kind: AnyKind,
    key: ObjectKey,
    patch: Patch,
    options?: PatchOptions,
  ): Promise<StoredObject> {
    const what = options?.subresource === "status" ? "patch status of" : `${patch.type} patch`;
    return this.call(`${what} ${kind.kind} ${keyText(key)}`, true, () =>
      this.world.store.patch(kind, key, patch, options),
    );
  }

  delete(kind: AnyKind, key: ObjectKey, options?: DeleteOptions): Promise<StoredObject> {
    return this.call(`delete ${kind.kind} ${keyText(key)}`, true, () =>
      this.world.store.delete(kind, key, options),
    );
  }

  async close(): Promise<void> {}

  private call<T>(text: string, write: boolean, run: () => Promise<T>): Promise<T> {
    const { world, process } = this;
    // A process that crashed hears nothing back, ever.
    if (!process.alive) return new Promise(() => {});
    return new Promise<T>((resolve, reject) => {
      world.activity++;
      world.pending.push({
        process,
        text: `${process.name} ${text}`,
        write,
        run: () => {
          run().then(resolve, reject);
        },
        fail: (error) => reject(error),
        runThenFail: (error) => {
          run().then(
            () => reject(error),
            () => reject(error),
          );
        },
      });
    });
  }
}

function keyText(key: { namespace?: string | undefined; name?: string | undefined }): string {
  return key.namespace ? `${key.namespace}/${key.name ?? "?"}` : (key.name ?? "?");
}

/** A watch event as a trace shows it. */
export function describeEvent(event: WatchEvent): string {
  if (event.type === "BOOKMARK") return `BOOKMARK at ${event.resourceVersion}`;
  const { metadata } = event.object;
  return `${event.type} ${keyText(metadata)} rv=${metadata.resourceVersion}`;
}

/** An error as a trace shows it. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.reason} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
