/**
 * A controller with real substance: a `Workload {command, replicas}` kind whose controller keeps
 * that many local processes running — it restarts them when they exit, reports
 * `status.readyReplicas` with a `Ready` condition, and stops them through a finalizer when the
 * Workload is deleted. Process exits reach the controller through a source, so it reacts at once.
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
}

interface Running {
  command: string;
  readonly replicas: Set<Replica>;
  restarts: number;
}

function isAlive(replica: Replica): boolean {
  return replica.process.exitCode === null && replica.process.signalCode === null;
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
    const replica: Replica = { process: child, stopping: false };
    entry.replicas.add(replica);
    child.once("error", (err) => log.warn({ err: err.message }, "process failed to start"));
    child.once("exit", (code, signal) => {
      if (!replica.stopping) {
        entry.restarts++;
        log.info({ pid: child.pid, code, signal }, "process exited; it will be restarted");
      }
      exits.push(key);
    });
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
    async reconcile(workload, { key, client, log }): Promise<Action> {
      const command = JSON.stringify(workload.spec.command);
      let entry = running.get(key);
      if (entry === undefined) {
        entry = { command, replicas: new Set(), restarts: 0 };
        running.set(key, entry);
      }
      const changes: string[] = [];
      if (entry.command !== command) {
        await Promise.all([...entry.replicas].map(stop));
        entry.replicas.clear();
        entry.command = command;
        changes.push("command changed: replaced every process");
      }
      for (const replica of entry.replicas) if (!isAlive(replica)) entry.replicas.delete(replica);
      const missing = workload.spec.replicas - entry.replicas.size;
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
      return done();
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
