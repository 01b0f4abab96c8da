#!/usr/bin/env node
/**
 * The `setpoint` command: a thin layer over the public API.
 *
 *   setpoint run <module…> [options]     run the controllers modules export
 *   setpoint serve [module…] [options]   serve a control plane over the Kubernetes REST API
 *   setpoint crd <module>                print the CRDs of the kinds a module exports
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pino } from "pino";
import pretty from "pino-pretty";
import { createControlPlane } from "../backend/control-plane.js";
import type { Controller } from "../controller/controller.js";
import { Manager } from "../controller/manager.js";
import { serveKubernetesApi } from "../kubernetes/apiserver/server.js";
import { crdYamlOf } from "../kubernetes/crd.js";
import { kindsOf, loadModule } from "./load-module.js";

const usage = `setpoint — Kubernetes-style controllers for everything

Usage:
  setpoint run <module…> [options]     Run the controllers modules export, on a store of your choice
  setpoint serve [module…] [options]   Serve a control plane over the Kubernetes REST API
  setpoint crd <module…>               Print the CustomResourceDefinitions of the kinds modules export

Run 'setpoint <command> --help' for a command's options and examples.

Examples:
  setpoint run examples/nocontrol.ts --memory
  setpoint run ./controllers.ts --postgres postgres://localhost/app --leader-elect --metrics-port 8081
  setpoint serve examples/workload.ts --kubeconfig ./kubeconfig
`;

const runUsage = `Usage: setpoint run <module…> [options]

Runs every controller the modules export (values made by controller()) until Ctrl-C or SIGTERM,
then shuts down gracefully. The store is one of:

  --memory              in memory (the default)
  --data <dir>          the embedded durable store in <dir> (needs better-sqlite3)
  --postgres <url>      PostgreSQL (needs pg); --schema <name> picks the schema (default setpoint)
  --kubeconfig <file>   a Kubernetes cluster, the kubeconfig's current context
                        (needs @kubernetes/client-node)

Options:
  --metrics-port <n>    serve /metrics, /healthz and /readyz on this port (0: any free port)
  --metrics-host <addr> the address for them (default 127.0.0.1)
  --leader-elect        run the controllers only while holding the Lease (--lease-name, default
                        setpoint-controllers)
  --shards <n>          split each controller's keys into n shards shared by the live replicas
  --identity <id>       this replica's name for leases (default hostname-random)
  --shutdown-timeout <s> seconds reconciles in flight get to finish on SIGTERM before their
                        signals abort (default 30); the process exits within this plus 1 s
  --log-format <f>      pretty (default, for people) or json (for machines)
  -h, --help            show this help

Examples:
  setpoint run examples/nocontrol.ts --memory
  setpoint run ./controllers.ts --data ./state
  setpoint run ./controllers.ts --postgres postgres://localhost/app --leader-elect --metrics-port 8081
  setpoint run ./controllers.ts --postgres postgres://localhost/app --shards 12
  setpoint run ./controllers.ts --kubeconfig ~/.kube/config --log-format json
`;

const serveUsage = `Usage: setpoint serve [module…] [options]

Serves an in-memory control plane over the Kubernetes REST API, so that kubectl and any
Kubernetes client work against it. Kinds come from the modules given (every exported kind) and
from CustomResourceDefinitions applied at runtime.

Options:
  --port <n>            port to listen on (default 8080; 0 picks a free one)
  --host <address>      address to bind (default 127.0.0.1)
  --token <token>       require this bearer token (kubectl sends tokens only over TLS)
  --tls-cert <file>     serve HTTPS with this PEM certificate…
  --tls-key <file>      …and this PEM key
  --kubeconfig <file>   write a kubeconfig for this server to <file> (default: print it)
  --minor <n>           the Kubernetes minor version /version reports (default 32)
  -h, --help            show this help

Examples:
  setpoint serve --kubeconfig ./kubeconfig
  kubectl --kubeconfig ./kubeconfig apply -f crd.yaml
  setpoint serve examples/workload.ts --port 8443 --token s3cret --tls-cert cert.pem --tls-key key.pem
`;

const crdUsage = `Usage: setpoint crd <module…>

Prints, as YAML, the CustomResourceDefinition of every kind the modules export (structural
schema, printer columns, status subresource, short names), ready for kubectl apply.

Examples:
  setpoint crd examples/workload.ts > workload-crd.yaml
  setpoint crd examples/workload.ts | kubectl apply -f -
`;

async function serve(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      token: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      kubeconfig: { type: "string" },
      minor: { type: "string", default: "32" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(serveUsage);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port ${values.port}: expected a port number`);
  const minorVersion = Number(values.minor);
  if (!Number.isInteger(minorVersion) || minorVersion < 0)
    throw new Error(`--minor ${values.minor}: expected a number`);
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined))
    throw new Error("--tls-cert and --tls-key go together");
  const plane = createControlPlane();
  for (const path of positionals) {
    const kinds = kindsOf(await loadModule(path));
    if (kinds.length === 0) throw new Error(`${path} exports no kind (a value made by defineKind)`);
    plane.register(...kinds);
  }
  const server = await serveKubernetesApi(plane, {
    port,
    host: values.host,
    minorVersion,
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values["tls-cert"] === undefined
      ? {}
      : { tls: { certFile: values["tls-cert"], keyFile: values["tls-key"]! } }),
  });
  const kinds = [...plane.kinds.values()].map((k) => `${k.plural}.${k.group || "core"}`).join(", ");
  process.stderr.write(`setpoint serve: listening on ${server.url} (kinds: ${kinds})\n`);
  if (values.kubeconfig !== undefined) {
    await writeFile(values.kubeconfig, server.kubeconfig(), { mode: 0o600 });
    process.stderr.write(
      `setpoint serve: wrote ${values.kubeconfig}; try: kubectl --kubeconfig ${values.kubeconfig} get namespaces\n`,
    );
  } else {
    process.stdout.write(
      `# Save as a file and use it with kubectl --kubeconfig <file>:\n${server.kubeconfig()}`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  await plane.close();
  process.stderr.write("setpoint serve: stopped\n");
}

async function crd(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(crdUsage);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const documents: string[] = [];
  for (const path of positionals) {
    const kinds = kindsOf(await loadModule(path));
    if (kinds.length === 0) throw new Error(`${path} exports no kind (a value made by defineKind)`);
    documents.push(...kinds.map(crdYamlOf));
  }
  process.stdout.write(documents.join("---\n"));
}

/** Whether a value is a controller made by `controller()` (checked by shape: modules may load their own copy). */
function isController(value: unknown): value is Controller<never> {
  if (value === null || typeof value !== "object") return false;
  const v = value as { name?: unknown; options?: { reconcile?: unknown }; owned?: unknown };
  return (
    typeof v.name === "string" &&
    typeof v.options?.reconcile === "function" &&
    Array.isArray(v.owned)
  );
}

