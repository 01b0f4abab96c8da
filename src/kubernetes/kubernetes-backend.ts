/**
 * The Kubernetes backend: the Backend contract over a real cluster's REST API (or `setpoint
 * serve`), so that the same controllers run against Kubernetes.
 *
 * Configuration and authentication come from @kubernetes/client-node's `KubeConfig` (kubeconfig
 * files, in-cluster service accounts, exec plugins), loaded lazily so that importing setpoint
 * never needs it. Requests and the watch loop are setpoint's own:
 * - a watch asks for bookmarks, with `timeoutSeconds` randomised between 5 and 10 minutes, and
 *   resumes from its last revision when the server ends the stream;
 * - 429 and 5xx answers (and dropped connections) are retried with jittered backoff from 0.8 s
 *   to 30 s, honouring `Retry-After`, without relisting; a silent stream is restarted after
 *   the idle timeout;
 * - a 410 ends the watch with `Expired`, and a 504 "Too large resource version" with that error,
 *   so that its informer relists;
 * - requests share one keep-alive agent; a list with `readAhead` asks for its next page early;
 * - writes made while a watch of this backend is asking for its starting revision wait for it,
 *   so that a watch never misses a write its caller made after starting it.
 * `metadata.managedFields` is dropped from every object handed out (it can be as large as the
 * rest of the object, and caches hold many); field ownership still works on the server.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import type {
  Backend,
  BackendCapabilities,
  DeleteOptions,
  ListOptions,
  ObjectList,
  Patch,
  PatchOptions,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from "../backend/backend.js";
import { WatchChannel } from "../backend/watch-channel.js";
import { JitteredBackoff } from "../cache/backoff.js";
import { ApiError, type StatusReason, statusCodes } from "../model/api-error.js";
import { type Clock, sleep, systemClock, type Timer } from "../model/clock.js";
import type { AnyKind } from "../model/kind.js";
import { deepFreeze, type Frozen, type ObjectKey, type ResourceInput } from "../model/resource.js";
import { type FieldSelector, LabelSelector, toLabelSelector } from "../model/selector.js";
import { checkPathSegmentName } from "./path-segment.js";

/** Options of {@link connectKubernetes}. */
export interface KubernetesOptions {
  /** A kubeconfig file. @default $KUBECONFIG, ~/.kube/config, or the in-cluster service account */
  readonly kubeconfig?: string;
  /** The context to use. @default the kubeconfig's current context */
  readonly context?: string;
  /**
   * A watch that says nothing (not even a bookmark) for this long is restarted — checked every
   * half of it, so a silent stream is dropped within one and a half times this. @default 330_000
   */
  readonly idleTimeoutMs?: number;
  /**
   * The time source of the backend's timers — the watch's backoff and idle checks, the
   * expiry of pages read ahead — and of the jitter of watch timeouts. @default systemClock
   */
  readonly clock?: Clock;
}

