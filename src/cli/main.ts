#!/usr/bin/env node
/**
 * The `setpoint` command: a thin layer over the public API.
 *
 *   setpoint serve [module…] [options]   serve a control plane over the Kubernetes REST API
 *   setpoint crd <module>                print the CRDs of the kinds a module exports
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createControlPlane } from "../backend/control-plane.js";
import { serveKubernetesApi } from "../kubernetes/apiserver/server.js";
import { crdYamlOf } from "../kubernetes/crd.js";
import { kindsOf, loadModule } from "./load-module.js";

const usage = `setpoint — Kubernetes-style controllers for everything

Usage:
  setpoint serve [module…] [options]   Serve a control plane over the Kubernetes REST API
  setpoint crd <module…>               Print the CustomResourceDefinitions of the kinds modules export

Run 'setpoint <command> --help' for a command's options and examples.
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

const [command, ...rest] = process.argv.slice(2);
try {
  switch (command) {
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
