/**
 * The dashboard's read API (paths and shapes in types.ts) and its pages at `/ui/`, served by the
 * Kubernetes API server (`serveKubernetesApi`, `setpoint serve`, `setpoint run --serve`) beside
 * the Kubernetes paths, under the same security: the pages themselves are static and public (the
 * login form must load), every answer with data needs the bearer token when the server has one.
 *
 * Where answers come from: objects, events and Leases from the store (kinds counted by one
 * list+watch per kind, see kind-counts.ts); controllers from the {@link Manager} of this process,
 * when there is one (`setpoint run --serve`), through controller-views.ts. A dashboard of
 * `setpoint serve` shows objects, events and Leases, and is read-only.
 *
 * Layout: this file routes the read API's paths and answers the overview and the controllers'
 * views; object-view.ts assembles an object's page, stream.ts the live stream, assets.ts serves
 * the pages.
 */
import type { Backend } from "../backend/backend.js";
import { Event } from "../controller/events.js";
import type { Manager } from "../controller/manager.js";
import { Lease } from "../coordination/lease.js";
import type { CrdRegistry } from "../kubernetes/apiserver/crd-registry.js";
import type { RequestContext } from "../kubernetes/apiserver/request-context.js";
import { send } from "../kubernetes/apiserver/responses.js";
import type { ServedKind } from "../kubernetes/apiserver/served-kind.js";
import { ApiError } from "../model/api-error.js";
import type { Clock } from "../model/clock.js";
import {
  controllerDetail,
  controllerSummaries,
  keyView,
  kindRef,
  liveRunner,
} from "./controller-views.js";
import { KindCounts } from "./kind-counts.js";
import { ObjectViews } from "./object-view.js";
import { type StreamView, serveStream } from "./stream.js";
import {
  API_PREFIX,
  type KindSummary,
  type LeaseSummary,
  type Overview,
  type ServerInfo,
} from "./types.js";

/**
 * What the dashboard shows, beside the objects; see `ServeOptions.dashboard`.
 *
 * @example
 * ```ts
 * const manager = new Manager({ plane }).add(widgets);
 * const server = await serveKubernetesApi(plane, { dashboard: { manager } });
 * console.log(`${server.url}/ui/`); // the dashboard; its read API is under /setpoint/v1/
 * ```
 */
export interface DashboardOptions {
  /**
   * The manager whose controllers the dashboard shows (queues, keys backing off, reconciles in
   * flight, history) and whose keys "reconcile now" enqueues. @default none: objects, events
   * and Leases only
   */
  readonly manager?: Manager;
  /** Refuse "reconcile now" (403). @default true without a manager, false with one */
  readonly readOnly?: boolean;
}

/** What the dashboard needs of its server. */
export interface DashboardServer {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly crds: CrdRegistry;
  /** What ends each open stream; closing the server calls them all. */
  readonly openWatches: Set<() => void>;
}

/** How long a first overview waits for the counts it starts. */
const COUNTS_WAIT_MS = 5_000;
/** How often one key may be reconciled on request. */
const RECONCILE_NOW_EVERY_MS = 1_000;
/** The most streams open at once. */
const MAX_STREAMS = 256;
/** How long a view computed for one stream serves the others that show it. */
const VIEW_REUSE_MS = 500;

/** The read API of one server; see the module comment. */
export class DashboardApi {
  private readonly counts: KindCounts;
  private readonly objects: ObjectViews;
  /** When each controller's key was last reconciled on request (clock time). */
  private readonly askedAt = new Map<string, number>();
  private openStreams = 0;
  /** Views being computed or just computed, by stream spec: streams of one view share them. */
  private readonly views = new Map<string, { at: number; view: Promise<StreamView> }>();
  /** The plural of each served kind by `group/kind`, rebuilt at most once a second. */
  private plurals: { at: number; byKind: Map<string, string> } | undefined;
  private readonly manager: Manager | undefined;
  private readonly readOnly: boolean;

  constructor(
    private readonly server: DashboardServer,
    options: DashboardOptions,
    signal: AbortSignal,
  ) {
    this.manager = options.manager;
    this.readOnly = options.readOnly ?? options.manager === undefined;
    this.counts = new KindCounts(server.backend, server.clock, signal, this.pluralOf);
    this.objects = new ObjectViews({
      backend: server.backend,
      counts: this.counts,
      manager: this.manager,
      servedKinds: () => this.servedKinds(),
      pluralOf: this.pluralOf,
      info: () => this.info(),
    });
  }

  /** Resolves once the dashboard's watches have stopped (after the server's signal aborts). */
  stopped(): Promise<void> {
    return this.counts.stopped();
  }

