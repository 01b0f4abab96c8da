/**
 * What request handlers read: the server's own state ({@link ServerContext}, one per server),
 * the request ({@link RequestContext}), and, for a resource path, the kind it names
 * ({@link ResourceRequest}).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Backend } from "../../backend/backend.js";
import type { Clock } from "../../model/clock.js";
import type { ObjectKey } from "../../model/resource.js";
import type { NamespaceLifecycle } from "../namespace-lifecycle.js";
import type { CrdRegistry } from "./crd-registry.js";
import type { RecentJson } from "./recent-json.js";
import type { ResourcePath } from "./request-target.js";
import type { ServedKind } from "./served-kind.js";
import type { YamlParser } from "./yaml-parser.js";

/** One server's state and settings, shared by every request it serves. */
export interface ServerContext {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly crds: CrdRegistry;
  readonly namespaces: NamespaceLifecycle;
  /** The store keeps namespaces itself (a Kubernetes API server): the server leaves them to it. */
  readonly keepsNamespaces: boolean;
  readonly yaml: YamlParser;
  readonly maxBodyBytes: number;
  readonly minorVersion: number;
  readonly defaultWatchTimeoutSeconds: number;
  /** A watch whose client reads nothing for this long while it has more to send is closed. */
  readonly watchStallTimeoutMs: number;
  /** Passed to the store's watches; `undefined` for the store's own default. */
  readonly bookmarkIntervalMs: number | undefined;
  /** What ends each open watch; closing the server calls them all. */
  readonly openWatches: Set<() => void>;
  /** Every watcher of a change sends the same JSON: serialize it once. */
  readonly recentJson: RecentJson;
}

/** One request, authenticated, its target read. */
export interface RequestContext {
  readonly server: ServerContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The path exactly as sent (still `%`-encoded). */
  readonly pathname: string;
  readonly query: URLSearchParams;
  readonly accept: string | undefined;
}

/** A request for a resource path, with the kind it names as served. */
export interface ResourceRequest extends RequestContext {
  readonly path: ResourcePath;
  readonly served: ServedKind;
  /** A Namespace, kept by this server's namespace lifecycle (not by the store). */
  readonly isNamespace: boolean;
  /** A CustomResourceDefinition. */
  readonly isCrd: boolean;
  /**
   * The object the path names: MethodNotAllowed without a name, NotFound without a namespace
   * for a namespaced kind.
   */
  key(): ObjectKey;
}
