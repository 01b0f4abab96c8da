/**
 * `serveKubernetesApi`: the Kubernetes REST API over any control plane, so that kubectl, client
 * libraries and dashboards work against a setpoint control plane that has no cluster.
 *
 * Served: `/version`; discovery (legacy and aggregated v2); `/openapi/v3`; CRUD on namespaced and
 * cluster paths and lists across namespaces; label and field selectors, `limit`/`continue`,
 * `resourceVersion`/`resourceVersionMatch`; watches as chunked JSON lines with resume, bookmarks,
 * `timeoutSeconds` and 410 as an `ERROR` event; merge, JSON and apply patches (apply without
 * field ownership: fields left out are kept); `fieldValidation=Strict`; the `/status` and
 * `/scale` subresources; `meta.k8s.io/v1` Tables with the kind's printer columns (and
 * Kubernetes' own for Events, Namespaces, Services and CRDs); `Status` errors; namespaces with
 * their lifecycle; core v1 and `events.k8s.io/v1` Events over one store; the modules' kinds as
 * CustomResourceDefinitions.
 *
 * Security: binds 127.0.0.1 unless told otherwise; a bearer token when one is given (401
 * otherwise, compared in constant time, the scheme in any case as Kubernetes reads it); TLS from
 * a key and certificate; bodies over the limit get 413; malformed bodies, paths and parameters
 * 400, before a watch's stream starts; paths are read as sent, never resolved (`..`, `%2e%2e`
 * and `\` reach no other namespace; `.` and `..` as a name are 400); YAML is parsed on a worker
 * thread; CRDs are validated as Kubernetes validates them, their schemas compiled once in linear
 * time within `crdSchemaLimits`, their patterns run by RE2, their defaults checked, and none may
 * take over a served kind; objects and patches nest at most 100 levels; requests in flight are
 * limited (429), and lists and watches are written only as fast as their client reads them.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { ListOptions, Patch, StoredObject, WatchEvent } from "../../backend/backend.js";
import type { ControlPlane } from "../../backend/control-plane.js";
import { prepareWrite } from "../../backend/object-rules.js";
import { Informer } from "../../cache/informer.js";
import { ApiError, alreadyExists, badRequest, invalid } from "../../model/api-error.js";
import { applyJsonPatch, applyMergePatch } from "../../model/json.js";
import { type AnyKind, kindId } from "../../model/kind.js";
import { Namespace, namespaceFinalizer, namespaceNameLabel } from "../../model/namespace.js";
import { keyOf, keyString, type ObjectKey } from "../../model/resource.js";
import {
  type FieldSelector,
  parseFieldSelector,
  parseLabelSelector,
  selectableFields,
} from "../../model/selector.js";
import { fieldPath } from "../../model/validation.js";
import { builtinKinds, CustomResourceDefinition } from "../builtin-kinds.js";
import { kindFromCrd } from "../crd.js";
import {
  type CrdIssue,
  type CrdShape,
  crdServingIssues,
  crdSpecIssues,
} from "../crd-validation.js";
import { NamespaceLifecycle } from "../namespace-lifecycle.js";
import { checkPathSegmentName } from "../path-segment.js";
import {
  aggregatedDiscovery,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from "./discovery.js";
import { openApiDocument, openApiIndex } from "./openapi.js";
import {
  booleanParam,
  deleteOptionsOf,
  fieldValidationParam,
  forbidden,
  integerParam,
  invalidOptions,
  isDryRun,
  notSupported,
  type OptionsKind,
} from "./request-options.js";
import { scaledObject, scaleOf } from "./scale.js";
import {
  coreEvents,
  moduleCrdAnnotation,
  moduleCrdOf,
  type ServedKind,
  servedKindOf,
} from "./served-kind.js";
import { asApiError, statusOf } from "./status.js";
import { wantsTable } from "./table.js";
import { YamlParser } from "./yaml-parser.js";

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
  /**
   * The most reads (GET and other non-mutating requests, watches excepted) served at once; one
   * more is answered 429 `TooManyRequests` with `Retry-After: 1`, as kube-apiserver's
   * `--max-requests-inflight`. A request counts until its response is sent or its client goes.
   * `0` for no limit. @default 400
   */
  readonly maxRequestsInFlight?: number;
  /** The most writes (POST, PUT, PATCH, DELETE) served at once, as kube-apiserver's `--max-mutating-requests-inflight`; `0` for no limit. @default 200 */
  readonly maxMutatingRequestsInFlight?: number;
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

/** `/api/<version>` or `/apis/<group>/<version>`: a group version's resource list. */
interface GroupVersionPath {
  readonly group: string;
  readonly version: string;
  readonly plural?: undefined;
}

/**
 * Splits `/api/v1/…` and `/apis/<group>/<version>/…` into their parts, `%`-decoded; `undefined`
 * if neither. The path is the request's own, never resolved: `..` and `%2e%2e` are segments like
 * any other, as Go's server keeps them, so no path reaches another namespace's objects. A
 * malformed `%` escape is BadRequest, as Go's HTTP server answers it, and so is a namespace or
 * name that cannot be one (`.`, `..`, or holding `/` or `%`), as the API server answers it.
 */
export function parseResourcePath(pathname: string): ResourcePath | GroupVersionPath | undefined {
  const segments = pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeSegment);
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
  if (rest.length === 0) return { group, version };
  let namespace: string | undefined;
  // namespaces/<ns>/<plural>/… is a namespaced resource; namespaces[/<name>[/status]] is Namespace itself.
  if (
    rest[0] === "namespaces" &&
    rest.length >= 3 &&
    !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))
  ) {
    namespace = checkPathSegmentName("namespace", rest[1]!);
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  const name = rest[1] === undefined ? undefined : checkPathSegmentName("name", rest[1]);
  return { group, version, namespace, plural: rest[0]!, name, subresource: rest[2] };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`invalid URL escape in the path segment ${JSON.stringify(segment)}`);
  }
}