interface KubeConfigLike {
  loadFromFile(file: string): void;
  loadFromDefault(): void;
  setCurrentContext(context: string): void;
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

const reasons = new Set(Object.keys(statusCodes));

/** The ApiError a Kubernetes `Status` (or a bare HTTP status) stands for. */
function errorOf(code: number, body: string, headers: IncomingMessage["headers"]): ApiError {
  let status: {
    reason?: string;
    message?: string;
    details?: Record<string, unknown>;
    code?: number;
  } = {};
  try {
    status = JSON.parse(body);
  } catch {}
  const fallback: StatusReason =
    code === 404
      ? "NotFound"
      : code === 409
        ? "Conflict"
        : code === 410
          ? "Expired"
          : code === 422
            ? "Invalid"
            : code === 429
              ? "TooManyRequests"
              : code >= 500
                ? "InternalError"
                : "BadRequest";
  const reason =
    status.reason !== undefined && reasons.has(status.reason)
      ? (status.reason as StatusReason)
      : fallback;
  const retryAfter = Number(headers["retry-after"]);
  const details = {
    ...(status.details ?? {}),
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
  };
  return new ApiError(reason, status.message ?? `the server answered ${code}`, { code, details });
}

/**
 * Whether a watch that failed with `error` is tried again (after a backoff) rather than ended:
 * 429 and 5xx are, but not 504 "Too large resource version" — the server's revisions began
 * again (a restarted store), and only a relist can go on, as after a 410.
 */
function isTransient(error: ApiError): boolean {
  return (error.code === 429 || error.code >= 500) && !ApiError.isTooLargeResourceVersion(error);
}

function clean(object: Record<string, unknown>, kind: AnyKind): StoredObject {
  // The object is fresh from JSON.parse and ours alone: change it only where needed, since every
  // copy costs time and memory in a cache of many objects.
  const metadata = object.metadata as Record<string, unknown>;
  if (metadata.managedFields !== undefined || metadata.selfLink !== undefined) {
    const { managedFields: _managed, selfLink: _self, ...rest } = metadata;
    object.metadata = rest;
  }
  if (object.apiVersion === undefined) object.apiVersion = kind.apiVersion;
  if (object.kind === undefined) object.kind = kind.kind;
  return deepFreeze(object) as unknown as StoredObject;
}

function labelSelectorString(selector: ListOptions["labelSelector"]): string | undefined {
  if (selector === undefined) return undefined;
  if (typeof selector === "string") return selector;
  return (selector instanceof LabelSelector ? selector : toLabelSelector(selector)).toString();
}

function fieldSelectorString(selector: string | FieldSelector | undefined): string | undefined {
  return selector === undefined ? undefined : selector.toString();
}

/** The media type each patch format is sent as. */
const patchContentTypes: Record<Patch["type"], string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/**
 * A Backend for the cluster a kubeconfig names. @kubernetes/client-node (1.4 or 2.x) must be
 * installed.
 *
 * @example
 * ```ts
 * const plane = createControlPlane({ backend: await connectKubernetes({ kubeconfig: "./kubeconfig" }) });
 * ```
 */
export async function connectKubernetes(options: KubernetesOptions = {}): Promise<Backend> {
  let KubeConfig: new () => KubeConfigLike;
  try {
    ({ KubeConfig } = (await import("@kubernetes/client-node")) as unknown as {
      KubeConfig: new () => KubeConfigLike;
    });
  } catch (err) {
    throw new Error(
      `connectKubernetes needs @kubernetes/client-node: npm install @kubernetes/client-node@~1.4 (${(err as Error).message})`,
    );
  }
  const config = new KubeConfig();
  if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  if (options.context !== undefined) config.setCurrentContext(options.context);
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error("connectKubernetes: the kubeconfig has no current cluster");
  return new KubernetesBackend(config, new URL(cluster.server), {
    idleTimeoutMs: options.idleTimeoutMs ?? 330_000,
    clock: options.clock ?? systemClock,
  });
}

class KubernetesBackend implements Backend {
  readonly capabilities: BackendCapabilities = {
    name: "kubernetes",
    durable: true,
    keepsNamespaces: true,
  };
  private readonly open = new Set<AbortController>();
  /** Next pages of lists, asked for ahead (see `page`). */
  private readonly ahead = new Map<
    string,
    { readonly page: Promise<Record<string, unknown>>; readonly expiry: Timer }
  >();
  /** Watches still asking for their starting revision. */
  private readonly starting = new Set<Promise<unknown>>();
  private agent: { readonly key: string; readonly agent: HttpAgent } | undefined;

  private readonly idleTimeoutMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly config: KubeConfigLike,
    private readonly server: URL,
    options: { readonly idleTimeoutMs: number; readonly clock: Clock },
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.clock = options.clock;
  }

  private path(
    kind: AnyKind,
    namespace: string | undefined,
    name?: string,
    subresource?: string,
  ): string {
    const base = kind.group === "" ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
    // A name of `..` would take the request elsewhere (the URL resolves it): refused, as
    // client-go refuses it.
    const ns =
      kind.scope === "Namespaced" && namespace !== undefined
        ? `/namespaces/${encodeURIComponent(checkPathSegmentName("namespace", namespace))}`
        : "";
    return `${base}${ns}/${kind.plural}${name === undefined ? "" : `/${encodeURIComponent(checkPathSegmentName("name", name))}`}${subresource === undefined ? "" : `/${subresource}`}`;
  }

