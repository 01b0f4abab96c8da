/**
 * `serveKubernetesApi`: the Kubernetes REST API over any control plane, so that kubectl, client
 * libraries and dashboards work against a setpoint control plane that has no cluster.
 *
 * Served: `/version`; discovery (legacy and aggregated v2); `/openapi/v3`; CRUD on namespaced and
 * cluster paths and lists across namespaces; label and field selectors, `limit`/`continue`,
 * `resourceVersion`/`resourceVersionMatch`; watches as chunked JSON lines with resume, bookmarks,
 * `timeoutSeconds` and 410 as an `ERROR` event; merge, JSON and apply patches (apply without
 * field ownership: fields left out are kept); `fieldValidation=Strict`; the `/status`
 * subresource; `meta.k8s.io/v1` Tables with the kind's printer columns; `Status` errors.
 *
 * Security: binds 127.0.0.1 unless told otherwise; a bearer token when one is given (401
 * otherwise); TLS from a key and certificate; bodies over the limit get 413; malformed bodies 400.
 */
import { readFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { parse as parseYaml } from "yaml";
import type { ListOptions, Patch, StoredObject, WatchEvent } from "../../backend/backend.js";
import type { ControlPlane } from "../../backend/control-plane.js";
import { Informer } from "../../cache/informer.js";
import { ApiError, badRequest } from "../../model/api-error.js";
import type { AnyKind } from "../../model/kind.js";
import type { ObjectKey } from "../../model/resource.js";
import { builtinKinds, CustomResourceDefinition } from "../builtin-kinds.js";
import { kindFromCrd } from "../crd.js";
import {
  aggregatedDiscovery,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from "./discovery.js";
import { openApiDocument, openApiIndex } from "./openapi.js";
import { asApiError, statusOf } from "./status.js";
import { tableOf, wantsTable } from "./table.js";

/** Options of {@link serveKubernetesApi}. */
export interface ServeOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** Require `Authorization: Bearer <token>`; without it, anyone who can connect is served. */
  readonly token?: string;
  /** Serve HTTPS with this PEM certificate and key (file paths). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** The largest request body accepted, in bytes. @default 3_145_728 (3 MiB, as Kubernetes) */
  readonly maxBodyBytes?: number;
  /** The minor version `/version` reports (kubectl's dispatcher picks its own from it). @default 32 */
  readonly minorVersion?: number;
  /** A watch without `timeoutSeconds` ends after this long. @default 1_800 */
  readonly defaultWatchTimeoutSeconds?: number;
  /** How often a quiet watch that allows bookmarks gets one (Kubernetes: about a minute). @default 60_000 */
  readonly bookmarkIntervalMs?: number;
}

/** A running server. */
export interface KubernetesApiServer {
  /** `http://127.0.0.1:<port>` (or https). */
  readonly url: string;
  readonly port: number;
  /** A kubeconfig (YAML) whose current context points at this server. */
  kubeconfig(): string;
  /** Stops accepting connections and ends every watch. */
  close(): Promise<void>;
}

interface ResourcePath {
  readonly group: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly plural: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

/** Splits `/api/v1/…` and `/apis/<group>/<version>/…` into their parts; `undefined` if neither. */
export function parseResourcePath(pathname: string): ResourcePath | "groupVersion" | undefined {
  const segments = pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) {
    group = "";
    version = segments[1]!;
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    group = segments[1]!;
    version = segments[2]!;
    rest = segments.slice(3);
  } else return undefined;
  if (rest.length === 0) return "groupVersion";
  let namespace: string | undefined;
  // namespaces/<ns>/<plural>/… is a namespaced resource; namespaces[/<name>[/status]] is Namespace itself.
  if (
    rest[0] === "namespaces" &&
    rest.length >= 3 &&
    !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))
  ) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  return { group, version, namespace, plural: rest[0]!, name: rest[1], subresource: rest[2] };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(json),
  });
  res.end(json);
}

function sendError(res: ServerResponse, error: unknown): void {
  const apiError = asApiError(error);
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, apiError.code, statusOf(apiError));
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit)
    throw new ApiError(
      "RequestEntityTooLarge",
      `the request body is ${declared} bytes; the limit is ${limit}`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit)
      throw new ApiError(
        "RequestEntityTooLarge",
        `the request body is over the limit of ${limit} bytes`,
      );
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string): unknown {
  const text = raw.toString("utf8");
  try {
    if (/yaml/.test(contentType)) return parseYaml(text);
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(
      `the request body is not valid ${/yaml/.test(contentType) ? "YAML" : "JSON"}: ${(err as Error).message}`,
    );
  }
}

