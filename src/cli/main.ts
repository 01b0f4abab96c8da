#!/usr/bin/env node
/**
 * The `setpoint` command: a thin layer over the public API.
 *
 *   setpoint run <module…> [options]     run the controllers modules export
 *   setpoint serve [module…] [options]   serve a control plane over the Kubernetes REST API
 *   setpoint crd <module>                print the CRDs of the kinds a module exports
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { isAbsolute, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type ControlPlane, createControlPlane } from "../backend/control-plane.js";
import type { Controller } from "../controller/controller.js";
import { Manager } from "../controller/manager.js";
import {
  type KubernetesApiServer,
  type ServeOptions,
  serveKubernetesApi,
} from "../kubernetes/apiserver/server.js";
import { crdYamlOf } from "../kubernetes/crd.js";
import { ApiError } from "../model/api-error.js";
import { systemClock, timedOut, within } from "../model/clock.js";
import type { AnyKind } from "../model/kind.js";
import { createLogger } from "../observability/logging.js";
import { kindsOf, loadModule } from "./load-module.js";

const usage = `setpoint — Kubernetes-style controllers for everything

Usage:
  setpoint run <module…> [options]     Run the controllers modules export, on a store of your choice
  setpoint serve [module…] [options]   Serve a control plane over the Kubernetes REST API
  setpoint crd <module…>               Print the CustomResourceDefinitions of the kinds modules export
  setpoint manifests <module…>         Print what a cluster needs to run the modules' controllers
  setpoint --version                   Print setpoint's version

Run 'setpoint <command> --help' for a command's options and examples.

Examples:
  setpoint run ${example("nocontrol")} --serve 8080 --kubeconfig-out ./kubeconfig
  kubectl --kubeconfig ./kubeconfig apply -f ${example("nocontrol", ".yaml")}
  setpoint run ./controllers.js --postgres postgres://localhost/app --leader-elect --metrics-port 8081
  setpoint serve ${example("nocontrol")} --data ./state --kubeconfig-out ./kubeconfig
`;

const storeOptions = `The store is one of:

  --memory              in memory (the default)
  --data <dir>          the embedded durable store in <dir> (needs better-sqlite3)
  --postgres <url>      PostgreSQL (needs pg); --schema <name> picks the schema (default setpoint)`;

const serveSecurityOptions = `  --token <token>       require this bearer token (kubectl sends tokens only over TLS)
  --tls-cert <file>     serve HTTPS with this PEM certificate…
  --tls-key <file>      …and this PEM key
  --minor <n>           the Kubernetes minor version /version reports (default 32)
  --no-builtin-kinds    serve none of Kubernetes' built-in kinds beyond Namespace, Service,
                        Lease, Event and CRDs (by default ConfigMap, Secret, Pod, Deployment,
                        Job, Role… are served, as a cluster serves them; nothing runs them)
  --no-dashboard        serve no web dashboard (by default at /ui/, with the same security)
  --read-only-dashboard  the dashboard's "Reconcile now" is off`;

const runUsage = `Usage: setpoint run <module…> [options]

Runs every controller the modules export (values made by controller()) until Ctrl-C or SIGTERM,
then shuts down gracefully. ${storeOptions}
  --kubeconfig <file>   a Kubernetes cluster, the kubeconfig's current context
                        (needs @kubernetes/client-node)
  --in-cluster          the cluster this process runs in (its service account), or else
                        $KUBECONFIG or ~/.kube/config: what a Deployment from
                        \`setpoint manifests\` runs with

Serving the plane the controllers use, so that kubectl can drive them:
  --serve [host:]port   serve it over the Kubernetes REST API (host 127.0.0.1 unless given;
                        port 0 picks a free one); not with --kubeconfig, whose cluster serves
                        itself
  --kubeconfig-out <f>  write a kubeconfig for it to <f> (default: print it to stderr)
${serveSecurityOptions}

Options:
  --metrics-port <n>    serve /metrics, /healthz and /readyz on this port (0: any free port)
  --metrics-host <addr> the address for them (default 127.0.0.1)
  --leader-elect        run the controllers only while holding the Lease (--lease-name, default
                        setpoint-controllers; --lease-namespace, default "default")
  --shards <n>          split each controller's keys into n shards shared by the live replicas
  --identity <id>       this replica's name for leases (default hostname-random)
  --shutdown-timeout <s> seconds reconciles in flight get to finish on SIGTERM before their
                        signals abort (default 30); the process exits within this plus 5 s,
                        even if the store hangs
  --log-format <f>      pretty (default, for people) or json (for machines); SETPOINT_LOG_LEVEL
                        sets the level (default info)
  -h, --help            show this help

Examples:
  setpoint run ${example("nocontrol")} --serve 8080 --kubeconfig-out ./kubeconfig
  kubectl --kubeconfig ./kubeconfig apply -f ${example("nocontrol", ".yaml")}
  setpoint run ./controllers.js --data ./state --serve 8080
  setpoint run ./controllers.js --postgres postgres://localhost/app --leader-elect --metrics-port 8081
  setpoint run ./controllers.js --postgres postgres://localhost/app --shards 12
  setpoint run ./controllers.js --kubeconfig ~/.kube/config --log-format json
`;

const serveUsage = `Usage: setpoint serve [module…] [options]

Serves a control plane over the Kubernetes REST API, so that kubectl and any Kubernetes client
work against it. Kinds come from the modules given (every exported kind) and from
CustomResourceDefinitions applied at runtime. ${storeOptions}

Several \`setpoint run --postgres\` replicas and one \`setpoint serve --postgres\` share one plane.

Options:
  --port <n>            port to listen on (default 8080; 0 picks a free one)
  --host <address>      address to bind (default 127.0.0.1)
  --kubeconfig-out <f>  write a kubeconfig for this server to <f> (default: print it); it
                        will not overwrite a kubeconfig setpoint did not write
${serveSecurityOptions}
  -h, --help            show this help

Examples:
  setpoint serve --kubeconfig-out ./kubeconfig
  kubectl --kubeconfig ./kubeconfig apply -f crd.yaml
  setpoint serve ${example("workload")} --data ./state --kubeconfig-out ./kubeconfig
  setpoint serve --port 8443 --token s3cret --tls-cert cert.pem --tls-key key.pem
`;

const manifestsUsage = `Usage: setpoint manifests <module…> [options]

Prints, as YAML, what a Kubernetes cluster needs to run the controllers the modules export: the
namespace (unless default), the CustomResourceDefinitions of their kinds, a ServiceAccount, RBAC
derived from the controllers' declarations — a ClusterRole for the kinds they read everywhere, a
Role in each namespace a scope names, a Role for the Lease — with bindings, and a Deployment
running \`setpoint run <module…> --in-cluster --leader-elect\` with liveness and readiness probes
on /healthz and /readyz, the metrics port and a graceful termination period. Writes a reconcile
makes beyond what controllers declare (its own object's spec, other kinds through ctx.plane)
need rules you add yourself. Module paths are as the image sees them (relative to its WORKDIR).

Options:
  --image <image>       the image holding the modules and setpoint (default
                        setpoint-operator:latest; see examples/Dockerfile)
  --namespace <ns>      where the operator runs (default "default")
  --name <name>         its ServiceAccount, role, Deployment and Lease (default
                        setpoint-controllers)
  --replicas <n>        replicas of the Deployment; one leads at a time (default 2)
  --module-path <p>     the modules' path inside the image, once per module, in order
                        (default: the paths given)
  -h, --help            show this help

Examples:
  setpoint manifests ./dist/controllers.js --image registry.example/ops:1.0 | kubectl apply -f -
`;

const crdUsage = `Usage: setpoint crd <module…>

Prints, as YAML, the CustomResourceDefinition of every kind the modules export (structural
schema, printer columns, status subresource, short names), ready for kubectl apply.

Examples:
  setpoint crd ${example("workload")} > workload-crd.yaml
  setpoint crd ${example("workload")} | kubectl apply -f -
`;

/**
 * The path of one of setpoint's examples as seen from here: in this repository its source, in an
 * installed package the compiled copy shipped in \`dist/examples\` (no TypeScript loader needed).
 */
