/**
 * `simulate()`: deterministic simulation of controllers under faults, in the manner of
 * FoundationDB's and TigerBeetle's simulation testing (and of Sieve and Acto for Kubernetes
 * operators). Controllers run, unchanged, in simulated processes over a memory store on a fake
 * clock; one seeded random source decides every choice — which store call completes next, which
 * watch delivers its next event, when time moves, which fault strikes — so one seed is one exact
 * history, which `replay` runs again.
 *
 * A run has two phases. For `steps` steps the scheduler makes random choices and strikes
 * faults, each with its probability: store calls that fail (`Conflict` on writes,
 * `ServiceUnavailable`, a timeout after the write landed), watch streams dropped (the watcher
 * watches again from where it was) or expired (410: it relists), a process crashing with calls in
 * flight (a new process starts with empty caches and queues; the store keeps what was written),
 * a leader's Lease taken, the clock jumping, the user's own side effects failing (through
 * `effect`). After every step the safety invariants are checked. Then faults stop and the
 * system must settle (liveness): within `settleSteps` steps it must reach a quiet point where the
 * user's `converged` holds and the built-in checks pass: every object of a controller's kind was
 * reconciled after its last change, and no object is held by a controller's finalizer.
 * Throughout, no key may be reconciled twice at once in one process, and no key may be
 * reconciled more than `hotLoopLimit` times without time moving (a hot loop).
 *
 * A failing run throws {@link SimulationFailure}: its message names the seed, what failed, the
 * faults that were enough to make it fail (a shrinker drops every fault it can and keeps the
 * failure) and the last steps of the trace; `replay(seed)` reproduces it exactly.
 *
 * Caveats: the simulation covers what runs in the process — controllers, their queues, caches,
 * leader election over the store. Store calls are atomic (the memory store's), and the order in
 * which a queue hands out keys is its own (FIFO lanes), not randomized.
 */
import type { Backend, StoredObject } from "../backend/backend.js";
import { type ControlPlane, createControlPlane } from "../backend/control-plane.js";
import type { Controller } from "../controller/controller.js";
import { Manager } from "../controller/manager.js";
import { isMeaningfulChange } from "../controller/runner.js";
import { Lease } from "../coordination/lease.js";
import { ApiError } from "../model/api-error.js";
import { type AnyKind, kindId } from "../model/kind.js";
import { keyString } from "../model/resource.js";
import { silentLogger } from "../observability/logging.js";
import { flushMicrotasks } from "./fake-clock.js";
import {
  describeError,
  type PendingCall,
  ProcessBackend,
  ProcessClock,
  type SimProcess,
  type SimWatch,
  SimWorld,
  seededRandom,
} from "./sim-world.js";

/** The probability of each fault at a step (0 to 1). */
export interface SimulationFaults {
  /** A store call fails with `ServiceUnavailable` (503) before it runs. @default 0.03 */
  readonly unavailable?: number;
  /** A write fails with `Conflict` (409) before it runs. @default 0.03 */
  readonly conflict?: number;
  /** A write lands, and its answer is lost: the caller sees a timeout (504). @default 0.02 */
  readonly timeoutAfterWrite?: number;
  /** A watch stream is dropped; the watcher resumes from its last revision. @default 0.02 */
  readonly dropWatch?: number;
  /** A watch stream fails with `Expired` (410); the watcher relists. @default 0.01 */
  readonly expireWatch?: number;
  /** A process crashes while it has a write in flight (between two of its writes). @default 0.01 */
  readonly crash?: number;
  /** The leader's Lease is taken by another holder (with more than one process). @default 0.01 */
  readonly loseLease?: number;
  /** The clock jumps forward by up to a minute. @default 0.01 */
  readonly clockJump?: number;
  /** A side effect run through `effect()` fails. @default 0.05 */
  readonly effect?: number;
}

/** What the invariants and `converged` see. */
export interface SimulationView {
  /** A control plane over the simulated store that reads and writes at once (no scheduling). */
  readonly plane: ControlPlane;
  /** Every object of `kind`, now. */
  list(kind: AnyKind): Promise<readonly StoredObject[]>;
  /** The simulated time, ms since the start. */
  readonly now: number;
}

