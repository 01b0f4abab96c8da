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
 * Kubernetes' own for Events, Namespaces, CRDs and the built-in kinds of the catalogue:
 * ConfigMap, Pod, Deployment, Job…, served unless `builtinKinds: false`); `Status` errors;
 * namespaces with their lifecycle; core v1 and `events.k8s.io/v1` Events over one store; the
 * modules' kinds as CustomResourceDefinitions.
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
 *
 * Layout: this file starts and stops the server; {@link route} (routes.ts) sends each request to
 * its handler — discovery, OpenAPI, or a resource path's (resource-handlers.ts, list-handler.ts,
 * watch-handler.ts), each reading a {@link RequestContext}; the kinds served and the CRDs behind
 * them are the {@link CrdRegistry}'s.
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
import type { ControlPlane } from "../../backend/control-plane.js";
import { DashboardApi, type DashboardOptions } from "../../dashboard/api.js";
import { API_PREFIX } from "../../dashboard/types.js";
import { ApiError } from "../../model/api-error.js";
import { type Clock, systemClock } from "../../model/clock.js";
import { builtinKinds } from "../builtin-kinds.js";
import { NamespaceLifecycle } from "../namespace-lifecycle.js";
import { tokenCheck } from "./bearer-token.js";
import { CrdRegistry } from "./crd-registry.js";
import { InFlightLimits } from "./in-flight.js";
import { kubeconfigFor } from "./kubeconfig.js";
import { RecentJson } from "./recent-json.js";
import type { RequestContext, ServerContext } from "./request-context.js";
import { requestTarget } from "./request-target.js";
import { sendError } from "./responses.js";
import { route } from "./routes.js";
import { statusOf } from "./status.js";
import { YamlParser } from "./yaml-parser.js";

export { kubeconfigFor };

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
  /**
   * A watch whose client has read nothing for this long while the watch has more to send — it
   * cannot keep up — is closed, as kube-apiserver closes a watcher whose buffer stays full: the
   * response ends, and the client (client-go, kubectl, an informer) watches again from the last
   * resourceVersion it saw, or relists. Until then it holds a socket's buffers and one event,
   * and slows no other watcher. If its client still reads nothing for as long again, the
   * connection is dropped. (A watch that falls behind the changes the store keeps ends sooner,
   * with 410 `Expired`: on the memory store, a burst of more than `historyBytes` while its
   * client reads nothing.) @default 15_000
   */
  readonly watchStallTimeoutMs?: number;
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
  /**
   * The time source of the server's own timers (watch timeouts, the YAML parser's time limit,
   * the namespace lifecycle's and the CRD informer's retries) and of the times it writes and
   * shows (CRD conditions, Table ages). Bookmarks come from the store's watches, on the
   * store's clock. @default systemClock
   */
  readonly clock?: Clock;
  /**
   * Serve Kubernetes' built-in kinds from the catalogue of `setpoint/kubernetes` (ConfigMap,
   * Secret, Pod, Service, Deployment, Job, Role… — typed, validated, with Kubernetes' Tables and
   * `/scale` subresources), as a cluster serves them; nothing runs their controllers. `false`
   * serves only Namespace, Service, Lease, Event, CustomResourceDefinition and the modules'
   * kinds. @default true
   */
  readonly builtinKinds?: boolean;
  /**
   * Serve the web dashboard at `/ui/` and its read API at `/setpoint/v1/` (see
   * the `Overview`, `ControllerDetail`… types `setpoint` exports): objects, events and Leases of the plane, and, given a
   * `manager`, its controllers' queues, keys backing off, reconciles in flight and history, with
   * a "reconcile now" button (off with `readOnly`, and always without a manager). The pages are
   * public (static files; the login form must load); every answer with data needs the token.
   * `false` serves neither (404). @default true (without a manager)
   */
  readonly dashboard?: boolean | DashboardOptions;
}

/** A running server. */
export interface KubernetesApiServer {
  /** `http://127.0.0.1:<port>` (or https). */
  readonly url: string;
  readonly port: number;
  /** Whether it serves the dashboard (at `${url}/ui/`). */
  readonly dashboard: boolean;
  /** A kubeconfig (YAML) whose current context points at this server. */
  kubeconfig(): string;
  /** Stops accepting connections and ends every watch. */
  close(): Promise<void>;
}