function example(name: string, extension = ""): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith(".js");
  // src/cli and dist/cli are both two levels below the package's root, where examples/ is.
  const file = new URL(
    extension
      ? `../../examples/${name}${extension}`
      : compiled
        ? `../examples/${name}.js`
        : `../../examples/${name}.ts`,
    import.meta.url,
  );
  const path = relative(process.cwd(), fileURLToPath(file));
  return path.startsWith("..") || isAbsolute(path) ? fileURLToPath(file) : path;
}

/** What a command opened, closed in reverse order however the command ends. */
class Opened {
  private readonly closers: (() => Promise<unknown> | unknown)[] = [];

  add(close: () => Promise<unknown> | unknown): void {
    this.closers.push(close);
  }

  /** Closes everything, giving each part at most `eachMs` (a store that hangs stays open). */
  async close(eachMs = 2_000): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await within(systemClock, eachMs, Promise.resolve().then(close));
      } catch {
        // Closing what failed to open may fail too; the first error is the one to report.
      }
    }
  }
}

/** The levels SETPOINT_LOG_LEVEL takes (pino's). */
const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** How long closing what a command opened may take after its work is done. */
const closeGraceMs = 4_000;

/** The options every command that opens a store takes. */
const storeFlags = {
  memory: { type: "boolean" },
  data: { type: "string" },
  postgres: { type: "string" },
  schema: { type: "string" },
} as const;

