/**
 * The dashboard's read API: the shapes of its JSON answers, shared by the server (api.ts) and
 * the browser app (app/). Everything here is plain data: times are epoch milliseconds, durations
 * milliseconds.
 *
 * Paths (all under {@link API_PREFIX}, with the Kubernetes API's security: the bearer token when
 * the server has one, TLS when configured):
 *
 * | Method and path                                         | Answer                  |
 * | ------------------------------------------------------- | ----------------------- |
 * | `GET  /setpoint/v1/overview[?counts=false]`              | {@link Overview}        |
 * | `GET  /setpoint/v1/controllers/{name}`                  | {@link ControllerDetail}|
 * | `GET  /setpoint/v1/controllers/{name}/keys/{key}`       | {@link KeyView}         |
 * | `POST /setpoint/v1/controllers/{name}/keys/{key}/reconcile` | 202 {@link KeyView}; 403 read-only |
 * | `GET  /setpoint/v1/objects/{group}/{version}/{plural}/{namespace}/{name}` | {@link ObjectView} |
 * | `GET  /setpoint/v1/stream?view=…`                       | Server-Sent Events      |
 *
 * `{key}` is the key URL-encoded as one segment (`default%2Fweb`); `{group}` is `core` for the
 * core group and `{namespace}` is `-` for a cluster-scoped object. The stream sends the answer of
 * the view it names — `overview`, `controller/{name}` or `key/{name}/{key}` — as an event of that
 * type at once and then whenever it changes (looked at every second; the rate charts move every
 * 5 s), plus a comment every 15 s to keep proxies from closing it. At most 256 streams are open
 * at once (429 beyond); streams of one view share its computation. Reconcile now is taken once a
 * second per key (429 beyond); a key already waiting for a worker stays as it is.
 */

/** Where the read API is served. */
export const API_PREFIX = "/setpoint/v1";
/** Where the dashboard's pages are served. */
export const UI_PREFIX = "/ui/";

