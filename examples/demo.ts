/**
 * The demo behind `npm start`: a control plane holding `Workload` objects and the controller
 * that keeps their processes running (see workload.ts). It applies two manifests and keeps
 * running until Ctrl-C, when it shuts down gracefully and stops every process it started; you
 * are the user, with kubectl. `npm start -- --play` has the demo play a user instead: it scales
 * one Workload up, then deletes the other.
 *
 * `npm start` keeps the control plane in `.setpoint-demo/` (the embedded durable store): run it
 * again and it picks up the Workloads where the last run left them. `npm start -- --memory`
 * keeps it in memory instead; `--data DIR` picks the directory.
 *
 * It also serves the plane over the Kubernetes REST API, with the web dashboard, on port 8480
 * (`--port N` for another; when 8480 is taken, any free port), and writes a kubeconfig for it
 * (`.setpoint-demo/kubeconfig`), so that kubectl drives the very objects the controller
 * reconciles: it prints the dashboard's address and, once, the commands to try.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createControlPlane, createLogger, type Logger, Manager } from "setpoint";
import { serveKubernetesApi } from "setpoint/kubernetes";
import { Workload, workloadController } from "./workload.js";

const node = process.execPath;

/** The manifests applied at start. */
export const manifests = [
  {
    metadata: { name: "web", namespace: "demo" },
    spec: { command: [node, "-e", "setInterval(() => {}, 1000)"], replicas: 2 },
  },
  // Exits now and then: watch the controller restart it.
  {
    metadata: { name: "flaky", namespace: "demo" },
    spec: { command: [node, "-e", "setTimeout(() => process.exit(1), 30000)"], replicas: 1 },
  },
];

export interface DemoOptions {
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Seconds between the steps the demo takes as a user; 0 skips them. @default 6 */
  readonly stepSeconds?: number;
  /** Keep the control plane durably in this directory. @default in memory */
  readonly dataDir?: string;
  /**
   * Serve the plane over the Kubernetes REST API (and the dashboard) on this port (0: any free
   * one) and write a kubeconfig for it to `kubeconfig`; with `orAnyPort`, a port in use gives way
   * to a free one. @default not served
   */
  readonly serve?: {
    readonly port: number;
    readonly kubeconfig: string;
    readonly orAnyPort?: boolean;
  };
}

/** The durable plane in `dataDir` — or memory, with a warning, where better-sqlite3 is missing. */
function openPlane(dataDir: string | undefined, logger: Logger) {
  if (dataDir === undefined) return createControlPlane();
  try {
    return createControlPlane({ dataDir });
  } catch (error) {
    if ((error as { code?: string }).code !== "SETPOINT_NO_SQLITE") throw error;
    logger.warn({}, `${(error as Error).message}; running in memory instead`);
    return createControlPlane();
  }
}

/** The port `npm start` serves on (`npm start -- --port N` for another; a busy one gives way). */
export const DEMO_PORT = 8480;