/** The options of a served API's security and version. */
const serveFlags = {
  token: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  minor: { type: "string", default: "32" },
  "no-builtin-kinds": { type: "boolean" },
  "no-dashboard": { type: "boolean" },
  "read-only-dashboard": { type: "boolean" },
} as const;

interface StoreValues {
  memory?: boolean;
  data?: string;
  postgres?: string;
  schema?: string;
  kubeconfig?: string;
  "in-cluster"?: boolean;
}

/** Opens the store the flags name and waits until it is ready; errors say what was wrong. */
async function openPlane(
  values: StoreValues,
  opened: Opened,
  allowCluster: boolean,
): Promise<ControlPlane> {
  const stores = [
    values.memory,
    values.data,
    values.postgres,
    values.kubeconfig,
    values["in-cluster"],
  ].filter((store) => store !== undefined);
  if (stores.length > 1)
    throw new Error(
      `choose one store: ${allowCluster ? "--memory, --data, --postgres, --kubeconfig or --in-cluster" : "--memory, --data or --postgres"}`,
    );
  if (values.schema !== undefined && values.postgres === undefined)
    throw new Error("--schema goes with --postgres");
  let plane: ControlPlane;
  if (values.kubeconfig !== undefined || values["in-cluster"]) {
    const { connectKubernetes } = await import("../kubernetes/index.js");
    plane = createControlPlane({
      backend: await connectKubernetes(
        values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig },
      ),
    });
  } else if (values.postgres !== undefined) {
    plane = createControlPlane({
      postgres: postgresUrl(values.postgres),
      ...(values.schema === undefined ? {} : { schema: values.schema }),
    });
  } else if (values.data !== undefined) {
    plane = createControlPlane({ dataDir: values.data });
  } else plane = createControlPlane();
  opened.add(() => plane.close());
  await plane.ready();
  return plane;
}

/** A PostgreSQL connection string, checked before a driver sees it. */
function postgresUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `--postgres ${JSON.stringify(value)}: not a URL; expected postgres://[user[:password]@]host[:port]/database`,
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:")
    throw new Error(
      `--postgres ${JSON.stringify(value)}: expected a postgres:// or postgresql:// URL, not ${url.protocol}//`,
    );
  return value;
}

