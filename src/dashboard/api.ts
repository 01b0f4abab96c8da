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
import { controllerDetail, controllerSummaries, keyView, kindRef } from "./controller-views.js";
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

/** The read API of one server; see the module comment. */
export class DashboardApi {
  private readonly counts: KindCounts;
  private readonly objects: ObjectViews;
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
    const segments = request.pathname
      .slice(API_PREFIX.length + 1)
      .split("/")
      .map((segment) => decodeSegment(segment));
    const [first, name, third, key, action] = segments;
    const get = method === "GET" || method === "HEAD";
    if (first === "overview" && segments.length === 1 && get)
      return send(res, 200, await this.overview(countsWanted(request.query)));
    if (first === "stream" && segments.length === 1 && get)
      return serveStream(request, (spec, query) => this.view(spec, query), this.server.clock);
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
      now: this.server.clock.wallNow(),
    };
  }

  /**
   * `GET /setpoint/v1/overview`; with `?counts=false`, the kinds' counts only where they are
   * kept already (`counted`), so that a page that needs the list of kinds does not start a
   * watch of every kind.
   */
  async overview(counts = true): Promise<Overview> {
    const now = this.server.clock.wallNow();
    const kinds: KindSummary[] = this.servedKinds().map((served) => {
      const known = counts ? this.counts.of(served.storage) : this.counts.peek(served.storage);
      const {
        total = 0,
        notReady = 0,
        terminating = 0,
      } = (known ?? {}) as Partial<Record<"total" | "notReady" | "terminating", number>>;
      return {
        ...kindRef(served.kind),
        counted: known?.synced ?? false,
        total,
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

  private reconcileNow(name: string, key: string) {
    if (this.readOnly)
      throw new ApiError("Forbidden", "this dashboard is read-only: reconcile now is off");
    const manager = this.requireManager(name);
    const runner = manager.runner(name);
    if (manager.journal(name) === undefined) throw noController(name);
    if (runner === undefined)
      throw new ApiError(
        "Conflict",
        `controller ${name} does not run on this replica now (${manager.elector !== undefined && !manager.leading ? "standing by for the lease" : "stopped"})`,
      );
    if (!runner.requestReconcile(key))
      throw new ApiError("NotFound", `controller ${name} knows no key ${key}`);
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

  private readonly pluralOf = (group: string, kind: string): string | undefined =>
    this.server.crds.served().find((s) => s.kind.group === group && s.kind.kind === kind && !s.view)
      ?.kind.plural;

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