/** A request's path, exactly as sent (still `%`-encoded), and its query. */
interface RequestTarget {
  readonly pathname: string;
  readonly query: URLSearchParams;
}

/**
 * The path and query of a request's target: a path (origin form, `//` kept as part of the
 * path, not read as a host) or an absolute URL; anything else is BadRequest. Nothing in the
 * path is resolved or rewritten — no `..` or `%2e%2e` removed, no `\` read as `/` — as Go's
 * server (`url.ParseRequestURI`) keeps them: a WHATWG `URL` would resolve
 * `namespaces/team-a/%2e%2e/team-b` into team-b's namespace.
 */
export function requestTarget(target: string | undefined): RequestTarget {
  const raw = target ?? "/";
  let rest = raw;
  if (!raw.startsWith("/")) {
    const origin = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(raw);
    if (origin === null)
      throw badRequest(`malformed request target ${JSON.stringify(raw.slice(0, 200))}`);
    rest = raw.slice(origin[0].length);
    if (!rest.startsWith("/")) rest = `/${rest}`;
  }
  const queryAt = rest.indexOf("?");
  return queryAt < 0
    ? { pathname: rest, query: new URLSearchParams() }
    : { pathname: rest.slice(0, queryAt), query: new URLSearchParams(rest.slice(queryAt + 1)) };
}

/**
 * The token of an `Authorization: Bearer <token>` header, read as Kubernetes' bearer token
 * authenticator reads it: spaces around trimmed, the scheme in any case (`bearer`, `BEARER`),
 * the token up to the next space; `undefined` for another scheme or an empty token.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const parts = (header ?? "").trim().split(" ");
  if (parts.length < 2 || parts[0]!.toLowerCase() !== "bearer") return undefined;
  return parts[1] === "" ? undefined : parts[1];
}

/**
 * Which limit a request counts against: `writes` for a method that changes something, `reads`
 * for the others, none for a watch (long-running, as Kubernetes leaves watches out of its
 * limits; a watch's memory is bounded by waiting for its client to read).
 */
function inFlightLane(req: IncomingMessage): "reads" | "writes" | undefined {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") return "writes";
  try {
    return booleanParam(requestTarget(req.url).query, "watch") === true ? undefined : "reads";
  } catch {
    return "reads"; // answered 400 soon enough
  }
}

/** A digest to compare secrets by: equal lengths for `timingSafeEqual`, whatever was sent. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(json),
  });
  res.end(json);
}

/** How much of a list is put together before it is written. */
const listChunkBytes = 64 * 1024;

/**
 * Sends a list (`head` and its `items`) as it is serialized, a chunk at a time, waiting for the
 * client to read whenever the socket's buffer is full: a client that never reads holds a chunk
 * of the list, not the whole of it (a hundred 1 MB objects, five such clients: 500 MB).
 */
async function sendList(
  res: ServerResponse,
  head: Record<string, unknown>,
  items: readonly unknown[],
): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once("close", onClose);
  try {
    res.writeHead(200, { "Content-Type": "application/json" });
    // `{…,"items":[]}` without its closing `]}`.
    let chunk = JSON.stringify({ ...head, items: [] }).slice(0, -2);
    for (let i = 0; i < items.length; i++) {
      chunk += (i === 0 ? "" : ",") + JSON.stringify(items[i]);
      if (chunk.length < listChunkBytes) continue;
      res.write(chunk);
      chunk = "";
      if (res.writableNeedDrain) await drained(res, gone.signal);
      if (gone.signal.aborted) return;
    }
    res.end(`${chunk}]}`);
  } finally {
    res.off("close", onClose);
  }
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

/**
 * A request body's value. JSON is parsed here (`JSON.parse` is linear and takes any nesting);
 * a YAML body that is JSON too (what kubectl and client libraries send, even as
 * `apply-patch+yaml`) as well, and any other YAML on `yaml`'s worker thread.
 */