/** The serving options the flags give, checked. */
function serveOptionsOf(
  values: {
    token?: string;
    "tls-cert"?: string;
    "tls-key"?: string;
    minor?: string;
    "no-builtin-kinds"?: boolean;
    "no-dashboard"?: boolean;
    "read-only-dashboard"?: boolean;
  },
  address: { host: string; port: number },
): ServeOptions {
  if (values["no-dashboard"] === true && values["read-only-dashboard"] === true)
    throw new Error("--no-dashboard and --read-only-dashboard: pick one");
  const minorVersion = Number(values.minor ?? "32");
  if (!Number.isInteger(minorVersion) || minorVersion < 0)
    throw new Error(`--minor ${values.minor}: expected a number`);
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined))
    throw new Error("--tls-cert and --tls-key go together");
  return {
    ...address,
    minorVersion,
    ...(values["no-builtin-kinds"] === true ? { builtinKinds: false } : {}),
    ...(values["no-dashboard"] === true
      ? { dashboard: false }
      : values["read-only-dashboard"] === true
        ? { dashboard: { readOnly: true } }
        : {}),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values["tls-cert"] === undefined
      ? {}
      : { tls: { certFile: values["tls-cert"], keyFile: values["tls-key"]! } }),
  };
}

/** A port number flag. */
function portOf(flag: string, value: string): number {
  const port = Number(value);
  if (value === "" || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${flag} ${value}: expected a port number`);
  return port;
}

/** `--serve [host:]port`: `8080`, `:8080`, `0.0.0.0:8080`, `[::1]:8080`. */
function serveAddressOf(value: string): { host: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?([^:]+)$/.exec(value);
  if (match === null)
    throw new Error(`--serve ${value}: expected [host:]port, such as 8080 or 0.0.0.0:8080`);
  const host = (match[1] ?? "").replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const port = Number(match[2]);
  if (!/^\d+$/.test(match[2]!) || port > 65535)
    throw new Error(`--serve ${value}: expected a port number, as in 8080 or 0.0.0.0:8080`);
  return { host, port };
}

/**
 * Refuses to overwrite a file that is not a kubeconfig setpoint wrote: `--kubeconfig` reads a
 * cluster's kubeconfig in `setpoint run`, and one slip must not wipe `~/.kube/config`.
 */
async function refuseForeignKubeconfig(file: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return; // no such file: nothing to lose
  }
  if (text.trim() === "" || /^- name: setpoint$/m.test(text)) return;
  throw new Error(
    `${file} exists and is not a kubeconfig setpoint wrote: refusing to overwrite it; name another file`,
  );
}

/** Writes or prints the kubeconfig of a server, and says how to use it. */
async function announce(
  server: KubernetesApiServer,
  kubeconfigFile: string | undefined,
  say: (line: string) => void,
  print: (text: string) => void,
  token?: string,
): Promise<void> {
  if (server.dashboard)
    say(`dashboard: ${server.url}/ui/${token === undefined ? "" : " (sign in with the token)"}`);
  if (token !== undefined && server.url.startsWith("http:"))
    say(
      "kubectl sends a token only over TLS: with --token, serve with --tls-cert and --tls-key for kubectl (curl and the dashboard send it over plain HTTP too)",
    );
  if (kubeconfigFile !== undefined) {
    await refuseForeignKubeconfig(kubeconfigFile);
    await writeFile(kubeconfigFile, server.kubeconfig(), { mode: 0o600 });
    say(
      `serving the Kubernetes API at ${server.url}; wrote ${kubeconfigFile}: try kubectl --kubeconfig ${kubeconfigFile} get namespaces`,
    );
  } else {
    say(`serving the Kubernetes API at ${server.url}`);
    print(`# Save as a file and use it with kubectl --kubeconfig <file>:\n${server.kubeconfig()}`);
  }
}

/**
 * Aborts on the first SIGINT or SIGTERM. If the shutdown that follows has not ended the process
 * within `graceMs` (a store that hangs, a reconcile that holds a socket), the process exits
 * anyway, with code 1 and a line that says so: a supervisor's termination grace period is
 * never outlived.
 */