/**
 * Serves the Kubernetes REST API for `plane` until closed. The built-in kinds (Namespace,
 * Service, Lease, Event, CustomResourceDefinition and, unless `builtinKinds: false`, the
 * catalogue of `setpoint/kubernetes`: ConfigMap, Secret, Pod, Deployment, Job, Role…) are
 * registered on the plane.
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
    watchStallTimeoutMs = 15_000,
    maxRequestsInFlight = 400,
    maxMutatingRequestsInFlight = 200,
    clock = systemClock,
  } = options;
  /** Requests being served, reads and writes apart, watches not counted (see ServeOptions). */
  const inFlight = new InFlightLimits({ maxRequestsInFlight, maxMutatingRequestsInFlight });
  // Kubernetes reads a token up to its first space, in any scheme's case: a token with
  // whitespace could never be sent.
  if (token !== undefined && (token === "" || /\s/.test(token)))
    throw new RangeError("token must be non-empty and hold no whitespace");
  const authenticate = tokenCheck(token);
  // The catalogue is loaded here, not imported, so that importing `setpoint` never loads it;
  // its schemas are built when first used. Its kinds go first: they are the typed versions of
  // built-ins such as Service.
  const { catalogueKinds } = await import("../catalogue/index.js");
  if (options.builtinKinds !== false) plane.register(...catalogueKinds);
  plane.register(...builtinKinds);
  const closing = new AbortController();
  const yaml = new YamlParser(undefined, clock);

  const crds = new CrdRegistry(plane, clock, catalogueKinds);
  const crdsRun = crds.run(closing.signal);
  await crds.ready();

  // Namespaces: default, kube-system and kube-public exist from the start; deleted namespaces
  // are emptied, then removed, by every kind this server serves (a namespace a server that
  // stopped left terminating too: the lifecycle lists every namespace when it starts).
  // A store that keeps namespaces itself (a Kubernetes API server) is left to do so.
  const keepsNamespaces = plane.backend.capabilities.keepsNamespaces === true;
  const namespaces = new NamespaceLifecycle(plane.backend, {
    kinds: () => crds.served().map((s) => s.storage),
    clock,
  });
  if (!keepsNamespaces) await namespaces.createSystemNamespaces();
  const namespacesRun = keepsNamespaces ? Promise.resolve() : namespaces.run(closing.signal);

  const context: ServerContext = {
    backend: plane.backend,
    clock,
    crds,
    namespaces,
    keepsNamespaces,
    yaml,
    maxBodyBytes,
    minorVersion,
    defaultWatchTimeoutSeconds,
    watchStallTimeoutMs,
    bookmarkIntervalMs: options.bookmarkIntervalMs,
    openWatches: new Set(),
    recentJson: new RecentJson(1024, 16 * 1024 * 1024),
  };
  const dashboard =
    options.dashboard === false
      ? undefined
      : new DashboardApi(
          context,
          options.dashboard === true || options.dashboard === undefined ? {} : options.dashboard,
          closing.signal,
        );
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { pathname, query } = requestTarget(req.url);
    if (dashboard !== undefined && (pathname === "/ui" || pathname.startsWith("/ui/"))) {
      // Static pages: public, so that the login form loads; their data needs the token.
      if (req.method !== "GET" && req.method !== "HEAD")
        throw new ApiError("MethodNotAllowed", `${req.method} is not allowed on ${pathname}`);
      // The pages (and esbuild, when run from sources) are loaded on the first request.
      const { serveDashboardAsset } = await import("../../dashboard/assets.js");
      return serveDashboardAsset(res, pathname);
    }
    authenticate(req);
    const request: RequestContext = {
      server: context,
      req,
      res,
      method: req.method ?? "GET",
      pathname,
      query,
      accept: req.headers.accept,
    };
    if (dashboard !== undefined && pathname.startsWith(`${API_PREFIX}/`))
      return dashboard.handle(request);
    await route(request);
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (!inFlight.admit(req, res)) return;
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
    dashboard: dashboard !== undefined,
    kubeconfig: () => kubeconfigFor(url, token),
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        void yaml.close();
        for (const close of context.openWatches) close();
        server.close(
          () =>
            void Promise.all([crdsRun, namespacesRun, dashboard?.stopped()]).then(() => resolve()),
        );
        server.closeAllConnections();
      }),
  };
}