/** A kind as the dashboard names it. */
export interface KindRef {
  /** `""` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** One kind's objects, counted. */
export interface KindSummary extends KindRef {
  /**
   * Whether the counts are kept (a watch of the kind runs and has listed it); without, they are
   * 0. `overview?counts=false` starts no count, and counts nobody asks for stop after a minute.
   */
  readonly counted: boolean;
  /**
   * One of Kubernetes' own kinds (ConfigMap, Deployment, Namespace, CRDs…) rather than a kind
   * of the plane's modules or a CRD's: a dashboard may fold these away while they are empty.
   */
  readonly builtin: boolean;
  readonly total: number;
  /** Objects with a `Ready` condition whose status is not `True`. */
  readonly notReady: number;
  /** Objects with a deletionTimestamp. */
  readonly terminating: number;
  /** The kind's printer columns, as its Table shows them. */
  readonly columns: readonly string[];
}

/**
 * Whether a controller runs here: `running` (its workers run), `standby` (waiting for the Lease:
 * another replica leads), `sharded` (running the shards it holds), `stopped`.
 */
export type ControllerState = "running" | "standby" | "sharded" | "stopped";

/** A rate over the last minutes: one count per bucket, oldest first. */
export interface Series {
  /** The width of one bucket. */
  readonly bucketMs: number;
  /** When the last (newest, still filling) bucket began. */
  readonly end: number;
  readonly counts: readonly number[];
}

/** One controller at a glance. */
export interface ControllerSummary {
  readonly name: string;
  /** The kind it reconciles; absent for a controller on sources alone. */
  readonly kind?: KindRef;
  readonly state: ControllerState;
  /** With sharding: the shards this replica holds, of how many. */
  readonly shards?: { readonly held: readonly number[]; readonly count: number };
  /** Keys waiting to be handed to a worker. */
  readonly queued: number;
  /** Reconciles running now (abandoned ones included). */
  readonly inFlight: number;
  /** Keys scheduled to retry after an error. */
  readonly backingOff: number;
  /** Keys scheduled for later (retries, requeues, debounces). */
  readonly scheduled: number;
  readonly workers: number;
  /** Reconciles ended, per bucket. */
  readonly reconciles: Series;
  /** Reconciles that ended in an error, per bucket. */
  readonly errors: Series;
  /** Reconcile time over the last 1,024 reconciles; absent before the first. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly totalReconciles: number;
  readonly totalErrors: number;
}

/** An event, as the dashboard lists it. */
export interface EventSummary {
  readonly type: string;
  readonly reason: string;
  readonly note: string;
  /** The object it is about. */
  readonly regarding?: ObjectRef;
  readonly count: number;
  /** When it last happened. */
  readonly time: number;
  readonly reportingController?: string;
}

/** `GET /setpoint/v1/overview`. */
export interface Overview {
  readonly server: ServerInfo;
  readonly kinds: readonly KindSummary[];
  readonly controllers: readonly ControllerSummary[];
  /** The latest Warning events, newest first (at most 20). */
  readonly warnings: readonly EventSummary[];
  readonly leases: readonly LeaseSummary[];
}

/** What serves the dashboard. */
export interface ServerInfo {
  /** `run`: a process running controllers; `serve`: a control plane alone. */
  readonly mode: "run" | "serve";
  /** Whether "reconcile now" is refused. */
  readonly readOnly: boolean;
  /** This replica's identity, when it runs controllers. */
  readonly identity?: string;
  /** Whether this replica leads (leader election), when it runs controllers. */
  readonly leading?: boolean;
}

/** A Lease of the store: leader election and shards. */
export interface LeaseSummary {
  readonly namespace: string;
  readonly name: string;
  readonly holder?: string;
  readonly renewTime?: string;
  readonly acquireTime?: string;
  readonly leaseDurationSeconds?: number;
  readonly transitions?: number;
  /** Whether the holder renewed it within its duration. */
  readonly live: boolean;
}

/** One reconcile that ended. */
export interface ReconcileRecord {
  readonly key: string;
  readonly started: number;
  readonly ms: number;
  /** The uid of the object reconciled (a controller of a kind): a recreated object's history starts anew. */
  readonly uid?: string;
  /** `success`, `error`, `requeue` or `requeue_after`: the `result` label of the reconcile metrics. */
  readonly result: string;
  /** Why it ran: added, changed, owned, requeue, retry, resync, manual… */
  readonly reason: string;
  /** The error's message, when it failed. */
  readonly error?: string;
}

/** A key scheduled to retry after errors. */
export interface BackoffEntry {
  readonly key: string;
  /** Failures in a row. */
  readonly attempts: number;
  /** When it is retried. */
  readonly retryAt: number;
  readonly lastError?: string;
}

/** A reconcile running now. */
export interface InFlightEntry {
  readonly key: string;
  readonly started: number;
  /** When its timeout aborts it. */
  readonly deadline: number;
  /** Its signal was aborted (timeout, shutdown, lost Lease). */
  readonly aborted: boolean;
  /** It ignored its aborted signal; its worker moved on. */
  readonly abandoned: boolean;
}

/** `GET /setpoint/v1/controllers/{name}`. */
export interface ControllerDetail extends ControllerSummary {
  readonly backoff: readonly BackoffEntry[];
  readonly running: readonly InFlightEntry[];
  /** The first keys waiting (at most 100), with the reason they wait. */
  readonly waiting: readonly { readonly key: string; readonly reason?: string }[];
  /** The latest reconciles of any key, newest first (at most 50). */
  readonly recent: readonly ReconcileRecord[];
  /** The Lease this controller runs under (leader election) or its shards' Leases. */
  readonly leases: readonly LeaseSummary[];
}

/** `GET /setpoint/v1/controllers/{name}/keys/{key}`: the controller's view of one key. */
export interface KeyView {
  readonly controller: string;
  readonly key: string;
  /** Waiting to be handed to a worker. */
  readonly queued: boolean;
  /** The reconcile running now, if any. */
  readonly running?: InFlightEntry;
  /** Scheduled for later: when, and whether as a retry after errors. */
  readonly scheduled?: { readonly at: number; readonly retry: boolean; readonly attempts: number };
  /** The reason its next reconcile will have, if one is due. */
  readonly nextReason?: string;
  /** Its latest reconciles, newest first (at most 10). */
  readonly history: readonly ReconcileRecord[];
}

/** An object reference, enough to open its page. */
export interface ObjectRef {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Absent when the server does not serve the kind. */
  readonly plural?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly uid?: string;
}

/** A child (an object it controls) and its state. */
export interface ChildView {
  readonly ref: ObjectRef;
  /** Its `Ready` condition's status, if it has one. */
  readonly ready?: "True" | "False" | "Unknown";
  readonly reason?: string;
  readonly message?: string;
  readonly terminating: boolean;
  /** Its own children, for a composite of composites (two levels at most). */
  readonly children: readonly ChildView[];
}

/** A condition, with its age. */
export interface ConditionView {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
  readonly observedGeneration?: number;
}

/** `GET /setpoint/v1/objects/…`: one object with what surrounds it. */
export interface ObjectView {
  readonly ref: ObjectRef;
  /** The object as stored (read-only in the dashboard). */
  readonly object: Record<string, unknown>;
  readonly conditions: readonly ConditionView[];
  /** Events about it, newest first (at most 50). */
  readonly events: readonly EventSummary[];
  /** Its owners (ownerReferences). */
  readonly owners: readonly ObjectRef[];
  /** The objects it owns, as a tree. */
  readonly children: readonly ChildView[];
  /** Each controller of this process that reconciles its kind, with its view of the key. */
  readonly controllers: readonly KeyView[];
  readonly server: ServerInfo;
}