function stopSignal(graceMs: number, say: (line: string) => void): AbortSignal {
  const stop = new AbortController();
  const onSignal = () => {
    stop.abort();
    systemClock.setTimer(graceMs, () => {
      say(`shutdown did not finish within ${graceMs / 1000} s; exiting`);
      process.exit(1);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return stop.signal;
}

async function serve(args: string[], opened: Opened): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      "kubeconfig-out": { type: "string" },
      // The earlier name of --kubeconfig-out, kept: serve writes it, it never reads one.
      kubeconfig: { type: "string" },
      ...storeFlags,
      ...serveFlags,
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(serveUsage);
    return;
  }
  const options = serveOptionsOf(values, {
    host: values.host,
    port: portOf("--port", values.port),
  });
  const kinds: AnyKind[] = [];
  for (const path of positionals) {
    const found = kindsOf(await loadModule(path));
    if (found.length === 0) throw new Error(`${path} exports no kind (a value made by defineKind)`);
    kinds.push(...found);
  }
  const say = (line: string) => process.stderr.write(`setpoint serve: ${line}\n`);
  const stopped = stopSignal(closeGraceMs, say);
  const plane = await openPlane({ ...values, kubeconfig: undefined }, opened, false);
  plane.register(...kinds);
  const server = await serveKubernetesApi(plane, options);
  opened.add(() => server.close());
  const served = [...plane.kinds.values()]
    .map((k) => `${k.plural}.${k.group || "core"}`)
    .join(", ");
  say(`kinds: ${served}`);
  await announce(
    server,
    values["kubeconfig-out"] ?? values.kubeconfig,
    say,
    (text) => process.stdout.write(text),
    options.token,
  );
  if (!stopped.aborted)
    await new Promise<void>((resolve) => stopped.addEventListener("abort", () => resolve()));
  await opened.close();
  say("stopped");
}

async function manifests(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      image: { type: "string" },
      namespace: { type: "string" },
      name: { type: "string" },
      replicas: { type: "string" },
      "module-path": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(manifestsUsage);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1))
    throw new Error(`--replicas ${values.replicas}: expected a positive whole number`);
  const paths = [...new Set(positionals)];
  if (paths.length < positionals.length) throw new Error("a module is named twice");
  const modulePaths = values["module-path"] ?? positionals;
  for (const path of modulePaths)
    if (isAbsolute(path))
      process.stderr.write(
        `setpoint manifests: ${path} is an absolute path on this machine, and the Deployment will look for it inside the image; give the path relative to the image's working directory (--module-path)\n`,
      );
  if (modulePaths.length !== positionals.length)
    throw new Error(
      `--module-path is given ${modulePaths.length} times for ${positionals.length} modules: once per module, in order`,
    );
  const controllers: Controller<never>[] = [];
  const kinds: AnyKind[] = [];
  for (const path of positionals) {
    const module = await loadModule(path);
    controllers.push(...Object.values(module).filter(isController));
    kinds.push(...kindsOf(module));
  }
  if (controllers.length === 0)
    throw new Error(
      `${positionals.join(", ")} export no controller (a value made by controller())`,
    );
  const { operatorManifestsYaml } = await import("../kubernetes/manifests.js");
  process.stdout.write(
    operatorManifestsYaml(controllers, kinds, {
      modules: modulePaths,
      ...(values.image === undefined ? {} : { image: values.image }),
      ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(replicas === undefined ? {} : { replicas }),
    }),
  );
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

