/**
 * A controller with real substance: a `Workload {command, replicas}` kind whose controller keeps
 * that many local processes running — it restarts them when they exit, reports
 * `status.readyReplicas` with a `Ready` condition, and stops them through a finalizer when the
 * Workload is deleted. Process exits reach the controller through a source, so it reacts at once.
 *
 * A command that keeps failing (`["false"]`, a program that does not exist) is not restarted in a
 * tight loop: as the kubelet does, after the second failure in a row the controller waits before
 * it restarts (1 s, doubling to a minute), reports `Ready=False` with reason `CrashLoopBackOff`
 * and records a Warning event; ten quiet seconds after a restart end the streak.
 */
import { spawn } from "node:child_process";
import {
  type Action,
  controller,
  defineKind,
  done,
  fromAsyncIterable,
  type Logger,
  type ResourceOf,
  requeueAfter,
  setCondition,
  writeStatus,
} from "setpoint";
import { z } from "zod";

export const Workload = defineKind({
  group: "demo.setpoint.dev",
  version: "v1",
  kind: "Workload",
  scope: "Namespaced",
  spec: z.object({
    /** The program and its arguments. */
    command: z.array(z.string()).min(1),
    replicas: z.number().int().min(0).max(20),
  }),
  status: z
    .object({
      readyReplicas: z.number().int(),
      restarts: z.number().int(),
      pids: z.array(z.number().int()),
      observedGeneration: z.number().int(),
      conditions: z.array(
        z.object({
          type: z.string(),
          status: z.enum(["True", "False", "Unknown"]),
          reason: z.string(),
          message: z.string(),
          lastTransitionTime: z.string(),
        }),
      ),
    })
    .partial(),
  printerColumns: [
    { name: "Replicas", type: "integer", jsonPath: ".spec.replicas" },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
    { name: "Restarts", type: "integer", jsonPath: ".status.restarts" },
  ],
  shortNames: ["wl"],
  // `kubectl scale workload web --replicas=4` works, as for a Deployment.
  scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.readyReplicas" },
});

export type WorkloadObject = ResourceOf<typeof Workload>;