async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      memory: { type: "boolean" },
      data: { type: "string" },
      postgres: { type: "string" },
      schema: { type: "string" },
      kubeconfig: { type: "string" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string", default: "127.0.0.1" },
      "leader-elect": { type: "boolean" },
      "lease-name": { type: "string", default: "setpoint-controllers" },
      shards: { type: "string" },
      identity: { type: "string" },
      "shutdown-timeout": { type: "string" },
      "log-format": { type: "string", default: "pretty" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(runUsage);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const stores = [values.memory, values.data, values.postgres, values.kubeconfig].filter(
    (store) => store !== undefined,
  );
  if (stores.length > 1)
    throw new Error("choose one store: --memory, --data, --postgres or --kubeconfig");
  const format = values["log-format"];
  if (format !== "pretty" && format !== "json")
    throw new Error(`--log-format ${format}: expected pretty or json`);
  const metricsPort =
    values["metrics-port"] === undefined ? undefined : Number(values["metrics-port"]);
  if (
    metricsPort !== undefined &&
    (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)
  )
    throw new Error(`--metrics-port ${values["metrics-port"]}: expected a port number`);
  const shutdownTimeout =
    values["shutdown-timeout"] === undefined ? undefined : Number(values["shutdown-timeout"]);
  if (shutdownTimeout !== undefined && !(shutdownTimeout >= 0))
    throw new Error(
      `--shutdown-timeout ${values["shutdown-timeout"]}: expected a number of seconds`,
    );
  const shards = values.shards === undefined ? undefined : Number(values.shards);
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1))
    throw new Error(`--shards ${values.shards}: expected a positive whole number`);

  const controllers: Controller<never>[] = [];
  const kinds = [];
  for (const path of positionals) {
    const module = await loadModule(path);
    const found = Object.values(module).filter(isController);
    if (found.length === 0)
      throw new Error(`${path} exports no controller (a value made by controller())`);
    controllers.push(...found);
    kinds.push(...kindsOf(module));
  }

  const logger =
    format === "json"
      ? pino({ name: "setpoint", level: process.env.SETPOINT_LOG_LEVEL ?? "info" })
      : pino(
          { level: process.env.SETPOINT_LOG_LEVEL ?? "info" },
          pretty({
            ignore: "pid,hostname,name,instance",
            translateTime: "HH:MM:ss",
            singleLine: true,
          }),
        );
  const where = values.kubeconfig
    ? `the cluster of ${values.kubeconfig}`
    : values.postgres
      ? `PostgreSQL (schema ${values.schema ?? "setpoint"})`
      : values.data
        ? `the durable store in ${values.data}`
        : "memory";
  const plane = values.kubeconfig
    ? createControlPlane({
        backend: await (await import("../kubernetes/index.js")).connectKubernetes({
          kubeconfig: values.kubeconfig,
        }),
      })
    : values.postgres
      ? createControlPlane({
          postgres: values.postgres,
          ...(values.schema === undefined ? {} : { schema: values.schema }),
        })
      : values.data
        ? createControlPlane({ dataDir: values.data })
        : createControlPlane();
  await plane.ready();
  plane.register(...kinds);
  const manager = new Manager({
    plane,
    logger,
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(shutdownTimeout === undefined ? {} : { shutdownTimeoutMs: shutdownTimeout * 1000 }),
    ...(metricsPort === undefined
      ? {}
      : { healthPort: metricsPort, healthHost: values["metrics-host"] }),
    ...(values["leader-elect"] ? { leaderElection: { name: values["lease-name"] } } : {}),
    ...(shards === undefined ? {} : { shards: { count: shards } }),
  });
  manager.add(...controllers);
  logger.info(
    {},
    `setpoint run: ${controllers.map((c) => c.name).join(", ")} on ${where}${values["leader-elect"] ? ", leader-elected" : ""}${shards ? `, ${shards} shards` : ""} (Ctrl-C to stop)`,
  );
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  await manager.run({ signal: stop.signal });
  await plane.close();
  // A reconcile that ignored its aborted signal was abandoned and may hold the event loop (a
  // timer, a socket): the shutdown is over, so the process ends here. Logs are written
  // synchronously, so nothing is lost.
  process.exit();
}

const [command, ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case "run":
      await run(rest);
      break;
    case "serve":
      await serve(rest);
      break;
    case "crd":
      await crd(rest);
      break;
    case undefined:
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(usage);
      break;
    default:
      process.stderr.write(`setpoint: unknown command "${command}"\n\n${usage}`);
      process.exitCode = 2;
  }
} catch (err) {
  process.stderr.write(
    `setpoint ${command}: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = 1;
}