  /** Serves a request for a path under {@link API_PREFIX}. */
  async handle(request: RequestContext): Promise<void> {
    const { method, res } = request;
    // Answers hold data a token guards: no cache keeps them.
    res.setHeader("Cache-Control", "no-store");
    const segments = request.pathname
      .slice(API_PREFIX.length + 1)
      .split("/")
      .map((segment) => decodeSegment(segment));
    const [first, name, third, key, action] = segments;
    const get = method === "GET" || method === "HEAD";
    if (first === "overview" && segments.length === 1 && get)
      return send(res, 200, await this.overview(countsWanted(request.query)));
    if (first === "stream" && segments.length === 1 && get) {
      if (this.openStreams >= MAX_STREAMS)
        throw new ApiError("TooManyRequests", `${MAX_STREAMS} streams are open: try again later`, {
          details: { retryAfterSeconds: 5 },
        });
      this.openStreams++;
      let counted = true;
      const closed = () => {
        if (counted) this.openStreams--;
        counted = false;
      };
      try {
        return await serveStream(
          request,
          (spec, query) => this.sharedView(spec, query),
          this.server.clock,
          closed,
        );
      } catch (error) {
        closed();
        throw error;
      }
    }
    if (first === "controllers" && name !== undefined) {
      if (segments.length === 2 && get) return send(res, 200, await this.controller(name));
      if (third === "keys" && key !== undefined) {
        if (segments.length === 4 && get) return send(res, 200, this.key(name, key));
        if (segments.length === 5 && action === "reconcile" && method === "POST")
          return send(res, 202, this.reconcileNow(name, key));
      }
    }
    if (first === "objects" && segments.length === 6 && get) {
      const [, group, version, plural, namespace, objectName] = segments as string[];
      return send(
        res,
        200,
        await this.objects.view(group!, version!, plural!, namespace!, objectName!),
      );
    }
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${method} ${request.pathname})`,
    );
  }

  private info(): ServerInfo {
    const manager = this.manager;
    return {
      mode: manager === undefined ? "serve" : "run",
      readOnly: this.readOnly,
      ...(manager === undefined ? {} : { identity: manager.identity, leading: manager.leading }),
    };
  }

  /**
   * `GET /setpoint/v1/overview`; with `?counts=false`, the kinds' counts only where they are
   * kept already (`counted`), so that a page that needs the list of kinds does not start a
   * watch of every kind.
   */
  async overview(counts = true): Promise<Overview> {
    const served = this.servedKinds();
    // A first look waits (a little) for the counts it starts: a script asks once.
    if (counts)
      await this.counts.synced(
        served.map((s) => s.storage),
        COUNTS_WAIT_MS,
      );
    const now = this.server.clock.wallNow();
    // The CRDs of the modules' kinds are served, not stored: count them too.
    const moduleCrds = this.server.crds.moduleCrds().size;
    const kinds: KindSummary[] = served.map((served) => {
      const known = counts ? this.counts.of(served.storage) : this.counts.peek(served.storage);
      const {
        total = 0,
        notReady = 0,
        terminating = 0,
      } = (known ?? {}) as Partial<Record<"total" | "notReady" | "terminating", number>>;
      const isCrd = served.kind.kind === "CustomResourceDefinition";
      return {
        ...kindRef(served.kind),
        counted: known?.synced ?? false,
        builtin: this.server.crds.isBuiltin(served.kind),
        total: isCrd && known?.synced ? total + moduleCrds : total,
        notReady,
        terminating,
        columns: served.kind.printerColumns.map((column) => column.name),
      };
    });
    return {
      server: this.info(),
      kinds,
      controllers: this.manager === undefined ? [] : controllerSummaries(this.manager, now),
      warnings: this.counts.latestWarnings(Event, 20),
      leases: await this.leases(),
    };
  }

  private async controller(name: string) {
    const manager = this.requireManager(name);
    const detail = controllerDetail(
      manager,
      name,
      await this.leases(),
      this.server.clock.wallNow(),
    );
    if (detail === undefined) throw noController(name);
    return detail;
  }

  private key(name: string, key: string) {
    const view = keyView(this.requireManager(name), name, key);
    if (view === undefined) throw noController(name);
    return view;
  }

  /**
   * Enqueues `key` now (reason `manual`): once a second per key at most (429 beyond), and not
   * again while it is queued or running — a person asks, a loop does not take over.
   */
  private reconcileNow(name: string, key: string) {
    if (this.readOnly)
      throw new ApiError("Forbidden", "this dashboard is read-only: reconcile now is off");
    const manager = this.requireManager(name);
    if (manager.journal(name) === undefined) throw noController(name);
    const runner = liveRunner(manager, name);
    if (runner === undefined)
      throw new ApiError(
        "Conflict",
        `controller ${name} does not run on this replica now (${manager.isRunning && manager.elector !== undefined ? "standing by for the lease" : "stopped"})`,
      );
    const id = `${name}\u0000${key}`;
    const now = this.server.clock.now();
    const last = this.askedAt.get(id);
    if (last !== undefined && now - last < RECONCILE_NOW_EVERY_MS)
      throw new ApiError("TooManyRequests", `${key} was just asked for: once a second at most`, {
        details: { retryAfterSeconds: 1 },
      });
    if (!runner.requestReconcile(key))
      throw new ApiError("NotFound", `controller ${name} knows no key ${key}`);
    if (this.askedAt.size >= 1_024)
      for (const [asked, at] of this.askedAt)
        if (now - at >= RECONCILE_NOW_EVERY_MS) this.askedAt.delete(asked);
    this.askedAt.set(id, now);
    return runner.keyView(key);
  }

  private requireManager(name: string): Manager {
    if (this.manager === undefined) throw noController(name);
    return this.manager;
  }

  /** Every Lease of the store. */
  private async leases(): Promise<LeaseSummary[]> {
    const { items } = await this.server.backend.list(Lease);
    const now = this.server.clock.wallNow();
    return items.map((object) => {
      const spec = (object as { spec?: Record<string, unknown> }).spec ?? {};
      const renew = spec.renewTime as string | undefined;
      const duration = spec.leaseDurationSeconds as number | undefined;
      const live =
        spec.holderIdentity !== undefined &&
        spec.holderIdentity !== "" &&
        renew !== undefined &&
        duration !== undefined &&
        Date.parse(renew) + duration * 1000 >= now;
      return {
        namespace: object.metadata.namespace ?? "",
        name: object.metadata.name,
        ...(spec.holderIdentity ? { holder: String(spec.holderIdentity) } : {}),
        ...(renew === undefined ? {} : { renewTime: renew }),
        ...(spec.acquireTime === undefined ? {} : { acquireTime: String(spec.acquireTime) }),
        ...(duration === undefined ? {} : { leaseDurationSeconds: duration }),
        ...(spec.leaseTransitions === undefined
          ? {}
          : { transitions: Number(spec.leaseTransitions) }),
        live,
      };
    });
  }

  /** The kinds with objects of their own (core v1 Events are a view of events.k8s.io's). */
  private servedKinds(): ServedKind[] {
    return this.server.crds.served().filter((served) => !served.view);
  }

  private readonly pluralOf = (group: string, kind: string): string | undefined => {
    const now = this.server.clock.now();
    if (this.plurals === undefined || now - this.plurals.at >= 1_000) {
      const byKind = new Map<string, string>();
      for (const served of this.servedKinds())
        byKind.set(`${served.kind.group}/${served.kind.kind}`, served.kind.plural);
      this.plurals = { at: now, byKind };
    }
    return this.plurals.byKind.get(`${group}/${kind}`);
  };

  /** The view a stream names, computed once for every stream of it that asks within 500 ms. */
  private sharedView(spec: string, query: URLSearchParams): Promise<StreamView> {
    const id = `${spec}?counts=${countsWanted(query)}`;
    const now = this.server.clock.now();
    const recent = this.views.get(id);
    if (recent !== undefined && now - recent.at < VIEW_REUSE_MS) return recent.view;
    const view = this.view(spec, query).then((made) => ({
      ...made,
      json: JSON.stringify(made.body),
    }));
    this.views.set(id, { at: now, view });
    // Forget views nobody asked for lately (a failed one at once).
    view.catch(() => this.views.delete(id));
    if (this.views.size > 256)
      for (const [other, entry] of this.views)
        if (now - entry.at >= VIEW_REUSE_MS) this.views.delete(other);
    return view;
  }

  /** The view a stream names: `overview`, `controller/{name}` or `key/{name}/{key}`. */
  private async view(spec: string, query: URLSearchParams): Promise<StreamView> {
    const slash = spec.indexOf("/");
    const type = slash < 0 ? spec : spec.slice(0, slash);
    const rest = slash < 0 ? "" : spec.slice(slash + 1);
    switch (type) {
      case "overview":
        if (rest === "") return { type, body: await this.overview(countsWanted(query)) };
        break;
      case "controller":
        if (rest !== "") return { type, body: await this.controller(rest) };
        break;
      case "key": {
        const cut = rest.indexOf("/");
        if (cut > 0)
          return { type, body: this.key(rest.slice(0, cut), decodeSegment(rest.slice(cut + 1))) };
        break;
      }
    }
    throw new ApiError(
      "BadRequest",
      `view "${spec}": expected overview, controller/<name> or key/<name>/<key>`,
    );
  }
}

/** `counts=false` asks for no counting; anything else but `true` (or nothing) is a bad request. */
function countsWanted(query: URLSearchParams): boolean {
  const counts = query.get("counts");
  if (counts === null || counts === "true") return true;
  if (counts === "false") return false;
  throw new ApiError("BadRequest", `counts=${counts}: expected true or false`);
}

function noController(name: string): ApiError {
  return new ApiError("NotFound", `no controller named ${name} runs in this process`);
}

/** A path segment, `%`-decoded; a malformed escape is a bad request. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError("BadRequest", `malformed path segment ${JSON.stringify(segment)}`);
  }
}