async function parseBody(raw: Buffer, contentType: string, yaml: YamlParser): Promise<unknown> {
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/yaml/.test(contentType))
      throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  return yaml.parse(text);
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
    if (!Object.hasOwn(kept, key)) out.push(field);
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
 * Service, Lease, Event, CustomResourceDefinition) are registered on the plane.
 *
 * As a Kubernetes API server: `default`, `kube-system` and `kube-public` exist from the start
 * (created in the plane's store if missing); a write into a namespace that does not exist is
 * `NotFound`, a create into a terminating one `Forbidden`; a deleted namespace turns
 * `Terminating` and the server deletes its content (every namespaced kind it serves,
 * finalizers honoured) and then the namespace — also one another server left terminating.
 * Events are served as `events.k8s.io/v1` and as core `v1` (one store, converted); the kinds
 * the plane's modules define appear as read-only CustomResourceDefinitions; kinds with `scale`
 * have a `/scale` subresource.
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
    maxRequestsInFlight = 400,
    maxMutatingRequestsInFlight = 200,
  } = options;
  for (const [name, value] of [
    ["maxRequestsInFlight", maxRequestsInFlight],
    ["maxMutatingRequestsInFlight", maxMutatingRequestsInFlight],
  ] as const)
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError(`${name} (${value}) must be a non-negative integer (0 for no limit)`);
  // Kubernetes reads a token up to its first space, in any scheme's case: a token with
  // whitespace could never be sent.
  if (token !== undefined && (token === "" || /\s/.test(token)))
    throw new RangeError("token must be non-empty and hold no whitespace");
  plane.register(...builtinKinds);
  const closing = new AbortController();
  const yaml = new YamlParser();
  /** What ends each open watch; closing the server calls them all. */
  const openWatches = new Set<() => void>();

  // Kinds defined at runtime by CustomResourceDefinitions, kept in step by an informer.
  const crdKinds = new Map<string, AnyKind>();
  /** What a CRD named `name` may not take over: the plane's kinds (built-in, modules'), other CRDs'. */
  const servedBesides = (name: string): AnyKind[] => [
    ...plane.kinds.values(),
    ...[...crdKinds].filter(([other]) => other !== name).map(([, kind]) => kind),
  ];
  /**
   * The kind a CRD defines, if it may be served: one that breaks Kubernetes' rules for CRDs or
   * would take over a served kind is not, however it was stored (through a typed client, or by
   * an older version into a durable store).
   */
  const defineFromCrd = (crd: StoredObject): AnyKind | readonly CrdIssue[] => {
    const name = crd.metadata.name;
    const issues = servingIssues(crd, servedBesides(name));
    if (issues.length === 0) {
      try {
        const kind = kindFromCrd(crd);
        crdKinds.set(name, kind);
        return kind;
      } catch (err) {
        issues.push({ path: ["spec"], message: (err as Error).message });
      }
    }
    crdKinds.delete(name);
    return issues;
  };
  const crdInformer = new Informer(plane.backend, CustomResourceDefinition);
  crdInformer.writer.subscribe((change) => {
    if (change.type === "deleted") {
      crdKinds.delete(change.object.metadata.name);
      return;
    }
    const defined = defineFromCrd(change.object);
    if (Array.isArray(defined)) void markNotAccepted(plane, change.object, defined);
    else void markEstablished(plane, change.object);
  });
  const crdInformerRun = crdInformer.run(closing.signal);
  await crdInformer.cache.ready();

  /** Every kind served, as served: the plane's, core v1 Events (a view), the CRDs'. */
  const served = (): ServedKind[] => {
    const defined = [...crdKinds.values()];
    const ids = new Set(defined.map(kindId));
    return [
      ...[...plane.kinds.values()].filter((k) => !ids.has(kindId(k))).map(servedKindOf),
      coreEvents,
      ...defined.map(servedKindOf),
    ];
  };
  const kinds = (): AnyKind[] => served().map((s) => s.kind);
  const findServed = async (
    group: string,
    version: string,
    plural: string,
  ): Promise<ServedKind> => {
    const match = (kind: AnyKind) =>
      kind.group === group && kind.version === version && kind.plural === plural;
    const known = served().find((s) => match(s.kind));
    if (known !== undefined) return known;
    // A CRD applied a moment ago may not have reached the informer yet.
    try {
      const crd = await plane.backend.get(CustomResourceDefinition, { name: `${plural}.${group}` });
      const kind = defineFromCrd(crd);
      if (!Array.isArray(kind) && match(kind as AnyKind)) return servedKindOf(kind as AnyKind);
    } catch {}
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${group === "" ? "" : `${group}/`}${version} ${plural})`,
      {
        details: { group, kind: plural },
      },
    );
  };

  /** When the kinds of the plane's modules were first served as CRDs. */
  const startedAt = `${new Date().toISOString().slice(0, 19)}Z`;
  const builtinIds = new Set(builtinKinds.map(kindId));
  /** The CRDs of the kinds the plane's modules define, by name: served, never stored. */
  const moduleCrds = (): Map<string, StoredObject> =>
    new Map(
      [...plane.kinds.values()]
        .filter((kind) => !builtinIds.has(kindId(kind)))
        .map((kind) => {
          const crd = moduleCrdOf(kind, startedAt);
          return [crd.metadata.name, crd] as const;
        }),
    );

  // Namespaces: default, kube-system and kube-public exist from the start; deleted namespaces
  // are emptied, then removed, by every kind this server serves (a namespace a server that
  // stopped left terminating too: the lifecycle lists every namespace when it starts).
  // A store that keeps namespaces itself (a Kubernetes API server) is left to do so.
  const keepsNamespaces = plane.backend.capabilities.keepsNamespaces === true;
  const namespaces = new NamespaceLifecycle(plane.backend, {
    kinds: () => served().map((s) => s.storage),
  });
  if (!keepsNamespaces) await namespaces.createSystemNamespaces();
  const namespacesRun = keepsNamespaces ? Promise.resolve() : namespaces.run(closing.signal);

  // The token is compared in constant time, as digests of equal length, so that how long a
  // refusal takes tells nothing about how much of a guess was right.
  const expectedToken = token === undefined ? undefined : digest(token);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (expectedToken !== undefined) {
      const sent = bearerToken(req.headers.authorization);
      if (sent === undefined || !timingSafeEqual(digest(sent), expectedToken))
        throw new ApiError("Unauthorized", "Unauthorized");
    }
    const { pathname, query } = requestTarget(req.url);
    const method = req.method ?? "GET";
    const accept = req.headers.accept;

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
    if (path.plural === undefined) {
      const { group, version } = path;
      const matching = kinds().filter((k) => k.group === group && k.version === version);
      if (matching.length === 0)
        throw new ApiError(
          "NotFound",
          `the server could not find the requested resource (${pathname})`,
        );
      send(res, 200, apiResourceList(group === "" ? version : `${group}/${version}`, matching));
      return;
    }
    const servedKind = await findServed(path.group, path.version, path.plural);
    const { kind, storage } = servedKind;
    const isNamespace = !keepsNamespaces && kindId(kind) === kindId(Namespace);
    const subresource = path.subresource;
    if (
      subresource !== undefined &&
      subresource !== "status" &&
      !(subresource === "scale" && kind.scale !== undefined) &&
      !(subresource === "finalize" && isNamespace)
    ) {
      throw new ApiError(
        "NotFound",
        `the server could not find the requested resource (subresource "${subresource}" of ${kind.plural})`,
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
    let strict = false;
    /** The `dryRun` and `fieldValidation` of a write, checked before its body is read. */
    const writeOptions = (optionsKind: OptionsKind): { dryRun: boolean } => {
      strict = fieldValidationParam(query, optionsKind) === "Strict";
      return { dryRun: isDryRun(query.getAll("dryRun"), optionsKind) };
    };
    const isCrd = kindId(kind) === kindId(CustomResourceDefinition);
    // The CRDs of the modules' kinds are served, not stored: read-only.
    const moduleCrd = isCrd && path.name !== undefined ? moduleCrds().get(path.name) : undefined;
    if (moduleCrd !== undefined && method !== "GET") throw moduleCrdReadOnly(moduleCrd);
    /**
     * Tries a write as a dry run first where its result must be checked before it is made: for
     * unknown fields (Strict), and for a CRD, whose name and names only the result shows (a
     * generated name, a patch) and which may not take over a kind this server serves.
     */
    const trial = async (
      body: Record<string, unknown>,
      write: (dryRun: boolean) => Promise<StoredObject>,
    ): Promise<void> => {
      if (!strict && !isCrd) return;
      const result = await write(true);
      if (strict) strictCheck(body, servedKind.toServed(result));
      if (isCrd) {
        const issues = crdServingIssues(
          result as unknown as CrdShape,
          servedBesides(result.metadata.name),
        );
        if (issues.length > 0) throw crdInvalid(result, issues);
      }
    };

    const readObject = async (): Promise<Record<string, unknown>> => {
      const type = mediaType(req);
      if (type !== "application/json" && type !== "application/yaml" && type !== "*/*") {
        throw new ApiError(
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
        );
      }
      const body = await parseBody(await readBody(req, maxBodyBytes), type, yaml);
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
    /**
     * An object as a client sent it, in the stored shape: for a view, checked against the
     * served kind's schema first (so that faults name the fields the client sent), then
     * converted.
     */
    const stored = async (
      sent: Record<string, unknown>,
      write: "create" | "update",
    ): Promise<Record<string, unknown>> => {
      if (!servedKind.view) return sent;
      await prepareWrite(kind, sent, write);
      return servedKind.toStored(sent);
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
    /** Sends a stored object as this kind serves it (a Table when asked for one). */
    const respondObject = (code: number, object: StoredObject) => {
      const shown = servedKind.toServed(object);
      if (wantsTable(accept))
        send(
          res,
          code,
          servedKind.table([shown], { resourceVersion: shown.metadata.resourceVersion }),
        );
      else send(res, code, shown);
    };
    /**
     * Kubernetes' `NamespaceLifecycle` admission: no write into a namespace that does not exist,
     * no create into one being deleted.
     */
    const admit = async (
      namespace: unknown,
      name: unknown,
      creates: boolean | (() => Promise<boolean>),
      dryRun: boolean,
    ): Promise<void> => {
      if (
        keepsNamespaces ||
        kind.scope !== "Namespaced" ||
        typeof namespace !== "string" ||
        namespace === ""
      )
        return;
      await namespaces.admit(kind, namespace, {
        name: typeof name === "string" ? name : undefined,
        creates,
        missing: "refuse",
        dryRun,
      });
    };
    const exists = async (): Promise<boolean> =>
      backend.get(storage, key()).then(
        () => true,
        (err) => {
          if (ApiError.is(err, "NotFound")) return false;
          throw err;
        },
      );

    switch (method) {
      case "GET": {
        if (path.name !== undefined) {
          if (moduleCrd !== undefined) {
            respondObject(200, moduleCrd);
            return;
          }
          const object = await backend.get(storage, key());
          if (subresource === "scale") send(res, 200, scaleOf(kind.scale!, object));
          else respondObject(200, object);
          return;
        }
        // The fields a field selector may name here: the store checks metadata's, the server
        // the kind's own (an Event's reason) on each object as served.
        const selectable = [...selectableFields, ...Object.keys(servedKind.fields)];
        const fieldSelector = query.get("fieldSelector")
          ? parseFieldSelector(query.get("fieldSelector")!, selectable).split(selectableFields)
          : undefined;
        const serverFilter =
          fieldSelector === undefined || fieldSelector.out.requirements.length === 0
            ? undefined
            : (object: StoredObject) =>
                fieldSelector.out.matchesFields((field) => servedKind.fields[field]!(object));
        const storeFields =
          fieldSelector === undefined || fieldSelector.in.requirements.length === 0
            ? undefined
            : fieldSelector.in;
        const listOptions: ListOptions = {
          ...(path.namespace === undefined ? {} : { namespace: path.namespace }),
          ...(query.get("labelSelector") ? { labelSelector: query.get("labelSelector")! } : {}),
          ...(storeFields === undefined ? {} : { fieldSelector: storeFields }),
        };
        const modules = isCrd ? moduleCrds() : undefined;
        const sendInitialEvents = booleanParam(query, "sendInitialEvents");
        if (booleanParam(query, "watch") === true) {
          // Everything a watch could fail on is checked before its 200 and headers go out.
          const request = watchRequestOf(query, selectable);
          await serveWatch(req, res, servedKind, listOptions, serverFilter, request, accept, {
            openWatches,
            ...(modules === undefined ? {} : { alsoServed: modules }),
          });
          return;
        }
        if (sendInitialEvents !== undefined)
          throw invalidOptions("ListOptions", [
            forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"),
          ]);
        const limit = integerParam(query, "limit") ?? 0;
        let items: StoredObject[];
        let metadata: Record<string, unknown>;
        if (modules !== undefined && modules.size > 0) {
          // Stored CRDs and the modules' in one list, in name order, in one page.
          const all = await listAll(storage, listOptions);
          checkResourceVersion(query, all.resourceVersion);
          const labels =
            listOptions.labelSelector === undefined
              ? undefined
              : parseLabelSelector(String(listOptions.labelSelector));
          items = [
            ...all.items.filter((crd) => !modules.has(crd.metadata.name)),
            ...[...modules.values()].filter(
              (crd) =>
                (labels === undefined || labels.matches(crd.metadata.labels)) &&
                (storeFields === undefined || storeFields.matches(crd.metadata)),
            ),
          ].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
          metadata = { resourceVersion: all.resourceVersion };
        } else {
          const list = await backend.list(storage, {
            ...listOptions,
            ...(limit > 0 ? { limit } : {}),
            ...(query.get("continue") ? { continue: query.get("continue")! } : {}),
          });
          checkResourceVersion(query, list.resourceVersion);
          items = list.items.map((o) => servedKind.toServed(o));
          if (serverFilter !== undefined) items = items.filter(serverFilter);
          metadata = {
            resourceVersion: list.resourceVersion,
            ...(list.continue ? { continue: list.continue } : {}),
          };
        }
        if (wantsTable(accept)) send(res, 200, servedKind.table(items, metadata));
        else
          await sendList(
            res,
            { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata },
            items,
          );
        return;
      }
      case "POST": {
        if (path.name !== undefined)
          throw new ApiError(
            "MethodNotAllowed",
            "POST creates: it takes no object name on the URL",
          );
        const { dryRun } = writeOptions("CreateOptions");
        const sent = placed(await readObject());
        const sentMeta = sent.metadata as Record<string, unknown>;
        if (isCrd && typeof sentMeta.name === "string" && moduleCrds().has(sentMeta.name))
          throw alreadyExists({
            group: CustomResourceDefinition.group,
            kind: "customresourcedefinitions",
            name: sentMeta.name,
          });
        await admit(sentMeta.namespace, sentMeta.name, true, dryRun);
        const body = await stored(sent, "create");
        servedKind.checkCreate?.(body);
        await trial(sent, (dryRun) => backend.create(storage, body as never, { dryRun }));
        respondObject(
          201,
          isNamespace
            ? await namespaces.create(body as never, { dryRun })
            : await backend.create(storage, body as never, { dryRun }),
        );
        return;
      }
      case "PUT": {
        const { dryRun } = writeOptions("UpdateOptions");
        const sent = placed(await readObject());
        const sentMeta = sent.metadata as Record<string, unknown>;
        await admit(sentMeta.namespace, sentMeta.name, false, dryRun);
        if (subresource === "scale") {
          const current = await backend.get(storage, key());
          const result = await backend.update(
            storage,
            scaledObject(kind.scale!, current, sent) as never,
            { dryRun },
          );
          send(res, 200, scaleOf(kind.scale!, result));
          return;
        }
        if (subresource === "finalize") {
          respondObject(200, await finalizeNamespace(plane, key().name, sent, dryRun));
          return;
        }
        if (isNamespace && subresource === undefined)
          // Kubernetes keeps a namespace's name label whatever an update says.
          sent.metadata = {
            ...sentMeta,
            labels: {
              ...((sentMeta.labels as Record<string, string> | undefined) ?? {}),
              [namespaceNameLabel]: String(sentMeta.name),
            },
          };
        const body = await stored(sent, "update");
        const write =
          subresource === "status"
            ? backend.updateStatus.bind(backend)
            : backend.update.bind(backend);
        await trial(sent, (dryRun) => write(storage, body as never, { dryRun }));
        respondObject(200, await write(storage, body as never, { dryRun }));
        return;
      }
      case "PATCH": {
        const { dryRun } = writeOptions("PatchOptions");
        const force = booleanParam(query, "force");
        const patch = await readPatch(req, maxBodyBytes, query, yaml);
        if (force !== undefined && patch.type !== "apply")
          throw invalidOptions("PatchOptions", [
            forbidden("force", "may not be specified for non-apply patch"),
          ]);
        if (subresource === "finalize")
          throw new ApiError("MethodNotAllowed", "the finalize subresource takes PUT only");
        if (patch.type === "json") strict = false; // a JSON patch names paths, not fields
        await admit(
          path.namespace,
          path.name,
          patch.type === "apply" && subresource === undefined
            ? async () => !(await exists())
            : false,
          dryRun,
        );
        if (
          isNamespace &&
          patch.type === "apply" &&
          subresource === undefined &&
          !(await exists())
        ) {
          // A namespace applied into being is created as Kubernetes creates namespaces.
          respondObject(200, await namespaces.create(placed(patch.patch) as never, { dryRun }));
          return;
        }
        if (subresource === "scale" || servedKind.view) {
          // A patch of a view (a Scale, a core v1 Event) applies to the view, which is then
          // written back, as the API server patches them: preconditioned on the version read,
          // and tried again on a conflict unless the patch names a version itself.
          const scale = subresource === "scale" ? kind.scale! : undefined;
          const result = await patchView(storage, key(), patch, dryRun, {
            toView: (object) =>
              scale === undefined ? servedKind.toServed(object) : scaleOf(scale, object),
            fromView: async (view, current) =>
              scale === undefined
                ? await stored(view, "update")
                : scaledObject(scale, current, view),
            create:
              scale === undefined && patch.type === "apply"
                ? async (view) => {
                    const body = await stored(placed(view), "create");
                    servedKind.checkCreate?.(body);
                    return body;
                  }
                : undefined,
          });
          if (scale === undefined) respondObject(200, result);
          else send(res, 200, scaleOf(scale, result));
          return;
        }
        const patchOptions = {
          dryRun,
          ...(subresource === "status" ? { subresource: "status" as const } : {}),
        };
        await trial(patch.patch as Record<string, unknown>, (dryRun) =>
          backend.patch(storage, key(), patch, { ...patchOptions, dryRun }),
        );
        respondObject(200, await backend.patch(storage, key(), patch, patchOptions));
        return;
      }
      case "DELETE": {
        if (subresource === "scale" || subresource === "finalize")
          throw new ApiError(
            "MethodNotAllowed",
            `the ${subresource} subresource cannot be deleted`,
          );
        const raw = await readBody(req, maxBodyBytes);
        const { dryRun, preconditions } = deleteOptionsOf(
          raw.length > 0 ? await parseBody(raw, mediaType(req), yaml) : undefined,
          query,
        );
        if (isNamespace) {
          // Terminating now; the namespace goes once its content has (see NamespaceLifecycle).
          respondObject(
            200,
            await namespaces.delete(key().name, {
              dryRun,
              ...(preconditions ? { preconditions } : {}),
            }),
          );
          return;
        }
        const deleted = await backend.delete(storage, key(), {
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

  /** Every item of a list, through every page, and the revision of the first. */
  async function listAll(
    kind: AnyKind,
    options: ListOptions,
  ): Promise<{ items: StoredObject[]; resourceVersion: string }> {
    const items: StoredObject[] = [];
    let token: string | undefined;
    let resourceVersion = "";
    do {
      const page = await plane.backend.list(kind, {
        ...options,
        limit: 500,
        ...(token ? { continue: token } : {}),
      });
      items.push(...page.items);
      resourceVersion ||= page.resourceVersion;
      token = page.continue;
    } while (token);
    return { items, resourceVersion };
  }

  /**
   * Patches a view of a stored object (a Scale, a core v1 Event): reads the object, applies the
   * patch to its view, writes back what the view then says, preconditioned on the version read
   * (or the one the patch names). A conflict with a write in between is tried again, five times
   * at most, unless the patch named the version. An apply patch of a missing object creates it.
   */
  async function patchView(
    kind: AnyKind,
    key: ObjectKey,
    patch: Patch,
    dryRun: boolean,
    view: {
      toView(object: StoredObject): unknown;
      fromView(
        view: Record<string, unknown>,
        current: StoredObject,
      ): Promise<Record<string, unknown>> | Record<string, unknown>;
      create: ((view: Record<string, unknown>) => Promise<Record<string, unknown>>) | undefined;
    },
  ): Promise<StoredObject> {
    const named =
      patch.type !== "json" &&
      typeof (patch.patch.metadata as { resourceVersion?: unknown } | undefined)
        ?.resourceVersion === "string";
    for (let attempt = 0; ; attempt++) {
      let current: StoredObject;
      try {
        current = await plane.backend.get(kind, key);
      } catch (err) {
        if (!ApiError.is(err, "NotFound") || view.create === undefined) throw err;
        const body = await view.create(patch.patch as Record<string, unknown>);
        return plane.backend.create(kind, body as never, { dryRun });
      }
      const before = view.toView(current);
      const after =
        patch.type === "json"
          ? applyJsonPatch(before, patch.patch)
          : applyMergePatch(before, patch.patch);
      if (!isPlainObject(after)) throw badRequest("the patched object is not a JSON object");
      const metadata = isPlainObject(after.metadata) ? after.metadata : {};
      const body = await view.fromView(
        {
          ...after,
          metadata: {
            ...metadata,
            name: current.metadata.name,
            ...(current.metadata.namespace === undefined
              ? {}
              : { namespace: current.metadata.namespace }),
            resourceVersion: named ? metadata.resourceVersion : current.metadata.resourceVersion,
          },
        },
        current,
      );
      try {
        return await plane.backend.update(kind, body as never, { dryRun });
      } catch (err) {
        if (!ApiError.is(err, "Conflict") || named || attempt >= 4) throw err;
      }
    }
  }

  /** Every watcher of a change sends the same JSON: serialize it once. */
  const recentJson = new RecentJson(1024, 16 * 1024 * 1024);

  /**
   * Serves a watch of `served`. `filter` is the part of a field selector the store cannot
   * check (an Event's `reason`): the server checks it on each object as served, and — as
   * Kubernetes does for a selector — an object that stops matching arrives as DELETED, one that
   * starts matching as ADDED. `alsoServed` are objects served beside the stored ones (the
   * modules' CRDs): sent as ADDED with the initial events, and stored objects of their names
   * are not sent.
   */
  async function serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    served: ServedKind,
    listOptions: ListOptions,
    filter: ((object: StoredObject) => boolean) | undefined,
    request: WatchRequest,
    accept: string | undefined,
    watchOptions: {
      readonly openWatches: Set<() => void>;
      readonly alsoServed?: ReadonlyMap<string, StoredObject>;
    },
  ): Promise<void> {
    const { openWatches, alsoServed } = watchOptions;
    const kind = served.kind;
    const stop = new AbortController();
    const onClose = () => stop.abort();
    req.once("close", onClose);
    res.once("close", onClose);
    openWatches.add(onClose);
    // As Kubernetes: no timeout or 0 is the server's default; a negative one ends at once.
    const timeoutSeconds =
      request.timeoutSeconds === undefined || request.timeoutSeconds === 0
        ? defaultWatchTimeoutSeconds
        : request.timeoutSeconds;
    const timer = setTimeout(
      onClose,
      Math.min(Math.max(0, timeoutSeconds), maxTimerSeconds) * 1000,
    );
    const table = wantsTable(accept);
    res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
    // Clients wait for the headers before they treat the watch as started: send them now.
    res.flushHeaders();
    const write = (event: { type: string; object: unknown }) =>
      res.write(`${JSON.stringify(event)}\n`);
    /** The keys of objects sent as matching a server-checked selector, to send their leaving. */
    const matching = new Set<string>();
    /** Whether `matching` holds every match (initial events were sent), not just those seen. */
    let knowsAll = false;
    const writeObject = (type: string, stored: StoredObject) => {
      if (alsoServed?.has(stored.metadata.name) && stored !== alsoServed.get(stored.metadata.name))
        return;
      const object = served.toServed(stored);
      if (filter !== undefined) {
        const id = keyString(keyOf(object));
        if (!filter(object)) {
          if (type === "DELETED" || !matching.delete(id)) return;
          type = "DELETED";
        } else if (type === "DELETED") matching.delete(id);
        else {
          if (type === "MODIFIED" && knowsAll && !matching.has(id)) type = "ADDED";
          matching.add(id);
        }
      }
      if (table)
        write({
          type,
          object: served.table([object], { resourceVersion: object.metadata.resourceVersion }),
        });
      else if (served.view) write({ type, object });
      else res.write(`{"type":"${type}","object":${recentJson.of(object)}}\n`);
    };
    try {
      let resourceVersion: string | undefined = request.resourceVersion;
      const legacyStart = resourceVersion === "" || resourceVersion === "0";
      // Kubernetes starts a watch from no resourceVersion or "0" with the current state as
      // ADDED events, and any watch that asks with sendInitialEvents=true.
      if (request.sendInitialEvents ?? legacyStart) {
        let token: string | undefined;
        do {
          const page = await plane.backend.list(served.storage, {
            ...listOptions,
            limit: 500,
            ...(token ? { continue: token } : {}),
          });
          for (const object of page.items) {
            writeObject("ADDED", object);
            // As for the events after them: a client that does not read is not buffered for
            // (five such clients of a hundred 1 MB objects held 1 GB).
            if (res.writableNeedDrain) await drained(res, stop.signal);
            if (stop.signal.aborted) return;
          }
          resourceVersion = page.resourceVersion;
          token = page.continue;
        } while (token);
        const labels =
          listOptions.labelSelector === undefined
            ? undefined
            : parseLabelSelector(String(listOptions.labelSelector));
        const fields = listOptions.fieldSelector as FieldSelector | undefined;
        for (const object of alsoServed?.values() ?? [])
          if (
            (labels === undefined || labels.matches(object.metadata.labels)) &&
            (fields === undefined || fields.matches(object.metadata))
          )
            writeObject("ADDED", object);
        knowsAll = true;
        if (request.sendInitialEvents === true && request.allowWatchBookmarks)
          write({
            type: "BOOKMARK",
            object: {
              kind: kind.kind,
              apiVersion: kind.apiVersion,
              metadata: {
                resourceVersion,
                annotations: { "k8s.io/initial-events-end": "true" },
              },
            },
          });
      } else if (legacyStart) resourceVersion = undefined; // from now on
      const watch = plane.backend.watch(served.storage, {
        ...listOptions,
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
        allowBookmarks: request.allowWatchBookmarks,
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

  /** Requests being served, reads and writes apart, watches not counted (see ServeOptions). */
  const inFlight = { reads: 0, writes: 0 };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const lane = inFlightLane(req);
    if (lane !== undefined) {
      const limit = lane === "writes" ? maxMutatingRequestsInFlight : maxRequestsInFlight;
      if (limit > 0 && inFlight[lane] >= limit) {
        res.setHeader("Retry-After", "1");
        sendError(
          res,
          new ApiError("TooManyRequests", "Too many requests, please try again later.", {
            details: { retryAfterSeconds: 1 },
          }),
        );
        req.resume();
        return;
      }
      inFlight[lane]++;
      res.once("close", () => {
        inFlight[lane]--;
      });
    }
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
        void yaml.close();
        for (const close of openWatches) close();
        server.close(() => void Promise.all([crdInformerRun, namespacesRun]).then(() => resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Everything that keeps a stored CRD from being served beside `served`, with paths from the object. */
function servingIssues(crd: StoredObject, served: readonly AnyKind[]): CrdIssue[] {
  try {
    return [
      ...crdSpecIssues((crd as unknown as CrdShape).spec).map((issue) => ({
        path: ["spec", ...issue.path],
        message: issue.message,
      })),
      ...crdServingIssues(crd as unknown as CrdShape, served),
    ];
  } catch (err) {
    return [{ path: ["spec"], message: `malformed: ${(err as Error).message}` }];
  }
}

/** The `Invalid` error of a CRD write that would break the rules of serving. */
function crdInvalid(crd: StoredObject, issues: readonly CrdIssue[]): ApiError {
  return invalid(
    {
      group: CustomResourceDefinition.group,
      kind: CustomResourceDefinition.kind,
      name: crd.metadata.name,
    },
    issues.map((issue) => ({
      field: fieldPath("", issue.path),
      reason: issue.message.startsWith("Forbidden") ? "FieldValueForbidden" : "FieldValueInvalid",
      message: issue.message,
    })),
  );
}

/**
 * Marks a CRD that is not served NamesAccepted=False and Established=False with the reasons, as
 * the real API server marks a CRD whose names conflict; writes only when that changes something.
 */
async function markNotAccepted(
  plane: ControlPlane,
  crd: StoredObject,
  issues: readonly CrdIssue[],
): Promise<void> {
  const message = issues.map((i) => `${fieldPath("", i.path)}: ${i.message}`).join("; ");
  const conditions =
    (
      crd.status as
        | { conditions?: { type: string; status: string; message?: string }[] }
        | undefined
    )?.conditions ?? [];
  if (
    conditions.some(
      (c) => c.type === "NamesAccepted" && c.status === "False" && c.message === message,
    )
  )
    return;
  const now = `${new Date().toISOString().slice(0, 19)}Z`;
  try {
    await plane.backend.updateStatus(CustomResourceDefinition, {
      ...crd,
      status: {
        conditions: [
          {
            type: "NamesAccepted",
            status: "False",
            reason: "NotAccepted",
            message,
            lastTransitionTime: now,
          },
          {
            type: "Established",
            status: "False",
            reason: "NotAccepted",
            message: "not served: see NamesAccepted",
            lastTransitionTime: now,
          },
        ],
      },
    } as never);
  } catch {
    // A newer version of the CRD arrives as its own change and is marked then.
  }
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

/**
 * `PUT /api/v1/namespaces/<name>/finalize`: sets the namespace's `spec.finalizers`, as
 * Kubernetes' finalize subresource does. Taking `kubernetes` out of a terminating namespace's
 * finalizers lets it go at once, whatever content is left (what people do to a namespace stuck
 * terminating).
 */
async function finalizeNamespace(
  plane: ControlPlane,
  name: string,
  sent: Record<string, unknown>,
  dryRun: boolean,
): Promise<StoredObject> {
  const current = await plane.backend.get(Namespace, { name });
  const spec = isPlainObject(sent.spec) ? sent.spec : {};
  const finalizers = Array.isArray(spec.finalizers) ? (spec.finalizers as unknown[]) : [];
  if (!finalizers.every((f) => typeof f === "string"))
    throw badRequest("spec.finalizers must be a list of strings");
  const sentVersion = (sent.metadata as { resourceVersion?: unknown }).resourceVersion;
  const release =
    current.metadata.deletionTimestamp !== undefined && !finalizers.includes(namespaceFinalizer);
  return plane.backend.update(
    Namespace,
    {
      ...current,
      metadata: {
        ...current.metadata,
        resourceVersion:
          typeof sentVersion === "string" && sentVersion !== ""
            ? sentVersion
            : current.metadata.resourceVersion,
        ...(release
          ? {
              finalizers: (current.metadata.finalizers ?? []).filter(
                (f) => f !== namespaceFinalizer,
              ),
            }
          : {}),
      },
      spec: { ...(current.spec ?? {}), finalizers },
    } as never,
    { dryRun },
  );
}

/** What a write to the CRD of a module's kind gets: 403, for it is not stored but defined in code. */
function moduleCrdReadOnly(crd: StoredObject): ApiError {
  const name = crd.metadata.name;
  return new ApiError(
    "Forbidden",
    `customresourcedefinitions.apiextensions.k8s.io "${name}" is forbidden: the kind is defined by a module this server runs (annotation ${moduleCrdAnnotation}); its CustomResourceDefinition is read-only — change the module instead`,
    {
      details: {
        name,
        group: CustomResourceDefinition.group,
        kind: "customresourcedefinitions",
      },
    },
  );
}

async function readPatch(
  req: IncomingMessage,
  limit: number,
  query: URLSearchParams,
  yaml: YamlParser,
): Promise<Patch> {
  const type = mediaType(req);
  const raw = await readBody(req, limit);
  switch (type) {
    case "application/merge-patch+json": {
      const body = await parseBody(raw, type, yaml);
      if (!isPlainObject(body)) throw badRequest("a merge patch must be a JSON object");
      return { type: "merge", patch: body };
    }
    case "application/json-patch+json": {
      const body = await parseBody(raw, type, yaml);
      if (!Array.isArray(body)) throw badRequest("a JSON patch must be an array of operations");
      return { type: "json", patch: body };
    }
    case "application/apply-patch+yaml":
    case "application/apply-patch+json": {
      const body = await parseBody(raw, "application/yaml", yaml);
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

/** The longest a timer can wait (about 24.8 days); longer ones would fire at once. */
const maxTimerSeconds = 2_147_483;

/** What a watch asks for, checked. */
interface WatchRequest {
  readonly resourceVersion: string;
  readonly timeoutSeconds: number | undefined;
  readonly allowWatchBookmarks: boolean;
  readonly sendInitialEvents: boolean | undefined;
}

/**
 * The options of a watch, checked as Kubernetes checks them before it starts the stream: a
 * malformed `resourceVersion`, selector or `timeoutSeconds` is BadRequest; `sendInitialEvents`
 * needs `resourceVersionMatch=NotOlderThan`, which is allowed with nothing else (Invalid).
 */
function watchRequestOf(query: URLSearchParams, selectable: readonly string[]): WatchRequest {
  const sendInitialEvents = booleanParam(query, "sendInitialEvents");
  const match = query.get("resourceVersionMatch") ?? "";
  const causes = [];
  if (sendInitialEvents !== undefined && match !== "NotOlderThan")
    causes.push(
      forbidden(
        "resourceVersionMatch",
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
      ),
    );
  if (match !== "") {
    if (sendInitialEvents === undefined)
      causes.push(
        forbidden(
          "resourceVersionMatch",
          "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
      );
    if (match !== "NotOlderThan")
      causes.push(notSupported("resourceVersionMatch", match, ["NotOlderThan"]));
  }
  if (causes.length > 0) throw invalidOptions("ListOptions", causes);
  const resourceVersion = query.get("resourceVersion") ?? "";
  if (resourceVersion !== "" && !/^[0-9]+$/.test(resourceVersion))
    throw badRequest(
      `invalid resourceVersion ${JSON.stringify(resourceVersion)}: must be a decimal revision`,
    );
  const labelSelector = query.get("labelSelector");
  if (labelSelector) parseLabelSelector(labelSelector);
  const fieldSelector = query.get("fieldSelector");
  if (fieldSelector) parseFieldSelector(fieldSelector, selectable);
  return {
    resourceVersion,
    timeoutSeconds: integerParam(query, "timeoutSeconds"),
    allowWatchBookmarks: booleanParam(query, "allowWatchBookmarks") === true,
    sendInitialEvents,
  };
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
 * Bounded by count and by bytes, oldest out first: a cache of every object ever sent would
 * double the store's memory, and a thousand 1 MB objects would hold a gigabyte.
 */
class RecentJson {
  private readonly entries = new Map<object, string>();
  private length = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxLength: number,
  ) {}

  of(object: object): string {
    let json = this.entries.get(object);
    if (json === undefined) {
      json = JSON.stringify(object);
      if (json.length > this.maxLength) return json;
      this.entries.set(object, json);
      this.length += json.length;
      while (this.entries.size > this.capacity || this.length > this.maxLength) {
        const [oldest, text] = this.entries.entries().next().value!;
        this.entries.delete(oldest);
        this.length -= text.length;
      }
    }
    return json;
  }
}