  /** Sends one request; resolves with the response, whose body the caller reads. */
  private async send(
    method: string,
    path: string,
    query: Record<string, string | undefined>,
    body: unknown,
    contentType: string,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(this.server.href.replace(/\/$/, "") + path);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined && value !== "") url.searchParams.set(key, value);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: RequestOptions = {
      method,
      headers: {
        accept: "application/json",
        ...(payload === undefined
          ? {}
          : { "content-type": contentType, "content-length": String(Buffer.byteLength(payload)) }),
      },
    };
    await this.config.applyToHTTPSOptions(options);
    options.agent = this.reuse(options.agent);
    return new Promise((resolve, reject) => {
      const request = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = request(url, { ...options, ...(signal ? { signal } : {}) }, resolve);
      req.on("error", (err) => {
        if (signal?.aborted) reject(signal.reason ?? err);
        else
          reject(
            new ApiError(
              "ServiceUnavailable",
              `cannot reach ${this.server.origin}: ${err.message}`,
              { cause: err },
            ),
          );
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private async call(
    method: string,
    path: string,
    query: Record<string, string | undefined>,
    body?: unknown,
    contentType = "application/json",
    peek?: (start: string) => boolean,
  ): Promise<Record<string, unknown>> {
    // A write sent after watch() returned must land after that watch's starting revision, or
    // the watch could miss it: writes wait while a watch is still asking for its revision.
    if (method !== "GET" && this.starting.size > 0) await Promise.all(this.starting);
    const response = await this.send(method, path, query, body, contentType);
    const text = await readBody(response, peek);
    const code = response.statusCode ?? 0;
    if (code < 200 || code >= 300) throw errorOf(code, text, response.headers);
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(
        "InternalError",
        `the server sent a body that is not JSON (${method} ${path})`,
      );
    }
  }

  async get(kind: AnyKind, key: ObjectKey): Promise<StoredObject> {
    return clean(await this.call("GET", this.path(kind, key.namespace, key.name), {}), kind);
  }

  async list(kind: AnyKind, options: ListOptions = {}): Promise<ObjectList> {
    const path = this.path(kind, options.namespace);
    const query = {
      labelSelector: labelSelectorString(options.labelSelector),
      fieldSelector: fieldSelectorString(options.fieldSelector),
      limit: options.limit === undefined || options.limit === 0 ? undefined : String(options.limit),
      // A read at a revision is the API server's to answer (its watch cache or etcd).
      resourceVersion: options.resourceVersion || undefined,
      resourceVersionMatch: options.resourceVersion ? options.resourceVersionMatch : undefined,
    };
    const body = await this.page(path, query, options.continue, options.readAhead === true);
    const metadata = (body.metadata ?? {}) as { resourceVersion?: string; continue?: string };
    const items = ((body.items ?? []) as Record<string, unknown>[]).map((item) =>
      clean(item, kind),
    );
    return {
      items,
      resourceVersion: metadata.resourceVersion ?? "",
      ...(metadata.continue ? { continue: metadata.continue } : {}),
    };
  }

  /**
   * One page of a list. With `readAhead`: paginated lists are latency-bound — the server builds a page while the
   * client waits, then the client parses while the server waits — so the next page is asked for
   * as soon as this one's `continue` token arrives (Kubernetes sends list metadata before the
   * items), and is handed over when the caller asks for it. A page not asked for within a
   * minute is dropped.
   */
  private page(
    path: string,
    query: Record<string, string | undefined>,
    token: string | undefined,
    readAhead: boolean,
  ): Promise<Record<string, unknown>> {
    const key = (t: string | undefined) => `${path}?${JSON.stringify(query)}&${t ?? ""}`;
    const ahead = this.ahead.get(key(token));
    if (ahead !== undefined) {
      this.ahead.delete(key(token));
      ahead.expiry.cancel();
      return ahead.page;
    }
    // A later page's token carries the list's revision: the API server refuses both.
    const sent =
      token === undefined
        ? query
        : {
            ...query,
            continue: token,
            resourceVersion: undefined,
            resourceVersionMatch: undefined,
          };
    if (!readAhead) return this.call("GET", path, sent);
    return this.call("GET", path, sent, undefined, undefined, (start) => {
      const items = start.indexOf('"items"');
      const next = continuePattern.exec(items < 0 ? start : start.slice(0, items))?.[1];
      if (next === undefined) return items >= 0;
      const page = this.page(path, query, next, true);
      // Settled either way (the caller that asks for it sees a failure): never unhandled.
      page.catch(() => undefined);
      const expiry = this.clock.setTimer(60_000, () => this.ahead.delete(key(next)));
      this.ahead.set(key(next), { page, expiry });
      return true;
    });
  }

  watch(kind: AnyKind, options: WatchOptions = {}): Watch {
    const controller = new AbortController();
    const signal =
      options.signal === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, options.signal]);
    this.open.add(controller);
    // "From now on" is the revision when watch() was called: ask for it at once, not when the
    // consumer first reads (one round trip is the best a remote store allows); this backend's
    // own writes wait for the answer (see `call`).
    let from: Promise<string>;
    if (options.resourceVersion === undefined || options.resourceVersion === "") {
      from = this.list(kind, {
        ...(options.namespace ? { namespace: options.namespace } : {}),
        limit: 1,
      }).then((l) => l.resourceVersion);
      // Settles either way (the watch itself reports a failure): never an unhandled rejection.
      const starting: Promise<unknown> = from
        .catch(() => undefined)
        .finally(() => this.starting.delete(starting));
      this.starting.add(starting);
    } else from = Promise.resolve(options.resourceVersion);
    const watch = new WatchChannel({
      onEnd: () => {
        controller.abort();
        this.open.delete(controller);
      },
      signal,
    });
    void this.stream(kind, options, signal, from, watch).then(
      () => watch.end(),
      (err) => watch.fail(err),
    );
    return watch;
  }

  /**
   * The watch loop: parse each stream's lines straight into `sink` (no promise per event),
   * reconnect from the last revision when a stream ends or goes quiet, back off on transient
   * errors; a 410 (or any other error) ends it with that error.
   */
  private async stream(
    kind: AnyKind,
    options: WatchOptions,
    signal: AbortSignal,
    from: Promise<string>,
    sink: WatchChannel,
  ): Promise<void> {
    // Never watch without a revision: Kubernetes would start with synthetic ADDED events.
    let resourceVersion = await from;
    const clock = this.clock;
    const backoff = new JitteredBackoff({ clock });
    while (!signal.aborted) {
      const timeoutSeconds = 300 + Math.floor((clock.random?.() ?? Math.random()) * 300);
      const attempt = new AbortController();
      const attemptSignal = AbortSignal.any([signal, attempt.signal]);
      let response: IncomingMessage;
      try {
        response = await this.send(
          "GET",
          this.path(kind, options.namespace),
          {
            watch: "true",
            resourceVersion,
            allowWatchBookmarks: options.allowBookmarks ? "true" : undefined,
            timeoutSeconds: String(timeoutSeconds),
            labelSelector: labelSelectorString(options.labelSelector),
            fieldSelector: fieldSelectorString(options.fieldSelector),
          },
          undefined,
          "application/json",
          attemptSignal,
        );
      } catch {
        if (signal.aborted) return;
        await sleep(clock, backoff.next(), signal);
        continue;
      }
      const code = response.statusCode ?? 0;
      if (code !== 200) {
        const text = await readBody(response);
        const error = errorOf(code, text, response.headers);
        // 429 and 5xx are tried again, after the wait the server asks for if it says one;
        // anything else (410, 504 "Too large resource version") ends the watch.
        if (isTransient(error)) {
          await sleep(
            clock,
            error.details?.retryAfterSeconds !== undefined
              ? error.details.retryAfterSeconds * 1000
              : backoff.next(),
            signal,
          );
          continue;
        }
        throw error;
      }
      const failure = await new Promise<ApiError | undefined>((resolve) => {
        // A stream silent past the idle timeout is dropped and resumed. One timer per stream,
        // checked every half timeout: chunks only raise a flag, so a silent stream is dropped
        // between one and one and a half timeouts after it last said something.
        let heard = false;
        let quietChecks = 0;
        let buffer = "";
        let settled = false;
        const check = () => {
          if (settled) return;
          // Armed again before the abort, which may finish the stream (and cancel it) at once.
          idle = clock.setTimer(this.idleTimeoutMs / 2, check);
          if (heard) quietChecks = 0;
          else if (++quietChecks >= 2) attempt.abort();
          heard = false;
        };
        let idle = clock.setTimer(this.idleTimeoutMs / 2, check);
        const finish = (error: ApiError | undefined) => {
          if (settled) return;
          settled = true;
          idle.cancel();
          response.destroy();
          resolve(error);
        };
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          heard = true;

          buffer += chunk;
          let start = 0;
          let newline = buffer.indexOf("\n");
          while (newline >= 0) {
            const line = buffer.slice(start, newline);
            start = newline + 1;
            newline = buffer.indexOf("\n", start);
            if (line.trim() === "") continue;
            const event = JSON.parse(line) as { type: string; object: Record<string, unknown> };
            if (event.type === "ERROR") {
              finish(
                errorOf(
                  (event.object as { code?: number }).code ?? 500,
                  JSON.stringify(event.object),
                  {},
                ),
              );
              return;
            }
            const metadata = event.object.metadata as { resourceVersion?: string } | undefined;
            if (metadata?.resourceVersion) resourceVersion = metadata.resourceVersion;
            if (event.type === "BOOKMARK") {
              if (options.allowBookmarks)
                sink.push({ type: "BOOKMARK", resourceVersion: resourceVersion! });
            } else if (
              event.type === "ADDED" ||
              event.type === "MODIFIED" ||
              event.type === "DELETED"
            ) {
              // The parsed line is ours alone: it becomes the event as it is.
              event.object = clean(event.object, kind);
              sink.push(event as WatchEvent);
            }
          }
          buffer = buffer.slice(start);
          // Backpressure: a consumer far behind pauses the stream until it catches up.
          if (sink.backlog > 10_000) {
            response.pause();
            sink.onDrained(() => response.resume());
          }
        });
        response.once("end", () => finish(undefined));
        response.once("error", () => finish(undefined));
        response.once("close", () => finish(undefined));
      });
      if (signal.aborted) return;
      if (failure !== undefined) {
        if (isTransient(failure)) {
          await sleep(clock, backoff.next(), signal);
          continue;
        }
        throw failure;
      }
      // The stream ended or went quiet: resume from the last revision.
    }
  }

  create(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options: WriteOptions = {},
  ): Promise<StoredObject> {
    return this.write("POST", kind, object, undefined, options);
  }

  update(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options: WriteOptions = {},
  ): Promise<StoredObject> {
    return this.write("PUT", kind, object, object.metadata.name, options);
  }

  updateStatus(
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    options: WriteOptions = {},
  ): Promise<StoredObject> {
    return this.write("PUT", kind, object, object.metadata.name, options, "status");
  }

  /** A create (POST to the collection) or a replace (PUT to the object or its status). */
  private async write(
    method: "POST" | "PUT",
    kind: AnyKind,
    object: Frozen<ResourceInput>,
    name: string | undefined,
    options: WriteOptions,
    subresource?: "status",
  ): Promise<StoredObject> {
    const body = {
      ...object,
      apiVersion: object.apiVersion ?? kind.apiVersion,
      kind: object.kind ?? kind.kind,
    };
    const path = this.path(kind, object.metadata.namespace, name, subresource);
    const query = {
      dryRun: options.dryRun ? "All" : undefined,
      fieldManager: options.fieldManager,
    };
    return clean(await this.call(method, path, query, body), kind);
  }

  async patch(
    kind: AnyKind,
    key: ObjectKey,
    patch: Patch,
    options: PatchOptions = {},
  ): Promise<StoredObject> {
    const contentType = patchContentTypes[patch.type];
    const body =
      patch.type === "apply"
        ? { apiVersion: kind.apiVersion, kind: kind.kind, ...patch.patch }
        : patch.patch;
    const query = {
      dryRun: options.dryRun ? "All" : undefined,
      fieldManager:
        patch.type === "apply" ? (patch.fieldManager ?? "setpoint") : options.fieldManager,
      // As kubectl: force=false unless the apply takes fields over (--force-conflicts).
      force: patch.type === "apply" ? String(patch.force === true) : undefined,
    };
    return clean(
      await this.call(
        "PATCH",
        this.path(kind, key.namespace, key.name, options.subresource),
        query,
        body,
        contentType,
      ),
      kind,
    );
  }

  async delete(kind: AnyKind, key: ObjectKey, options: DeleteOptions = {}): Promise<StoredObject> {
    const body = {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Background",
      ...(options.preconditions ? { preconditions: options.preconditions } : {}),
    };
    const result = await this.call(
      "DELETE",
      this.path(kind, key.namespace, key.name),
      { dryRun: options.dryRun ? "All" : undefined },
      body,
    );
    if (result.kind === "Status") {
      const details = (result.details ?? {}) as { name?: string; uid?: string };
      return deepFreeze({
        apiVersion: kind.apiVersion,
        kind: kind.kind,
        metadata: {
          name: details.name ?? key.name,
          namespace: key.namespace,
          uid: details.uid ?? "",
          resourceVersion: "",
          generation: 0,
          creationTimestamp: "",
        },
        spec: {},
      }) as StoredObject;
    }
    return clean(result, kind);
  }

  async close(): Promise<void> {
    for (const controller of this.open) controller.abort();
    this.open.clear();
    this.agent?.agent.destroy();
    this.agent = undefined;
    for (const { expiry } of this.ahead.values()) expiry.cancel();
    this.ahead.clear();
  }

  /**
   * client-node builds a new agent for every request, so each would open (and, over TLS,
   * handshake) a connection of its own. Requests share one keep-alive agent instead, replaced
   * when the TLS settings it was made with change (rotated client certificates). Proxy agents
   * are used as given.
   */
  private reuse(given: RequestOptions["agent"]): RequestOptions["agent"] {
    if (
      given === undefined ||
      given === false ||
      (given.constructor !== HttpAgent && given.constructor !== HttpsAgent)
    )
      return given;
    const settings = (given as HttpAgent & { options: Record<string, unknown> }).options;
    const key = tlsSettingKeys.map((name) => String(settings[name] ?? "")).join("\0");
    if (this.agent?.key !== key || this.agent.agent.constructor !== given.constructor) {
      this.agent?.agent.destroy();
      const Constructor = given.constructor as typeof HttpAgent;
      this.agent = { key, agent: new Constructor({ ...settings, keepAlive: true }) };
    }
    return this.agent.agent;
  }
}

/** The agent settings client-node derives from a kubeconfig; a keep-alive agent is reused while they stay the same. */
const tlsSettingKeys = [
  "ca",
  "cert",
  "key",
  "pfx",
  "passphrase",
  "rejectUnauthorized",
  "servername",
] as const;

/** A list's `continue` token in the metadata that precedes its items. */
const continuePattern = /"continue":"([^"\\]+)"/;

/** A whole response body as UTF-8 (the stream's decoder keeps characters split between chunks whole). */
function readBody(response: IncomingMessage, peek?: (start: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    let peeking = peek !== undefined;
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      text += chunk;
      if (peeking) peeking = !peek!(text) && text.length < 4096;
    });
    response.once("end", () => {
      // A keep-alive socket can outlive the response and its listeners: keep no page alive.
      const body = text;
      text = "";
      resolve(body);
    });
    response.once("error", reject);
    response.once("close", () => {
      if (!response.complete)
        reject(new ApiError("ServiceUnavailable", "the connection closed mid-response"));
    });
  });
}