/** What a controller factory gets: the hook for faulting the user's own side effects. */
export interface SimulationContext {
  /**
   * Runs a side effect of a reconcile (calling an API, starting a process) as the simulation
   * allows: with the `effect` fault's probability it fails instead (before running `fn`), with
   * an error naming it.
   */
  effect<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /** The simulation's seeded random source, for the user's own fakes. */
  random(): number;
}

/** Options of {@link simulate}. */
export interface SimulationOptions {
  /**
   * The controllers of one process, made afresh for each process the simulation starts (after a
   * crash too). State the controllers keep outside the store (a map of running work) may be
   * shared across processes, as the world outside the process is.
   */
  readonly controllers: (context: SimulationContext) => readonly Controller<never>[];
  /** Kinds to register before anything runs. @default the controllers' kinds */
  readonly kinds?: readonly AnyKind[];
  /** Creates the starting objects (through a plane that writes at once). */
  readonly setup?: (plane: ControlPlane, context: SimulationContext) => unknown;
  /**
   * Changes made while the simulation runs (a user scaling, deleting), each at a random step of
   * the fault phase, through a plane that writes at once.
   */
  readonly actions?: readonly ((plane: ControlPlane) => unknown)[];
  readonly invariants?: {
    /** Checked after every step: throw (or return a message) when a state must never happen. */
    readonly safety?: (view: SimulationView) => unknown;
    /** The desired state, which the system must reach once faults stop. @default always true */
    readonly converged?: (view: SimulationView) => boolean | Promise<boolean>;
  };
  /** The seed of the one random source every choice draws from. */
  readonly seed: number;
  /** Steps of the fault phase. @default 200 */
  readonly steps?: number;
  /** Steps the system gets to settle once faults stop. @default 2_000 */
  readonly settleSteps?: number;
  /** Fault probabilities per step; `false` for none. @default the defaults of SimulationFaults */
  readonly faults?: SimulationFaults | false;
  /** Processes running the controllers; with more than one, they elect a leader. @default 1 */
  readonly processes?: number;
  /** Reconciles of one key allowed without time moving before it counts as a hot loop. @default 500 */
  readonly hotLoopLimit?: number;
  /** Built-in checks to leave out. @default none */
  readonly skipChecks?: readonly ("reconciledAfterChange" | "finalizersRemoved")[];
}

/** What a passing simulation returns. */
export interface SimulationResult {
  readonly seed: number;
  /** Steps taken, both phases. */
  readonly steps: number;
  /** One line per step: what the scheduler chose. */
  readonly trace: readonly string[];
  /** The steps at which a fault struck. */
  readonly faults: readonly number[];
}

/** A simulation that failed: its seed, what failed, and the trace that led there. */
export class SimulationFailure extends Error {
  override readonly name = "SimulationFailure";

  constructor(
    readonly seed: number,
    readonly failure: string,
    readonly trace: readonly string[],
    /** The fault steps that were enough for the failure (after shrinking). */
    readonly faults: readonly string[],
  ) {
    // The steps that changed something: idle bookmarks and timers say little.
    const shown = trace
      .filter((line) => !line.includes(": BOOKMARK at") && !line.includes(" time moves to "))
      .slice(-60);
    super(
      [
        `simulation failed with seed ${seed}: ${failure}`,
        `replay it with replay(${seed}, options) (or seed: ${seed})`,
        faults.length === 0
          ? "it fails without any fault"
          : `faults enough to make it fail: ${faults.join("; ")}`,
        `trace (the last ${shown.length} steps that changed something, of ${trace.length}; error.trace has all):`,
        ...shown.map((line) => `  ${line}`),
      ].join("\n"),
    );
  }
}

const defaultFaults: Required<SimulationFaults> = {
  unavailable: 0.03,
  conflict: 0.03,
  timeoutAfterWrite: 0.02,
  dropWatch: 0.02,
  expireWatch: 0.01,
  crash: 0.01,
  loseLease: 0.01,
  clockJump: 0.01,
  effect: 0.05,
};

const leaseTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** Internal: one run, with some fault steps suppressed (for shrinking). */
interface Run {
  readonly ok: boolean;
  readonly failure?: string;
  readonly trace: string[];
  readonly faultSteps: number[];
  readonly faultLines: string[];
  readonly steps: number;
}

/**
 * Runs one seed; throws {@link SimulationFailure} (with a shrunk fault schedule) when an
 * invariant or check fails. See the module documentation.
 *
 * @example
 * ```ts
 * await simulate({
 *   seed: 42,
 *   controllers: () => [widgets],
 *   setup: (plane) => plane.resources(Widget).create({ metadata: { name: "a" }, spec: { replicas: 2 } }),
 *   invariants: {
 *     converged: async ({ list }) => (await list(Widget)).every((w) => w.status?.readyReplicas === w.spec.replicas),
 *   },
 * });
 * ```
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const first = await runOnce(options, new Set());
  if (first.ok)
    return { seed: options.seed, steps: first.steps, trace: first.trace, faults: first.faultSteps };
  // Shrink: drop each fault that the failure does not need.
  const suppressed = new Set<number>();
  let last = first;
  for (const step of first.faultSteps) {
    suppressed.add(step);
    const attempt = await runOnce(options, suppressed);
    if (attempt.ok) suppressed.delete(step);
    else last = attempt;
  }
  throw new SimulationFailure(options.seed, last.failure!, last.trace, last.faultLines);
}

/** Runs `seed` again: the same history, step for step. */
export function replay(
  seed: number,
  options: Omit<SimulationOptions, "seed">,
): Promise<SimulationResult> {
  return simulate({ ...options, seed });
}

/** Options of {@link simulateSeeds}. */
export interface SimulateSeedsOptions extends Omit<SimulationOptions, "seed"> {
  /** How many seeds. */
  readonly seeds: number;
  /** The first seed. @default 1 */
  readonly from?: number;
}

/**
 * Runs `seeds` seeds in turn and throws the first failure. For a vitest test:
 * `await simulateSeeds({ seeds: 200, controllers, setup, invariants })`.
 */
export async function simulateSeeds(options: SimulateSeedsOptions): Promise<{ seeds: number }> {
  const { seeds, from = 1, ...rest } = options;
  for (let seed = from; seed < from + seeds; seed++) await simulate({ ...rest, seed });
  return { seeds };
}