/** A minimal async channel: `push` from callbacks, iterate elsewhere. */
function channel<T>() {
  const buffered: T[] = [];
  let wake: (() => void) | undefined;
  return {
    push(item: T) {
      buffered.push(item);
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (buffered.length > 0) yield buffered.shift()!;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}

/** What the controller needs of a process: `child_process.spawn`'s, or a simulation's fake. */
export interface ProcessLike {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(
    event: "exit",
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
  once(event: "error", listener: (err: Error) => void): unknown;
}

/** Options of {@link workloadController}. */
export interface WorkloadControllerOptions {
  /** Starts a process. @default child_process.spawn, with stdio ignored */
  readonly spawn?: (command: readonly string[]) => ProcessLike;
}

interface Replica {
  readonly process: ProcessLike;
  stopping: boolean;
  /** It could not be started (`spawn`'s "error": no such program). */
  failed: boolean;
}

interface Running {
  command: string;
  readonly replicas: Set<Replica>;
  restarts: number;
  /** Processes that ended on their own since the streak began (reset after a quiet spell). */
  crashes: number;
  /** Restarts wait for the back-off's requeue. */
  holding: boolean;
  /** Processes that ended on their own since the last reconcile said so. */
  unseenExits: number;
}

/** How long a streak of failures waits before a restart: 1 s, doubling, at most a minute. */
export function crashBackoffMs(crashes: number): number {
  return Math.min(1_000 * 2 ** Math.max(0, crashes - 2), 60_000);
}

/** How long every process must keep running after a restart for a streak of failures to end. */
const STABLE_AFTER_MS = 10_000;

function isAlive(replica: Replica): boolean {
  return (
    !replica.failed && replica.process.exitCode === null && replica.process.signalCode === null
  );
}

function stop(replica: Replica): Promise<void> {
  replica.stopping = true;
  if (!isAlive(replica)) return Promise.resolve();
  return new Promise((resolve) => {
    replica.process.once("exit", () => resolve());
    replica.process.kill("SIGTERM");
  });
}

/**
 * The Workload controller and the processes it runs. `stopAll()` stops every process (for a
 * clean exit of the program that runs it).
 */
export function workloadController(options: WorkloadControllerOptions = {}) {
  const running = new Map<string, Running>();
  const exits = channel<string>();
  const spawnProcess =
    options.spawn ??
    ((command: readonly string[]) => spawn(command[0]!, command.slice(1), { stdio: "ignore" }));

  const start = (key: string, entry: Running, command: readonly string[], log: Logger) => {
    const child = spawnProcess(command);
    const replica: Replica = { process: child, stopping: false, failed: false };
    entry.replicas.add(replica);
    let ended = false;
    const ends = (why: Record<string, unknown>) => {
      if (ended) return;
      ended = true;
      if (!replica.stopping) {
        entry.restarts++;
        entry.crashes++;
        entry.unseenExits++;
        log.info({ pid: child.pid, ...why }, "process exited; it will be restarted");
      }
      exits.push(key);
    };
    child.once("error", (err) => {
      replica.failed = true;
      ends({ err: err.message });
    });
    child.once("exit", (code, signal) => ends({ code, signal }));
  };

  const workloads = controller(Workload, {
    name: "workloads",
    concurrency: 4,
    finalizer: {
      name: "demo.setpoint.dev/stop-processes",
      async cleanup(workload, { key, log }) {
        const entry = running.get(key);
        running.delete(key);
        if (entry !== undefined) await Promise.all([...entry.replicas].map(stop));
        log.info({ stopped: entry?.replicas.size ?? 0 }, `${key}: deleted; processes stopped`);
        void workload;
      },
    },
    async reconcile(workload, { key, client, log, reason, events }): Promise<Action> {
      const command = JSON.stringify(workload.spec.command);
      let entry = running.get(key);
      if (entry === undefined) {
        entry = {
          command,
          replicas: new Set(),
          restarts: 0,
          crashes: 0,
          holding: false,
          unseenExits: 0,
        };
        running.set(key, entry);
      }
      // The back-off's requeue: this reconcile restarts what is missing.
      const released = reason === "requeue" && entry.holding;
      if (released) entry.holding = false;
      const changes: string[] = [];
      if (entry.command !== command) {
        await Promise.all([...entry.replicas].map(stop));
        entry.replicas.clear();
        entry.command = command;
        entry.crashes = 0;
        entry.holding = false;
        changes.push("command changed: replaced every process");
      }
      for (const replica of entry.replicas) if (!isAlive(replica)) entry.replicas.delete(replica);
      const short = workload.spec.replicas - entry.replicas.size;
      if (short > 0 && entry.crashes >= 2 && !entry.holding && !released) {
        // A streak of failures: wait before restarting, as the kubelet does.
        entry.holding = true;
        const waitMs = crashBackoffMs(entry.crashes);
        await events.record({
          type: "Warning",
          reason: "BackOff",
          message: `back-off ${waitMs / 1000}s restarting ${workload.spec.command.join(" ")}: it ended ${entry.crashes} times in a row`,
        });
      }
      if (entry.holding) {
        const waitMs = crashBackoffMs(entry.crashes);
        const ready = entry.replicas.size;
        await writeStatus(
          client,
          workload,
          setCondition(
            {
              ...workload.status,
              readyReplicas: ready,
              restarts: entry.restarts,
              pids: [...entry.replicas].map((r) => r.process.pid ?? 0),
            },
            {
              type: "Ready",
              status: "False",
              reason: "CrashLoopBackOff",
              message: `${ready}/${workload.spec.replicas} running; it ended ${entry.crashes} times in a row, restarting in ${waitMs / 1000}s`,
            },
          ),
        );
        return requeueAfter(waitMs);
      }
      if (entry.unseenExits > 0) {
        const ended = entry.unseenExits;
        entry.unseenExits = 0;
        await events.record({
          type: "Warning",
          reason: "ProcessExited",
          message: `${ended === 1 ? "a process" : `${ended} processes`} of ${workload.spec.command.join(" ")} ended on ${ended === 1 ? "its" : "their"} own; restarting`,
        });
      }
      // Every process up and nothing ended since the last look: the streak is over.
      if (short <= 0 && reason === "requeue") entry.crashes = 0;
      const missing = short;
      for (let i = 0; i < missing; i++) start(key, entry, workload.spec.command, log);
      if (missing > 0) changes.push(`started ${missing}`);
      const surplus = [...entry.replicas].slice(workload.spec.replicas);
      for (const replica of surplus) entry.replicas.delete(replica);
      await Promise.all(surplus.map(stop));
      if (surplus.length > 0) changes.push(`stopped ${surplus.length}`);

      const ready = entry.replicas.size;
      const pids = [...entry.replicas].map((r) => r.process.pid ?? 0);
      const status = setCondition(
        { ...workload.status, readyReplicas: ready, restarts: entry.restarts, pids },
        ready === workload.spec.replicas
          ? {
              type: "Ready",
              status: "True",
              reason: "AllReplicasRunning",
              message: `${ready}/${workload.spec.replicas} running`,
            }
          : {
              type: "Ready",
              status: "False",
              reason: "Starting",
              message: `${ready}/${workload.spec.replicas} running`,
            },
      );
      await writeStatus(client, workload, status);
      if (changes.length > 0)
        log.info(
          { pids },
          `${key}: ${changes.join(", ")} (${ready}/${workload.spec.replicas} running)`,
        );
      // After restarts in a streak, look again once they had time to fail: a quiet look ends it.
      return entry.crashes > 0 && missing > 0 ? requeueAfter(STABLE_AFTER_MS) : done();
    },
  }).source(fromAsyncIterable(exits, { key: (key) => key, name: "process exits" }));

  return {
    controller: workloads,
    /** The processes running for a Workload key, for tests. */
    pids: (key: string) =>
      [...(running.get(key)?.replicas ?? [])].filter(isAlive).map((r) => r.process.pid!),
    async stopAll(): Promise<void> {
      const all = [...running.values()].flatMap((entry) => [...entry.replicas]);
      running.clear();
      await Promise.all(all.map(stop));
    },
  };
}
