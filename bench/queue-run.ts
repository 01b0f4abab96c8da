/**
 * One queue benchmark in a process of its own (so that its peak RSS is its own):
 * `node --import tsx bench/queue-run.ts <scenario> <implementation>`; prints one JSON line.
 */
import fastq from "fastq";
import PQueue from "p-queue";
import { WorkQueue } from "../src/queue/work-queue.js";

const [scenario = "cycles", implementation = "setpoint"] = process.argv.slice(2);
const workers = 16;
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 5);

/** The JS limit: an array with a head index, a Set for dedup, and 16 async workers. */
class BareQueue {
  private items: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private waiters: ((key: string) => void)[] = [];
  add(key: string) {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      waiter(key);
    } else this.items.push(key);
  }
  get(): Promise<string> {
    if (this.head < this.items.length) {
      const key = this.items[this.head++]!;
      this.queued.delete(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  idle(): boolean {
    return this.head === this.items.length && this.waiters.length === workers;
  }
}

/** A client-go-style queue in 40 lines: queue, dirty set, processing set. */
class MiniQueue {
  private queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private waiters: ((key: string) => void)[] = [];
  add(key: string) {
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }
  private push(key: string) {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else this.queue.push(key);
  }
  get(): Promise<string> {
    if (this.head < this.queue.length) {
      const key = this.queue[this.head++]!;
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  done(key: string) {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }
  idle(): boolean {
    return this.head === this.queue.length && this.processing.size === 0 && this.dirty.size === 0;
  }
}

interface Runner {
  add(key: string): void;
  /** Resolves once every added key has been processed. */
  idle(): Promise<void>;
  processed(): number;
  stop(): void;
}

interface QueueLike {
  add(k: string): void;
  get(): Promise<string | undefined>;
  done?(k: string): void;
  /** Nothing waiting and nothing being processed. */
  idle(): boolean;
}

async function untilIdle(isIdle: () => boolean): Promise<void> {
  while (!isIdle()) await new Promise((resolve) => setImmediate(resolve));
}

function workQueueRunner(q: QueueLike): Runner {
  let processed = 0;
  let stopped = false;
  for (let w = 0; w < workers; w++) {
    void (async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined || stopped) return;
        processed++;
        q.done?.(key);
      }
    })();
  }
  return {
    add: (key) => q.add(key),
    idle: () => untilIdle(() => q.idle()),
    processed: () => processed,
    stop: () => {
      stopped = true;
    },
  };
}

/** The usual pattern with a task queue: a Set to dedup, the library to run. */
function libraryRunner(kind: "fastq" | "p-queue"): Runner {
  const pending = new Set<string>();
  let processed = 0;
  const work = async (key: string) => {
    pending.delete(key);
    processed++;
  };
  if (kind === "fastq") {
    const q = fastq.promise(work, workers);
    return {
      add(key) {
        if (pending.has(key)) return;
        pending.add(key);
        void q.push(key);
      },
      idle: () => untilIdle(() => q.idle()),
      processed: () => processed,
      stop: () => q.kill(),
    };
  }
  const q = new PQueue({ concurrency: workers });
  return {
    add(key) {
      if (pending.has(key)) return;
      pending.add(key);
      void q.add(() => work(key));
    },
    idle: () => untilIdle(() => q.size === 0 && q.pending === 0),
    processed: () => processed,
    stop: () => q.clear(),
  };
}

function runner(): Runner {
  switch (implementation) {
    case "setpoint": {
      const q = new WorkQueue<string>();
      return workQueueRunner(
        Object.assign(q, { idle: () => q.length === 0 && q.processing === 0 }),
      );
    }
    case "bare":
      return workQueueRunner(new BareQueue());
    case "client-go-style":
      return workQueueRunner(new MiniQueue());
    case "fastq":
    case "p-queue":
      return libraryRunner(implementation);
  }
  throw new Error(`unknown implementation ${implementation}`);
}

function shuffled(n: number, times: number): string[] {
  const keys: string[] = [];
  for (let t = 0; t < times; t++) for (let i = 0; i < n; i++) keys.push(`key-${i}`);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return keys;
}

const result: Record<string, unknown> = { scenario, implementation };
if (scenario === "cycles") {
  // 1,000,000 add/get/done cycles over 100,000 keys: ten rounds of every key.
  const r = runner();
  const keys = Array.from({ length: 100_000 }, (_, i) => `key-${i}`);
  const started = performance.now();
  for (let round = 0; round < 10; round++) {
    for (const key of keys) r.add(key);
    await r.idle();
  }
  result.ms = performance.now() - started;
  result.processed = r.processed();
  r.stop();
} else if (scenario === "dedup") {
  // 100,000 keys each added 5 times in random order, in one go, with 16 workers waiting.
  const r = runner();
  const keys = shuffled(100_000, 5);
  const started = performance.now();
  for (const key of keys) r.add(key);
  await r.idle();
  result.ms = performance.now() - started;
  result.processed = r.processed();
  r.stop();
} else if (scenario === "starvation") {
  // An initial list of 10,000 keys in the low lane (FIFO for a queue without lanes) while 100
  // hot keys, requeued the moment they finish, keep 16 workers saturated: how long until the
  // last listed key is handed out, and how fast keys move meanwhile.
  const listed = 10_000;
  const q: QueueLike & { add(k: string, o?: { low?: boolean }): void } =
    implementation === "setpoint"
      ? Object.assign(new WorkQueue<string>(), { idle: () => false })
      : new MiniQueue();
  for (let i = 0; i < listed; i++) q.add(`listed-${i}`, { low: true });
  for (let i = 0; i < 100; i++) q.add(`hot-${i}`);
  const started = performance.now();
  let served = 0;
  let handouts = 0;
  let lastServedAt = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  for (let w = 0; w < workers; w++) {
    void (async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined || served === listed) return;
        handouts++;
        q.done?.(key);
        if (key.startsWith("hot")) q.add(key);
        else if (++served === listed) {
          lastServedAt = performance.now();
          resolveDone();
        }
      }
    })();
  }
  await done;
  result.ms = lastServedAt - started;
  result.processed = handouts;
} else if (scenario === "delays") {
  // 100,000 keys requeued with random delays up to 1 s: memory held per key, and lateness.
  // Keys and due times exist before the measurement starts, for both implementations.
  const n = 100_000;
  const keys = Array.from({ length: n }, (_, i) => `key-${i}`);
  const delays = Float64Array.from({ length: n }, () => Math.random() * 1000);
  const dues = new Float64Array(n);
  const lateness = new Float64Array(n);
  const gc = (globalThis as { gc?: () => void }).gc!;
  let fired = 0;
  let retained = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const onFire = (i: number) => {
    lateness[i] = performance.now() - dues[i]!;
    if (++fired === n) resolveDone();
  };
  gc();
  const before = process.memoryUsage().heapUsed;
  if (implementation === "setTimeout") {
    for (let i = 0; i < n; i++) {
      dues[i] = performance.now() + delays[i]!;
      setTimeout(() => onFire(i), delays[i]);
    }
  } else {
    const q = new WorkQueue<string>();
    for (let i = 0; i < n; i++) {
      dues[i] = performance.now() + delays[i]!;
      q.addAfter(keys[i]!, delays[i]!);
    }
    void (async () => {
      for (;;) {
        const key = await q.get();
        if (key === undefined) return;
        onFire(Number(key.slice(4)));
        q.done(key);
      }
    })();
  }
  gc();
  retained = process.memoryUsage().heapUsed - before;
  await done;
  lateness.sort();
  result.bytesPerKey = retained / n;
  result.p50 = lateness[Math.floor(n * 0.5)];
  result.p99 = lateness[Math.floor(n * 0.99)];
}
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
result.peakRssMb = peakRss / 2 ** 20;
console.log(JSON.stringify(result));
process.exit(0);
