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
 */
import type { ServerResponse } from "node:http";
import type { Backend, StoredObject } from "../backend/backend.js";
import { Event } from "../controller/events.js";
import type { Manager } from "../controller/manager.js";
import { Lease } from "../coordination/lease.js";
import type { CrdRegistry } from "../kubernetes/apiserver/crd-registry.js";
import type { RequestContext } from "../kubernetes/apiserver/request-context.js";
import { send } from "../kubernetes/apiserver/responses.js";
import type { ServedKind } from "../kubernetes/apiserver/served-kind.js";
import { ApiError } from "../model/api-error.js";
import type { Clock, Timer } from "../model/clock.js";
import { keyString } from "../model/resource.js";
import { controllerDetail, controllerSummaries, keyView, kindRef } from "./controller-views.js";
import { eventSummary, KindCounts, readyStatus } from "./kind-counts.js";
import {
  API_PREFIX,
  type ChildView,
  type ConditionView,
  type KindSummary,
  type LeaseSummary,
  type ObjectRef,
  type ObjectView,
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

/** How often a stream looks for a change of its view. */
export const STREAM_INTERVAL_MS = 1_000;
/** How often a quiet stream sends a comment, so that proxies keep it open. */
const STREAM_HEARTBEAT_MS = 15_000;
/** The most children listed under one object. */
const MAX_CHILDREN = 200;

/** The read API of one server; see the module comment. */
export class DashboardApi {
  private readonly counts: KindCounts;
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
    if (first === "stream" && segments.length === 1 && get) return this.stream(request);
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
      return send(res, 200, await this.object(group!, version!, plural!, namespace!, objectName!));
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

  private refOf(object: StoredObject, served: ServedKind): ObjectRef {
    const { kind } = served;
    return {
      group: kind.group,
      version: kind.version,
      kind: kind.kind,
      plural: kind.plural,
      ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      name: object.metadata.name,
      ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
    };
  }

  /** `GET /setpoint/v1/objects/{group}/{version}/{plural}/{namespace}/{name}`. */
  async object(
    group: string,
    version: string,
    plural: string,
    namespace: string,
    name: string,
  ): Promise<ObjectView> {
    const served = this.servedKinds().find(
      (s) =>
        s.kind.group === (group === "core" ? "" : group) &&
        s.kind.version === version &&
        s.kind.plural === plural,
    );
    if (served === undefined)
      throw new ApiError(
        "NotFound",
        `the server serves no resource ${plural} in ${group}/${version}`,
      );
    const namespaced = served.kind.scope === "Namespaced";
    const stored = await this.server.backend.get(served.storage, {
      ...(namespaced ? { namespace } : {}),
      name,
    });
    const object = served.toServed(stored);
    const metadata = stored.metadata;
    const conditions = conditionsOf(stored);
    const events = (await this.server.backend.list(Event, namespaced ? { namespace } : {})).items
      .filter((event) => {
        const regarding = (event as unknown as { regarding?: Record<string, string> }).regarding;
        return (
          regarding !== undefined &&
          (regarding.uid === metadata.uid ||
            (regarding.uid === undefined &&
              regarding.kind === served.kind.kind &&
              regarding.name === name &&
              (regarding.namespace ?? "") === (metadata.namespace ?? "")))
        );
      })
      .map((event) => eventSummary(event, this.pluralOf))
      .sort((a, b) => b.time - a.time)
      .slice(0, 50);
    const owners: ObjectRef[] = (metadata.ownerReferences ?? []).map((ref) => {
      const slash = ref.apiVersion.indexOf("/");
      const ownerGroup = slash < 0 ? "" : ref.apiVersion.slice(0, slash);
      const ownerPlural = this.pluralOf(ownerGroup, ref.kind);
      const ownerServed = this.servedKinds().find(
        (s) => s.kind.group === ownerGroup && s.kind.kind === ref.kind,
      );
      return {
        group: ownerGroup,
        version: slash < 0 ? ref.apiVersion : ref.apiVersion.slice(slash + 1),
        kind: ref.kind,
        ...(ownerPlural === undefined ? {} : { plural: ownerPlural }),
        ...(metadata.namespace && ownerServed?.kind.scope === "Namespaced"
          ? { namespace: metadata.namespace }
          : {}),
        name: ref.name,
        uid: ref.uid,
      };
    });
    const children = await this.childrenOf(stored, namespaced ? namespace : undefined, 2);
    const key = keyString(metadata);
    const controllers =
      this.manager === undefined
        ? []
        : this.manager.controllerList
            .filter(
              (c) =>
                c.kind !== undefined &&
                c.kind.group === served.kind.group &&
                c.kind.kind === served.kind.kind,
            )
            .map((c) => keyView(this.manager!, c.name, key)!);
    return {
      ref: this.refOf(stored, served),
      object: object as unknown as Record<string, unknown>,
      conditions,
      events,
      owners,
      children,
      controllers,
      server: this.info(),
    };
  }

  /**
   * The objects `owner` owns, `depth` levels down: every kind with objects is listed in the
   * owner's namespace (every namespace for a cluster-scoped owner) and kept if it names the
   * owner's uid.
   */
  private async childrenOf(
    owner: StoredObject,
    namespace: string | undefined,
    depth: number,
  ): Promise<ChildView[]> {
    const uid = owner.metadata.uid;
    if (uid === undefined || depth === 0) return [];
    const children: ChildView[] = [];
    for (const served of this.servedKinds()) {
      const known = this.counts.peek(served.storage);
      if (known?.synced && known.total === 0) continue;
      if (namespace !== undefined && served.kind.scope !== "Namespaced") continue;
      const { items } = await this.server.backend.list(
        served.storage,
        namespace === undefined ? {} : { namespace },
      );
      for (const item of items) {
        if (!item.metadata.ownerReferences?.some((ref) => ref.uid === uid)) continue;
        const ready = readyStatus(item);
        const readyCondition = conditionsOf(item).find((c) => c.type === "Ready");
        children.push({
          ref: this.refOf(item, served),
          ...(ready === "True" || ready === "False" || ready === "Unknown" ? { ready } : {}),
          ...(readyCondition?.reason === undefined ? {} : { reason: readyCondition.reason }),
          ...(readyCondition?.message === undefined ? {} : { message: readyCondition.message }),
          terminating: item.metadata.deletionTimestamp !== undefined,
          children: await this.childrenOf(item, item.metadata.namespace ?? namespace, depth - 1),
        });
        if (children.length >= MAX_CHILDREN) return children;
      }
    }
    return children;
  }

  /** The view a stream names: `overview`, `controller/{name}` or `key/{name}/{key}`. */
  private async view(
    spec: string,
    query: URLSearchParams,
  ): Promise<{ type: string; body: unknown }> {
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

  /**
   * `GET /setpoint/v1/stream?view=…`: Server-Sent Events. The view's answer at once, then
   * whenever it changes (looked at every {@link STREAM_INTERVAL_MS}); an error ends the stream
   * with an `error` event holding a Kubernetes Status.
   */
  private async stream(request: RequestContext): Promise<void> {
    const { res, query, server } = request;
    const spec = query.get("view") ?? "overview";
    // Refuse a bad view before the stream begins, as a plain error.
    const first = await this.view(spec, query);
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "X-Accel-Buffering": "no",
    });
    let last = "";
    let quietSince = this.server.clock.now();
    let timer: Timer | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      timer?.cancel();
      server.openWatches.delete(close);
      res.end();
    };
    server.openWatches.add(close);
    res.once("close", close);
    const write = (view: { type: string; body: unknown }) => {
      // `now` changes every time: it alone is no change.
      const body = view.body as { server?: ServerInfo };
      const comparable = JSON.stringify(
        body.server === undefined ? body : { ...body, server: { ...body.server, now: 0 } },
      );
      const clock = this.server.clock;
      if (comparable !== last) {
        last = comparable;
        quietSince = clock.now();
        res.write(`event: ${view.type}\ndata: ${JSON.stringify(view.body)}\n\n`);
      } else if (clock.now() - quietSince >= STREAM_HEARTBEAT_MS) {
        quietSince = clock.now();
        res.write(": still here\n\n");
      }
    };
    const tick = async () => {
      if (closed) return;
      try {
        // A client that does not read gets no more than one view at a time.
        if (!res.writableNeedDrain) write(await this.view(spec, query));
      } catch (error) {
        const status = ApiError.is(error)
          ? { code: error.code, reason: error.reason, message: error.message }
          : { code: 500, reason: "InternalError", message: String(error) };
        res.write(`event: error\ndata: ${JSON.stringify(status)}\n\n`);
        close();
        return;
      }
      if (!closed) timer = this.server.clock.setTimer(STREAM_INTERVAL_MS, () => void tick());
    };
    write(first);
    timer = this.server.clock.setTimer(STREAM_INTERVAL_MS, () => void tick());
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

/** An object's conditions, as the dashboard shows them. */
function conditionsOf(object: StoredObject): ConditionView[] {
  const status = (object as { status?: { conditions?: unknown } }).status;
  if (!Array.isArray(status?.conditions)) return [];
  return (status.conditions as Record<string, unknown>[])
    .filter((c) => typeof c?.type === "string")
    .map((c) => ({
      type: String(c.type),
      status: String(c.status ?? "Unknown"),
      ...(typeof c.reason === "string" ? { reason: c.reason } : {}),
      ...(typeof c.message === "string" ? { message: c.message } : {}),
      ...(typeof c.lastTransitionTime === "string"
        ? { lastTransitionTime: c.lastTransitionTime }
        : {}),
      ...(typeof c.observedGeneration === "number"
        ? { observedGeneration: c.observedGeneration }
        : {}),
    }));
}

/** Sends a dashboard page or asset: `/ui` goes to `/ui/`; unknown files are 404. */
export async function serveDashboardAsset(res: ServerResponse, pathname: string): Promise<void> {
  if (pathname === "/ui") {
    res.writeHead(301, { Location: "/ui/" }).end();
    return;
  }
  const { dashboardAssets } = await import("./assets.js");
  const assets = await dashboardAssets();
  const file = pathname.slice("/ui/".length);
  const asset = assets.get(file === "" ? "index.html" : file);
  if (asset === undefined) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end("no such file");
    return;
  }
  res.writeHead(200, {
    "Content-Type": asset.contentType,
    "Content-Length": asset.body.length,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy":
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
  });
  res.end(asset.body);
}