async function run(args: string[], opened: Opened): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...storeFlags,
      kubeconfig: { type: "string" },
      "in-cluster": { type: "boolean" },
      serve: { type: "string" },
      "kubeconfig-out": { type: "string" },
      ...serveFlags,
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string", default: "127.0.0.1" },
      "leader-elect": { type: "boolean" },
      "lease-name": { type: "string", default: "setpoint-controllers" },
      "lease-namespace": { type: "string" },
      shards: { type: "string" },
      identity: { type: "string" },
      "shutdown-timeout": { type: "string" },
      "log-format": { type: "string", default: "pretty" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) {
    if (!values.help)
      process.stderr.write("setpoint run: name at least one module that exports controllers\n\n");
    process.stdout.write(runUsage);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const format = values["log-format"];
  const level = process.env.SETPOINT_LOG_LEVEL;
  if (level !== undefined && !logLevels.includes(level))
    throw new Error(`SETPOINT_LOG_LEVEL=${level}: expected one of ${logLevels.join(", ")}`);
  if (values.kubeconfig !== undefined && !existsSync(values.kubeconfig))
    throw new Error(`--kubeconfig ${values.kubeconfig}: no such file`);
  if (format !== "pretty" && format !== "json")
    throw new Error(`--log-format ${format}: expected pretty or json`);
  const metricsPort =
    values["metrics-port"] === undefined
      ? undefined
      : portOf("--metrics-port", values["metrics-port"]);
  const shutdownTimeout =
    values["shutdown-timeout"] === undefined ? undefined : Number(values["shutdown-timeout"]);
  if (shutdownTimeout !== undefined && !(shutdownTimeout >= 0))
    throw new Error(
      `--shutdown-timeout ${values["shutdown-timeout"]}: expected a number of seconds`,
    );
  if (values["lease-namespace"] !== undefined && !values["leader-elect"])
    throw new Error("--lease-namespace goes with --leader-elect");
  const shards = values.shards === undefined ? undefined : Number(values.shards);
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1))
    throw new Error(`--shards ${values.shards}: expected a positive whole number`);
  const cluster =
    values.kubeconfig ??
    (values["in-cluster"]
      ? "its service account (or $KUBECONFIG, or ~/.kube/config, outside a cluster)"
      : undefined);
  if (values.serve !== undefined && cluster !== undefined)
    throw new Error(
      "--serve serves the plane the controllers use; with --kubeconfig they use a cluster, which serves its own API: drop --serve and point kubectl at that cluster",
    );
  if (values.serve === undefined) {
    for (const flag of [
      "kubeconfig-out",
      "token",
      "tls-cert",
      "tls-key",
      "no-builtin-kinds",
    ] as const)
      if (values[flag] !== undefined) throw new Error(`--${flag} goes with --serve`);
  }
  const serveOptions =
    values.serve === undefined ? undefined : serveOptionsOf(values, serveAddressOf(values.serve));

  const controllers: Controller<never>[] = [];
  const kinds: AnyKind[] = [];
  for (const path of positionals) {
    const module = await loadModule(path);
    const found = Object.values(module).filter(isController);
    if (found.length === 0)
      throw new Error(`${path} exports no controller (a value made by controller())`);
    controllers.push(...found);
    kinds.push(...kindsOf(module));
  }

  const logger = createLogger({ format });
  const where = cluster
    ? `the cluster of ${cluster}`
    : values.postgres
      ? `PostgreSQL (schema ${values.schema ?? "setpoint"})`
      : values.data
        ? `the durable store in ${values.data}`
        : "memory";
  // Reconciles get the shutdown timeout, then a second before they are abandoned; closing the
  // server and the store gets a few seconds more.
  const stopped = stopSignal((shutdownTimeout ?? 30) * 1000 + 1_000 + closeGraceMs, (line) =>
    logger.error({}, line),
  );
  const plane = await openPlane(values, opened, true);
  plane.register(...kinds);
  if (cluster !== undefined) await checkCluster(plane, controllers, cluster);
  const manager = new Manager({
    plane,
    logger,
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(shutdownTimeout === undefined ? {} : { shutdownTimeoutMs: shutdownTimeout * 1000 }),
    ...(metricsPort === undefined
      ? {}
      : { healthPort: metricsPort, healthHost: values["metrics-host"] }),
    ...(values["leader-elect"]
      ? {
          leaderElection: {
            name: values["lease-name"],
            ...(values["lease-namespace"] === undefined
              ? {}
              : { namespace: values["lease-namespace"] }),
          },
        }
      : {}),
    ...(shards === undefined ? {} : { shards: { count: shards } }),
  });
  manager.add(...controllers);
  if (serveOptions !== undefined) {
    // The dashboard shows this process's controllers beside the plane's objects.
    const { dashboard } = serveOptions;
    const server = await serveKubernetesApi(plane, {
      ...serveOptions,
      dashboard:
        dashboard === false ? false : { ...(dashboard === true ? {} : dashboard), manager },
    });
    opened.add(() => server.close());
    await announce(
      server,
      values["kubeconfig-out"],
      (line) => logger.info({}, line),
      (text) => process.stderr.write(text),
      serveOptions.token,
    );
  }
  logger.info(
    {},
    `setpoint run: ${controllers.map((c) => c.name).join(", ")} on ${where}${values["leader-elect"] ? ", leader-elected" : ""}${shards ? `, ${shards} shards` : ""} (Ctrl-C to stop)`,
  );
  await manager.run({ signal: stopped });
  await opened.close();
}