/** Runs the demo until `signal` aborts. */
export async function runDemo({
  signal,
  logger,
  stepSeconds: userSteps = 6,
  dataDir,
  serve,
}: DemoOptions): Promise<void> {
  let stepSeconds = userSteps;
  const plane = openPlane(dataDir, logger);
  const workloads = plane.resources(Workload);
  const kept = (await workloads.list()).items;
  const { controller, stopAll } = workloadController();
  const manager = new Manager({ plane, logger, shutdownTimeoutMs: 10_000 });
  manager.add(controller);
  const server =
    serve === undefined
      ? undefined
      : await serveKubernetesApi(plane, { port: serve.port, dashboard: { manager } }).catch(
          (error: NodeJS.ErrnoException) => {
            if (error.code !== "EADDRINUSE" || serve.orAnyPort !== true) throw error;
            logger.warn({}, `port ${serve.port} is in use: serving on a free port instead`);
            return serveKubernetesApi(plane, { port: 0, dashboard: { manager } });
          },
        );
  if (server !== undefined && serve !== undefined) {
    await writeFile(serve.kubeconfig, server.kubeconfig(), { mode: 0o600 });
    const kubectl = `kubectl --kubeconfig ${serve.kubeconfig}`;
    logger.info(
      {},
      [
        `dashboard: ${server.url}/ui/  (open it in a browser)`,
        `serving the control plane at ${server.url}; drive it with kubectl, in another terminal:`,
        `  ${kubectl} get workloads -n demo                 # REPLICAS, READY, RESTARTS`,
        `  ${kubectl} patch workload web -n demo --type merge -p '{"spec":{"replicas":4}}'`,
        `  ${kubectl} get workloads -n demo -w              # watch the controller react`,
      ].join("\n"),
    );
  }
  const running = manager.run({ signal });

  if (kept.length > 0) {
    // A durable store from an earlier run: carry on from there, as a user would expect.
    logger.info(
      {},
      `picked up ${kept.length} Workloads from the last run in ${dataDir}: ${kept.map((w) => `${w.metadata.namespace}/${w.metadata.name}`).join(", ")}`,
    );
    stepSeconds = 0;
  } else {
    for (const manifest of manifests) await workloads.create(manifest);
    logger.info(
      {},
      `applied ${manifests.length} Workloads: ${manifests.map((m) => `${m.metadata.namespace}/${m.metadata.name}`).join(", ")}`,
    );
  }

  // Play a user: scale web up, then delete flaky (its finalizer stops its process).
  const steps = [
    async () => {
      logger.info({}, "user: scale demo/web to 3 replicas");
      await workloads.patch(
        { namespace: "demo", name: "web" },
        { type: "merge", patch: { spec: { replicas: 3 } } },
      );
    },
    async () => {
      logger.info({}, "user: delete demo/flaky");
      await workloads.delete({ namespace: "demo", name: "flaky" });
    },
  ];
  if (stepSeconds > 0) {
    for (const stepAction of steps) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, stepSeconds * 1000);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      if (signal.aborted) break;
      await stepAction().catch((err) => logger.error({ err }, "step failed"));
    }
    if (!signal.aborted) logger.info({}, "the demo keeps running: Ctrl-C to stop");
  }

  await running;
  await server?.close();
  await stopAll();
  const left = (await workloads.list()).items.map(
    (w) =>
      `${w.metadata.namespace}/${w.metadata.name} ${w.status?.readyReplicas ?? 0}/${w.spec.replicas}`,
  );
  logger.info({}, `stopped cleanly; Workloads at the end: ${left.join(", ") || "none"}`);
  await plane.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const logger = createLogger();
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  const args = process.argv.slice(2);
  const flagValue = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const dataDir = args.includes("--memory") ? undefined : (flagValue("--data") ?? ".setpoint-demo");
  const port = flagValue("--port");
  if (port !== undefined && !/^\d+$/.test(port)) {
    logger.error({}, `--port ${port}: expected a port number, such as 8480`);
    process.exit(1);
  }
  logger.info(
    {},
    `setpoint demo: Workload controller on ${dataDir === undefined ? "an in-memory control plane" : `a durable control plane in ${dataDir}/ (npm start -- --memory for memory)`} (Ctrl-C to stop)`,
  );
  const stateDir = dataDir ?? ".setpoint-demo";
  await mkdir(stateDir, { recursive: true });
  try {
    await runDemo({
      signal: stop.signal,
      logger,
      stepSeconds: args.includes("--play") ? 6 : 0,
      ...(dataDir === undefined ? {} : { dataDir }),
      // A fixed port by default, so that an open dashboard finds the next run again.
      serve: {
        port: Number(port ?? DEMO_PORT),
        kubeconfig: join(stateDir, "kubeconfig"),
        orAnyPort: port === undefined,
      },
    });
  } catch (error) {
    // What went wrong, without a stack: a store another demo holds, a port taken.
    logger.error({}, `setpoint demo: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