async function runOnce(options: SimulationOptions, suppressed: ReadonlySet<number>): Promise<Run> {
  const random = seededRandom(options.seed);
  const world = new SimWorld(random);
  const faults: Required<SimulationFaults> | undefined =
    options.faults === false ? undefined : { ...defaultFaults, ...options.faults };
  const stepsTotal = options.steps ?? 200;
  const settleSteps = options.settleSteps ?? 2_000;
  const hotLoopLimit = options.hotLoopLimit ?? 500;
  /** Steps of nothing but bookmarks and timers after which a settling system is stuck. */
  const idleSteps = 300;
  const trace: string[] = [];
  const faultSteps: number[] = [];
  const faultLines: string[] = [];
  let step = 0;
  let failure: string | undefined;
  const fail = (message: string) => {
    failure ??= message;
  };
  const say = (line: string) => {
    trace.push(`#${step} t=${Math.round(world.clock.now())}ms ${line}`);
    if (process.env.SIM_DEBUG) console.log(trace.at(-1));
  };

  // Faults of the user's side effects are decided by the same random source.
  let faultsOn = true;
  const context: SimulationContext = {
    random,
    async effect(name, fn) {
      if (faultsOn && faults !== undefined && strike(faults.effect, `effect ${name} fails`))
        throw new Error(`simulated failure of ${name}`);
      return await fn();
    },
  };
  /** Whether a fault strikes now (drawing from the random source either way). */
  function strike(probability: number, what: string): boolean {
    const hit = random() < probability;
    if (!hit || !faultsOn) return false;
    if (suppressed.has(step)) return false;
    faultSteps.push(step);
    faultLines.push(`#${step} ${what}`);
    say(`FAULT ${what}`);
    return true;
  }

  const direct = createControlPlane({
    backend: world.store,
    ...(options.kinds ? { kinds: [...options.kinds] } : {}),
  });
  const view: SimulationView = {
    plane: direct,
    list: async (kind) => (await world.store.list(kind)).items,
    get now() {
      return world.clock.now();
    },
  };

  // Book-keeping for the built-in checks.
  const lastSeen = new Map<string, StoredObject>(); // controller/key → the object a reconcile got
  const hotCounts = new Map<string, { at: number; count: number }>();
  const primaryKinds = new Map<string, AnyKind>(); // controller name → kind
  const finalizerNames = new Set<string>();

  interface Proc extends SimProcess {
    manager: Manager;
    clock: ProcessClock;
    stop: AbortController;
    active: Set<string>;
  }
  const processes: Proc[] = [];
  let started = 0;
  const processCount = Math.max(1, options.processes ?? 1);

  const instrument = (proc: Proc, made: Controller<never>): Controller<never> => {
    const c = made as unknown as Controller;
    if (c.kind !== undefined) primaryKinds.set(c.name, c.kind);
    if (c.options.finalizer !== undefined) finalizerNames.add(c.options.finalizer.name);
    const track = async <R>(key: string, object: unknown, body: () => Promise<R>): Promise<R> => {
      const id = `${c.name}/${key}`;
      if (proc.active.has(id)) fail(`${c.name} reconciled ${key} twice at once in ${proc.name}`);
      proc.active.add(id);
      world.activity++;
      const now = world.clock.now();
      const hot = hotCounts.get(id);
      if (hot !== undefined && hot.at === now) {
        if (++hot.count === hotLoopLimit)
          fail(`hot loop: ${c.name} reconciled ${key} ${hotLoopLimit} times without time moving`);
      } else hotCounts.set(id, { at: now, count: 1 });
      if (c.kind !== undefined) lastSeen.set(id, object as StoredObject);
      try {
        return await body();
      } finally {
        proc.active.delete(id);
        world.activity++;
      }
    };
    const options = c.options as Controller["options"] & {
      finalizer?: { name: string; cleanup: (object: unknown, ctx: unknown) => Promise<void> };
    };
    const wrapped = {
      ...options,
      reconcile: (object: unknown, ctx: { key: string }) =>
        track(ctx.key, object, async () => options.reconcile(object as never, ctx as never)),
      ...(options.finalizer === undefined
        ? {}
        : {
            finalizer: {
              ...options.finalizer,
              cleanup: (object: unknown, ctx: { key: string }) =>
                track(ctx.key, object, async () => options.finalizer!.cleanup(object, ctx)),
            },
          }),
    };
    return Object.assign(Object.create(Object.getPrototypeOf(c)), c, {
      options: wrapped,
    }) as Controller<never>;
  };

  const startProcess = () => {
    const name = `p${++started}`;
    const proc = { name, alive: true, active: new Set<string>() } as unknown as Proc;
    proc.clock = new ProcessClock(world.clock, proc);
    const backend: Backend = new ProcessBackend(world, proc);
    const plane = createControlPlane({
      backend,
      ...(options.kinds ? { kinds: [...options.kinds] } : {}),
    });
    proc.stop = new AbortController();
    proc.manager = new Manager({
      plane,
      clock: proc.clock,
      logger: silentLogger(),
      identity: name,
      shutdownTimeoutMs: 1_000,
      ...(processCount > 1
        ? { leaderElection: { name: "simulation", identity: name, ...leaseTiming } }
        : {}),
    });
    proc.manager.add(...options.controllers(context).map((c) => instrument(proc, c)));
    void proc.manager.run({ signal: proc.stop.signal }).catch((err: unknown) => {
      if (proc.alive) fail(`${name}'s manager failed: ${describeError(err)}`);
    });
    processes.push(proc);
    say(`start ${name}`);
  };

  const crash = (proc: Proc) => {
    proc.alive = false;
    proc.clock.kill();
    world.prune();
    processes.splice(processes.indexOf(proc), 1);
    say(`CRASH ${proc.name}: its calls, timers and watches are gone`);
    startProcess();
  };

  /** Lets the processes run until nothing more happens without the scheduler. */
  const settle = async () => {
    for (let i = 0; i < 50; i++) {
      const before = world.activity;
      await flushMicrotasks();
      if (world.activity === before) return;
      if (failure !== undefined) return;
    }
  };

  const checkSafety = async () => {
    const safety = options.invariants?.safety;
    if (safety === undefined || failure !== undefined) return;
    try {
      const message = await safety(view);
      if (typeof message === "string") fail(`safety invariant: ${message}`);
    } catch (error) {
      fail(`safety invariant: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  /** The built-in and user checks of a quiet system: a message for the first that fails. */
  const endChecks = async (): Promise<string | undefined> => {
    const skip = new Set(options.skipChecks ?? []);
    if (!skip.has("reconciledAfterChange")) {
      for (const [controllerName, kind] of primaryKinds) {
        for (const object of (await world.store.list(kind)).items) {
          const key = keyString(object.metadata);
          const seen = lastSeen.get(`${controllerName}/${key}`);
          if (seen === undefined)
            return `${controllerName} never reconciled ${kindId(kind)} ${key}`;
          if (isMeaningfulChange(seen, object))
            return `${controllerName} did not reconcile ${kindId(kind)} ${key} after its last change (saw rv ${seen.metadata.resourceVersion}, now ${object.metadata.resourceVersion})`;
        }
      }
    }
    if (!skip.has("finalizersRemoved")) {
      for (const kind of new Set(primaryKinds.values())) {
        for (const object of (await world.store.list(kind)).items) {
          const held = (object.metadata.finalizers ?? []).filter((f) => finalizerNames.has(f));
          if (object.metadata.deletionTimestamp !== undefined && held.length > 0)
            return `${kindId(kind)} ${keyString(object.metadata)} is still held by ${held.join(", ")}`;
        }
      }
    }
    const converged = options.invariants?.converged;
    if (converged !== undefined) {
      try {
        if (!(await converged(view)))
          return "the system did not reach its desired state (converged() stayed false)";
      } catch (error) {
        return `converged() threw: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    return undefined;
  };

  // Setup, then the processes.
  await options.setup?.(direct, context);
  for (let i = 0; i < processCount; i++) startProcess();
  await settle();

  const actions = [...(options.actions ?? [])];
  const actionAt = new Map<number, ((plane: ControlPlane) => unknown)[]>();
  for (const action of actions) {
    const at = Math.floor(random() * Math.max(1, stepsTotal));
    actionAt.set(at, [...(actionAt.get(at) ?? []), action]);
  }

  /** The last step at which a store call ran or a change was delivered. */
  let lastEventful = 0;

  /** One scheduler step; false when there was nothing to do at all. */
  const takeStep = async (): Promise<boolean> => {
    world.prune();
    for (const action of actionAt.get(step) ?? []) {
      say("user action");
      await action(direct);
    }
    if (faultsOn && faults !== undefined) {
      if (strike(faults.clockJump, "the clock jumps")) {
        const by = Math.floor(1_000 + random() * 59_000);
        say(`clock jumps by ${by} ms`);
        await world.clock.advance(by);
        return true;
      }
      if (processCount > 1 && strike(faults.loseLease, "the Lease is taken by an intruder")) {
        await takeLease(world);
        return true;
      }
    }
    const calls = world.pending;
    const watches = world.deliverable();
    const choices = calls.length + watches.length;
    if (choices === 0) {
      const next = world.clock.nextTimerAt;
      if (next === undefined) return false;
      say(`time moves to ${next} ms`);
      await world.clock.advance(next - world.clock.now());
      return true;
    }
    // Time may also move while things are pending, now and then, so timers interleave.
    if (random() < 0.05 && world.clock.nextTimerAt !== undefined) {
      const next = world.clock.nextTimerAt;
      say(`time moves to ${next} ms`);
      await world.clock.advance(next - world.clock.now());
      return true;
    }
    const pick = Math.floor(random() * choices);
    if (pick < calls.length) {
      const call = calls.splice(pick, 1)[0]!;
      await runCall(call);
      lastEventful = step;
    } else {
      const watch = watches[pick - calls.length]!;
      if (faultsOn && faults !== undefined && strike(faults.dropWatch, `drop ${watch.text}`))
        watch.drop();
      else if (
        faultsOn &&
        faults !== undefined &&
        strike(faults.expireWatch, `expire ${watch.text}`)
      )
        watch.expire();
      else {
        const delivered = watch.deliver();
        if (!delivered.includes(": BOOKMARK")) lastEventful = step;
        say(`deliver ${delivered}`);
      }
    }
    return true;
  };

  const runCall = async (call: PendingCall) => {
    if (faultsOn && faults !== undefined) {
      if (call.write && strike(faults.crash, `crash during ${call.text}`)) {
        const proc = processes.find((p) => p === call.process);
        // The write lands or not, as a crash mid-call may go.
        if (random() < 0.5) call.run();
        if (proc !== undefined) crash(proc);
        return;
      }
      if (strike(faults.unavailable, `${call.text} → ServiceUnavailable`)) {
        call.fail(new ApiError("ServiceUnavailable", "simulated: the store is unavailable"));
        return;
      }
      if (call.write && strike(faults.conflict, `${call.text} → Conflict`)) {
        call.fail(new ApiError("Conflict", "simulated: the object was modified"));
        return;
      }
      if (
        call.write &&
        strike(faults.timeoutAfterWrite, `${call.text} lands, its answer is lost`)
      ) {
        call.runThenFail(new ApiError("Timeout", "simulated: the answer timed out"));
        return;
      }
    }
    say(call.text);
    call.run();
  };

  // Phase 1: faults.
  for (; step < stepsTotal && failure === undefined; step++) {
    await takeStep();
    await settle();
    await checkSafety();
  }
  // Phase 2: no faults; the system must settle into its desired state.
  faultsOn = false;
  let lastCheck: string | undefined = "never quiet";
  const end = step + settleSteps;
  for (; step < end && failure === undefined; step++) {
    const did = await takeStep();
    await settle();
    await checkSafety();
    if (failure !== undefined) break;
    world.prune();
    if (world.pending.length === 0 && world.deliverable().length === 0) {
      lastCheck = await endChecks();
      if (lastCheck === undefined) break;
      if (!did) break;
    }
    // Only bookmarks and timers for a long while: nothing is going to change any more.
    if (step - lastEventful > idleSteps) break;
  }
  if (failure === undefined && lastCheck !== undefined)
    fail(
      step - lastEventful > idleSteps
        ? `did not settle once faults stopped (nothing changed for ${idleSteps} steps): ${lastCheck}`
        : `did not settle within ${settleSteps} steps once faults stopped: ${lastCheck}`,
    );

  // Stop every process; what they leave behind is garbage.
  for (const proc of processes) {
    proc.alive = false;
    proc.clock.kill();
    proc.stop.abort();
  }
  world.prune();
  await world.store.close();
  return {
    ok: failure === undefined,
    ...(failure === undefined ? {} : { failure }),
    trace,
    faultSteps,
    faultLines,
    steps: step,
  };
}

/** Gives the leader election Lease to a holder that never renews: the leader must step down. */
async function takeLease(world: SimWorld): Promise<void> {
  const key = { namespace: "default", name: "simulation" };
  try {
    const lease = await world.store.get(Lease, key);
    await world.store.update(Lease, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: "intruder",
        leaseTransitions: ((lease.spec as { leaseTransitions?: number }).leaseTransitions ?? 0) + 1,
        renewTime: new Date(world.clock.wallNow()).toISOString(),
      },
    });
  } catch {
    // No Lease yet, or it changed just now: nothing taken.
  }
}

export type { SimWatch };