function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Fields of `sent` that `kept` (the validated result) dropped: unknown to the schema. */
function unknownFields(sent: unknown, kept: unknown, path: string, out: string[]): void {
  if (!isPlainObject(sent)) {
    if (Array.isArray(sent) && Array.isArray(kept))
      for (const [i, item] of sent.entries()) unknownFields(item, kept[i], `${path}[${i}]`, out);
    return;
  }
  if (!isPlainObject(kept)) return;
  for (const key of Object.keys(sent)) {
    const field = path === "" ? key : `${path}.${key}`;
    if (!(key in kept)) out.push(field);
    else unknownFields(sent[key], kept[key], field, out);
  }
}

const metadataFields = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

/**
 * Serves the Kubernetes REST API for `plane` until closed. The built-in kinds (Namespace,
 * Lease, Event, CustomResourceDefinition) are registered on the plane.
 *
 * @example
 * ```ts
 * const server = await serveKubernetesApi(plane, { port: 8080 });
 * await writeFile("kubeconfig", server.kubeconfig()); // kubectl --kubeconfig kubeconfig get widgets
 * ```
 */
export async function serveKubernetesApi(
  plane: ControlPlane,
  options: ServeOptions = {},
): Promise<KubernetesApiServer> {
  const {
    host = "127.0.0.1",
    token,
    maxBodyBytes = 3 * 1024 * 1024,
    minorVersion = 32,
    defaultWatchTimeoutSeconds = 1_800,
  } = options;
  plane.register(...builtinKinds);
  const closing = new AbortController();
  /** What ends each open watch; closing the server calls them all. */
  const openWatches = new Set<() => void>();

  // Kinds defined at runtime by CustomResourceDefinitions, kept in step by an informer.
  const crdKinds = new Map<string, AnyKind>();
  const defineFromCrd = (crd: StoredObject) => {
    try {
      const kind = kindFromCrd(crd);
      crdKinds.set(crd.metadata.name, kind);
      return kind;
    } catch {
      crdKinds.delete(crd.metadata.name);
      return undefined;
    }
  };
  const crdInformer = new Informer(plane.backend, CustomResourceDefinition);
  crdInformer.writer.subscribe((change) => {
    if (change.type === "deleted") {
      crdKinds.delete(change.object.metadata.name);
      return;
    }
    if (defineFromCrd(change.object) !== undefined) void markEstablished(plane, change.object);
  });
  const crdInformerRun = crdInformer.run(closing.signal);
  await crdInformer.cache.ready();

  const kinds = (): AnyKind[] => {
    const defined = [...crdKinds.values()];
    const ids = new Set(defined.map((k) => `${k.group}/${k.kind}`));
    return [
      ...[...plane.kinds.values()].filter((k) => !ids.has(`${k.group}/${k.kind}`)),
      ...defined,
    ];
  };
  const findKind = async (group: string, version: string, plural: string): Promise<AnyKind> => {
    const match = (kind: AnyKind) =>
      kind.group === group && kind.version === version && kind.plural === plural;
    const known = kinds().find(match);
    if (known !== undefined) return known;
    // A CRD applied a moment ago may not have reached the informer yet.
    try {
      const crd = await plane.backend.get(CustomResourceDefinition, { name: `${plural}.${group}` });
      const kind = defineFromCrd(crd);
      if (kind !== undefined && match(kind)) return kind;
    } catch {}
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${group === "" ? "" : `${group}/`}${version} ${plural})`,
      {
        details: { group, kind: plural },
      },
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      throw new ApiError("Unauthorized", "Unauthorized");
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const accept = req.headers.accept;
    const { pathname } = url;

    if (pathname === "/version") {
      send(res, 200, {
        major: "1",
        minor: String(minorVersion),
        gitVersion: `v1.${minorVersion}.0-setpoint`,
        gitCommit: "setpoint",
        gitTreeState: "clean",
        buildDate: "2026-01-01T00:00:00Z",
        goVersion: "n/a",
        compiler: "setpoint",
        platform: `${process.platform}/${process.arch}`,
      });
      return;
    }
    if (pathname === "/healthz" || pathname === "/livez" || pathname === "/readyz") {
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
      return;
    }
    if (pathname === "/api" || pathname === "/apis") {
      const aggregated = wantsAggregated(accept);
      if (aggregated !== undefined) {
        const body = aggregatedDiscovery(kinds(), pathname === "/api");
        const json = JSON.stringify(
          aggregated === "v2" ? body : { ...body, apiVersion: "apidiscovery.k8s.io/v2beta1" },
        );
        res
          .writeHead(200, {
            "Content-Type": `application/json;g=apidiscovery.k8s.io;v=${aggregated};as=APIGroupDiscoveryList`,
          })
          .end(json);
        return;
      }
      send(res, 200, pathname === "/api" ? apiVersions() : apiGroupList(kinds()));
      return;
    }
    if (pathname === "/openapi/v3") {
      send(res, 200, openApiIndex(kinds()));
      return;
    }
    if (pathname.startsWith("/openapi/v3/")) {
      const groupVersion = pathname.slice("/openapi/v3/".length);
      const matching = kinds().filter(
        (k) =>
          (k.group === "" ? `api/${k.version}` : `apis/${k.group}/${k.version}`) === groupVersion,
      );
      if (matching.length === 0)
        throw new ApiError("NotFound", `no OpenAPI document for ${groupVersion}`);
      send(res, 200, openApiDocument(matching));
      return;
    }

    const path = parseResourcePath(pathname);
    if (path === undefined)
      throw new ApiError(
        "NotFound",
        `the server could not find the requested resource (${method} ${pathname})`,
      );
    if (path === "groupVersion") {
      const segments = pathname.split("/").filter(Boolean);
      const group = segments[0] === "api" ? "" : segments[1]!;
      const version = segments[0] === "api" ? segments[1]! : segments[2]!;
      const matching = kinds().filter((k) => k.group === group && k.version === version);
      if (matching.length === 0)
        throw new ApiError(
          "NotFound",
          `the server could not find the requested resource (${pathname})`,
        );
      send(res, 200, apiResourceList(group === "" ? version : `${group}/${version}`, matching));
      return;
    }
    const kind = await findKind(path.group, path.version, path.plural);
    if (path.subresource !== undefined && path.subresource !== "status") {
      throw new ApiError(
        "NotFound",
        `the server could not find the requested resource (subresource "${path.subresource}" of ${kind.plural})`,
      );
    }
    if (kind.scope === "Cluster" && path.namespace !== undefined) {
      throw new ApiError("NotFound", `${kind.plural} is cluster-scoped: it has no namespaced path`);
    }
    const key = (): ObjectKey => {
      if (path.name === undefined)
        throw new ApiError("MethodNotAllowed", `${method} needs an object name`);
      if (kind.scope === "Namespaced" && path.namespace === undefined)
        throw new ApiError("NotFound", `${kind.plural} is namespaced: name a namespace`);
      return kind.scope === "Namespaced"
        ? { namespace: path.namespace, name: path.name }
        : { name: path.name };
    };
    const backend = plane.backend;
    const query = url.searchParams;
    const dryRun = query.has("dryRun");
    const strict = query.get("fieldValidation") === "Strict";

    const readObject = async (): Promise<Record<string, unknown>> => {
      const type = mediaType(req);
      if (type !== "application/json" && type !== "application/yaml" && type !== "*/*") {
        throw new ApiError(
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
        );
      }
      const body = parseBody(await readBody(req, maxBodyBytes), type);
      if (!isPlainObject(body)) throw badRequest("the request body must be a JSON object");
      return body;
    };
    const placed = (body: Record<string, unknown>): Record<string, unknown> => {
      const metadata = isPlainObject(body.metadata) ? { ...body.metadata } : {};
      for (const field of Object.keys(metadata))
        if (!metadataFields.has(field)) delete metadata[field];
      delete metadata.managedFields;
      delete metadata.selfLink;
      if (kind.scope === "Namespaced") {
        if (
          metadata.namespace !== undefined &&
          path.namespace !== undefined &&
          metadata.namespace !== path.namespace
        ) {
          throw badRequest(
            "the namespace of the provided object does not match the namespace sent on the request",
          );
        }
        metadata.namespace ??= path.namespace;
      }
      if (path.name !== undefined && metadata.name !== undefined && metadata.name !== path.name) {
        throw badRequest(
          `the name of the object (${String(metadata.name)}) does not match the name on the URL (${path.name})`,
        );
      }
      if (path.name !== undefined) metadata.name ??= path.name;
      return { ...body, metadata };
    };
    const strictCheck = (sent: Record<string, unknown>, kept: StoredObject): void => {
      if (!strict) return;
      const unknown: string[] = [];
      // Status is a known field of every kind; the main resource ignores it, and the status
      // subresource ignores everything else.
      const { metadata: _m, apiVersion: _a, kind: _k, status: sentStatus, ...body } = sent;
      const {
        metadata: _km,
        apiVersion: _ka,
        kind: _kk,
        status: keptStatus,
        ...keptBody
      } = kept as unknown as Record<string, unknown>;
      if (path.subresource === "status")
        unknownFields({ status: sentStatus }, { status: keptStatus }, "", unknown);
      else unknownFields(body, keptBody, "", unknown);
      if (unknown.length > 0)
        throw badRequest(
          `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(", ")}`,
        );
    };
    const respondObject = (code: number, object: StoredObject) => {
      if (wantsTable(accept))
        send(
          res,
          code,
          tableOf(kind, [object], { resourceVersion: object.metadata.resourceVersion }),
        );
      else send(res, code, object);
    };

    switch (method) {
      case "GET": {
        if (path.name !== undefined) {
          respondObject(200, await backend.get(kind, key()));
          return;
        }
        const listOptions: ListOptions = {
          ...(path.namespace === undefined ? {} : { namespace: path.namespace }),
          ...(query.get("labelSelector") ? { labelSelector: query.get("labelSelector")! } : {}),
          ...(query.get("fieldSelector") ? { fieldSelector: query.get("fieldSelector")! } : {}),
        };
        if (query.get("watch") === "true" || query.get("watch") === "1") {
          await serveWatch(
            req,
            res,
            kind,
            listOptions,
            query,
            accept,
            openWatches,
            defaultWatchTimeoutSeconds,
          );
          return;
        }
        const limit = Number(query.get("limit") ?? 0);
        const list = await backend.list(kind, {
          ...listOptions,
          ...(limit > 0 ? { limit } : {}),
          ...(query.get("continue") ? { continue: query.get("continue")! } : {}),
        });
        checkResourceVersion(query, list.resourceVersion);
        const metadata = {
          resourceVersion: list.resourceVersion,
          ...(list.continue ? { continue: list.continue } : {}),
        };
        if (wantsTable(accept)) send(res, 200, tableOf(kind, list.items, metadata));
        else
          send(res, 200, {
            apiVersion: kind.apiVersion,
            kind: `${kind.kind}List`,
            metadata,
            items: list.items,
          });
        return;
      }
      case "POST": {
        if (path.name !== undefined)
          throw new ApiError(
            "MethodNotAllowed",
            "POST creates: it takes no object name on the URL",
          );
        const body = placed(await readObject());
        if (strict) strictCheck(body, await backend.create(kind, body as never, { dryRun: true }));
        respondObject(201, await backend.create(kind, body as never, { dryRun }));
        return;
      }
      case "PUT": {
        const body = placed(await readObject());
        const write =
          path.subresource === "status"
            ? backend.updateStatus.bind(backend)
            : backend.update.bind(backend);
        if (strict) strictCheck(body, await write(kind, body as never, { dryRun: true }));
        respondObject(200, await write(kind, body as never, { dryRun }));
        return;
      }
      case "PATCH": {
        const patch = await readPatch(req, maxBodyBytes, query);
        const patchOptions = {
          dryRun,
          ...(path.subresource === "status" ? { subresource: "status" as const } : {}),
        };
        if (strict && patch.type !== "json")
          strictCheck(
            patch.patch as Record<string, unknown>,
            await backend.patch(kind, key(), patch, { ...patchOptions, dryRun: true }),
          );
        respondObject(200, await backend.patch(kind, key(), patch, patchOptions));
        return;
      }
      case "DELETE": {
        let preconditions: { uid?: string; resourceVersion?: string } | undefined;
        const raw = await readBody(req, maxBodyBytes);
        if (raw.length > 0) {
          const options = parseBody(raw, mediaType(req));
          if (isPlainObject(options) && isPlainObject(options.preconditions))
            preconditions = options.preconditions as typeof preconditions;
        }
        const deleted = await backend.delete(kind, key(), {
          dryRun,
          ...(preconditions ? { preconditions } : {}),
        });
        // An object held by finalizers is returned as it now is (202); one gone, as it was (200).
        respondObject(
          deleted.metadata.deletionTimestamp !== undefined &&
            (deleted.metadata.finalizers?.length ?? 0) > 0
            ? 202
            : 200,
          deleted,
        );
        return;
      }
      default:
        throw new ApiError("MethodNotAllowed", `method ${method} is not allowed here`);
    }
  };

  /** Every watcher of a change sends the same JSON: serialize it once. */
  const recentJson = new RecentJson(1024);

  async function serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    kind: AnyKind,
    listOptions: ListOptions,
    query: URLSearchParams,
    accept: string | undefined,
    openWatches: Set<() => void>,
    defaultTimeout: number,
  ): Promise<void> {
    const stop = new AbortController();
    const onClose = () => stop.abort();
    req.once("close", onClose);
    res.once("close", onClose);
    openWatches.add(onClose);
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? defaultTimeout);
    const timer = setTimeout(onClose, Math.max(0, timeoutSeconds) * 1000);
    const table = wantsTable(accept);
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
    // Clients wait for the headers before they treat the watch as started: send them now.
    res.flushHeaders();
    const write = (event: { type: string; object: unknown }) =>
      res.write(`${JSON.stringify(event)}\n`);
    const writeObject = (type: string, object: StoredObject) =>
      table
        ? write({
            type,
            object: tableOf(kind, [object], { resourceVersion: object.metadata.resourceVersion }),
          })
        : res.write(`{"type":"${type}","object":${recentJson.of(object)}}\n`);
    try {
      let resourceVersion = query.get("resourceVersion") ?? "";
      if (resourceVersion === "" || resourceVersion === "0") {
        // Kubernetes starts such a watch with the current state, as ADDED events.
        let token: string | undefined;
        do {
          const page = await plane.backend.list(kind, {
            ...listOptions,
            limit: 500,
            ...(token ? { continue: token } : {}),
          });
          for (const object of page.items) writeObject("ADDED", object);
          resourceVersion = page.resourceVersion;
          token = page.continue;
        } while (token);
      }
      const bookmarks = query.get("allowWatchBookmarks") === "true";
      const watch = plane.backend.watch(kind, {
        ...listOptions,
        resourceVersion,
        allowBookmarks: bookmarks,
        ...(options.bookmarkIntervalMs === undefined
          ? {}
          : { bookmarkIntervalMs: options.bookmarkIntervalMs }),
        signal: stop.signal,
      });
      for await (const event of watch as AsyncIterable<WatchEvent>) {
        if (event.type === "BOOKMARK") {
          write({
            type: "BOOKMARK",
            object: {
              kind: kind.kind,
              apiVersion: kind.apiVersion,
              metadata: { resourceVersion: event.resourceVersion },
            },
          });
        } else writeObject(event.type, event.object);
        // A client that reads slower than changes come is not buffered for without bound: the
        // watch (which reads the history lazily) waits until the socket drains.
        if (res.writableNeedDrain) await drained(res, stop.signal);
      }
    } catch (error) {
      if (!res.writableEnded) write({ type: "ERROR", object: statusOf(asApiError(error)) });
    } finally {
      clearTimeout(timer);
      req.off("close", onClose);
      openWatches.delete(onClose);
      if (!res.writableEnded) res.end();
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error) => {
      sendError(res, error);
      // Drain what is left of a body we refused, so the connection can close cleanly.
      req.resume();
    });
  };
  const server: Server =
    options.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer(
          { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
          listener,
        );
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const body = JSON.stringify(
      statusOf(new ApiError("BadRequest", `malformed HTTP request: ${err.code ?? err.message}`)),
    );
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const scheme = options.tls === undefined ? "http" : "https";
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    kubeconfig: () => kubeconfigFor(url, token),
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        for (const close of openWatches) close();
        server.close(() => void crdInformerRun.then(() => resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Marks a CRD Established and NamesAccepted, as the real API server does once it serves it. */
async function markEstablished(plane: ControlPlane, crd: StoredObject): Promise<void> {
  const conditions =
    (crd.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
    [];
  if (conditions.some((c) => c.type === "Established" && c.status === "True")) return;
  const now = `${new Date().toISOString().slice(0, 19)}Z`;
  const spec = crd.spec as { names?: unknown };
  try {
    await plane.backend.updateStatus(CustomResourceDefinition, {
      ...crd,
      status: {
        acceptedNames: spec.names,
        storedVersions: [
          (crd.spec as { versions: { name: string; storage: boolean }[] }).versions.find(
            (v) => v.storage,
          )?.name,
        ],
        conditions: [
          {
            type: "NamesAccepted",
            status: "True",
            reason: "NoConflicts",
            message: "no conflicts found",
            lastTransitionTime: now,
          },
          {
            type: "Established",
            status: "True",
            reason: "InitialNamesAccepted",
            message: "the initial names have been accepted",
            lastTransitionTime: now,
          },
        ],
      },
    } as never);
  } catch {
    // A newer version of the CRD arrives as its own change and is marked then.
  }
}

async function readPatch(
  req: IncomingMessage,
  limit: number,
  query: URLSearchParams,
): Promise<Patch> {
  const type = mediaType(req);
  const raw = await readBody(req, limit);
  switch (type) {
    case "application/merge-patch+json": {
      const body = parseBody(raw, type);
      if (!isPlainObject(body)) throw badRequest("a merge patch must be a JSON object");
      return { type: "merge", patch: body };
    }
    case "application/json-patch+json": {
      const body = parseBody(raw, type);
      if (!Array.isArray(body)) throw badRequest("a JSON patch must be an array of operations");
      return { type: "json", patch: body };
    }
    case "application/apply-patch+yaml":
    case "application/apply-patch+json": {
      const body = parseBody(raw, "application/yaml");
      if (!isPlainObject(body)) throw badRequest("an apply patch must be an object");
      const fieldManager = query.get("fieldManager");
      return { type: "apply", patch: body, ...(fieldManager ? { fieldManager } : {}) };
    }
    default:
      throw new ApiError(
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
  }
}

/** Applies `resourceVersion`/`resourceVersionMatch` of a list to the revision it was served at. */
function checkResourceVersion(query: URLSearchParams, served: string): void {
  const asked = query.get("resourceVersion");
  const match = query.get("resourceVersionMatch");
  if (match !== null && match !== "NotOlderThan" && match !== "Exact")
    throw badRequest(`resourceVersionMatch "${match}" is not supported`);
  if (asked === null || asked === "" || asked === "0") {
    if (match !== null && asked !== "0")
      throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
    return;
  }
  if (!/^[0-9]+$/.test(asked)) throw badRequest(`invalid resourceVersion "${asked}"`);
  if (match === "Exact" && asked !== served) {
    throw new ApiError(
      "Expired",
      `the resourceVersion ${asked} cannot be served exactly; this server keeps only the latest state (${served})`,
    );
  }
  if (Number(asked) > Number(served))
    throw new ApiError("Timeout", `Too large resource version: ${asked}, current: ${served}`);
}

/** A kubeconfig for a server at `url`. */
export function kubeconfigFor(url: string, token?: string): string {
  const lines = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: setpoint",
    "  cluster:",
    `    server: ${url}`,
    // Needed for TLS with the self-signed certificates serve is usually given, and by
    // @kubernetes/client-node for any http:// server.
    "    insecure-skip-tls-verify: true",
    "users:",
    "- name: setpoint",
    `  user: ${token === undefined ? "{}" : `{token: ${JSON.stringify(token)}}`}`,
    "contexts:",
    "- name: setpoint",
    "  context:",
    "    cluster: setpoint",
    "    user: setpoint",
    "    namespace: default",
    "current-context: setpoint",
    "",
  ];
  return lines.join("\n");
}

/** Resolves when `res` can take more, or when `signal` aborts (the client went away). */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    if (signal.aborted) return resolve();
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The JSON of the last few objects sent: stored objects are frozen, so one serialization serves
 * every watch that sends the object (a hundred watchers of one change cost one JSON.stringify).
 * Bounded, oldest out first: a cache of every object ever sent would double the store's memory.
 */
class RecentJson {
  private readonly entries = new Map<object, string>();

  constructor(private readonly capacity: number) {}

  of(object: object): string {
    let json = this.entries.get(object);
    if (json === undefined) {
      json = JSON.stringify(object);
      this.entries.set(object, json);
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    return json;
  }
}