/**
 * A cluster must be reachable and serve the controllers' kinds before they start: otherwise
 * their informers retry forever, and the reason scrolls by as warnings.
 */
async function checkCluster(
  plane: ControlPlane,
  controllers: readonly Controller<never>[],
  kubeconfig: string,
): Promise<void> {
  const kinds = new Map<string, AnyKind>();
  for (const c of controllers as readonly Controller[])
    for (const kind of [c.kind, ...c.owned, ...c.related.map((r) => r.kind)])
      if (kind !== undefined) kinds.set(`${kind.plural}.${kind.group}`, kind);
  for (const [name, kind] of kinds) {
    try {
      const answer = await within(systemClock, 15_000, plane.backend.list(kind, { limit: 1 }));
      if (answer === timedOut) throw new Error("no answer within 15 s");
    } catch (error) {
      if (ApiError.is(error, "NotFound"))
        throw new Error(
          `the cluster of ${kubeconfig} does not serve ${name}: apply its CRD first (setpoint crd <module> | kubectl apply -f -)`,
        );
      if (error instanceof ApiError && error.code < 500 && error.code !== 0) throw error;
      throw new Error(
        `cannot reach the cluster of ${kubeconfig}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/** Options some users reach for that are spelled otherwise here. */
const optionHints: Record<string, string> = {
  "--port": "setpoint run serves with --serve [host:]port",
  "--serve": "setpoint serve listens with --port and --host",
  "--kubeconfig": "setpoint serve writes its kubeconfig with --kubeconfig-out",
};

/** An error as the command reports it: parseArgs' own wording replaced by a hint. */
function describeFailure(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && err instanceof Error) {
    const option = /'(-[^']*)'/.exec(err.message)?.[1] ?? "";
    const hint = optionHints[option];
    return `unknown option ${option}${hint ? ` (${hint})` : ""}; 'setpoint ${command} --help' lists the options`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** This package's version, from its package.json. */
function version(): string {
  const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
  return pkg.version;
}

const [command, ...rest] = process.argv.slice(2);
const opened = new Opened();
try {
  switch (command) {
    case "run":
      await run(rest, opened);
      break;
    case "serve":
      await serve(rest, opened);
      break;
    case "crd":
      await crd(rest);
      break;
    case "manifests":
      await manifests(rest);
      break;
    case "-v":
    case "--version":
    case "version":
      process.stdout.write(`setpoint ${version()}\n`);
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
  process.stderr.write(`setpoint ${command}: ${describeFailure(err)}\n`);
  process.exitCode = (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
} finally {
  // Whatever happened, close what was opened (the data directory's lock, a server, a pool) —
  await opened.close();
}
// — and end: a failed start must not hang (a busy port used to leave a process holding its data
// directory and ignoring SIGTERM), and after a shutdown a reconcile that ignored its aborted
// signal may still hold a timer or a socket. Logs and output are written synchronously.
if (command === "run" || command === "serve") process.exit();
