/**
 * setpoint: a runtime for Kubernetes-style reconciliation controllers, for Kubernetes
 * resources and for everything else. This module lists the public API; nothing else is public.
 */

export type {
  Backend,
  BackendCapabilities,
  DeleteOptions,
  Fence,
  ListOptions,
  ObjectList,
  Patch,
  PatchOptions,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from "./backend/backend.js";
export { Client, type ClientOptions, defaultNamespace } from "./backend/client.js";
export {
  type ControlPlane,
  type ControlPlaneOptions,
  createControlPlane,
} from "./backend/control-plane.js";
export { DurableBackend, type DurableBackendOptions } from "./backend/durable/durable-backend.js";
export { MemoryBackend, type MemoryBackendOptions } from "./backend/memory/memory-backend.js";
export { defaultMaxObjectBytes } from "./backend/object-rules.js";
export { JitteredBackoff, type JitteredBackoffOptions } from "./cache/backoff.js";
export {
  type CacheChange,
  type CacheOptions,
  type CacheReader,
  type CacheWriter,
  createCache,
  type Indexer,
} from "./cache/cache.js";
export { Informer, type InformerOptions } from "./cache/informer.js";
export type { WatchScope } from "./cache/scope.js";
export { Watcher, type WatcherObserver, type WatcherOptions } from "./cache/watcher.js";
export {
  type CacheEvent,
  step as watcherStep,
  type WatcherEffect,
  type WatcherInput,
  type WatcherState,
} from "./cache/watcher-state.js";
export { type Action, done, requeueAfter, TerminalError } from "./controller/action.js";
export {
  type ChildKind,
  type CompositeOptions,
  composite,
  type DesiredChild,
  isSuperset,
  type ObservedChildren,
  parentLabel,
  type SyncResult,
  type UpdateStrategy,
} from "./controller/composite.js";
export {
  type BaseContext,
  Controller,
  type ControllerOptions,
  controller,
  type FeedControllerOptions,
  type FinalizerOptions,
  type Mapper,
  type ReconcileContext,
  type ReconcileReason,
  type ReconcileResult,
  type RelationOptions,
} from "./controller/controller.js";
export { Event, type EventInput, type EventRecorder } from "./controller/events.js";
export { ReconcileJournal } from "./controller/journal.js";
export { Manager, type ManagerOptions, type RunOptions, run } from "./controller/manager.js";
export {
  type AsyncIterableSourceOptions,
  type Feed,
  fromAsyncIterable,
  type PollOptions,
  poll,
  type Source,
} from "./controller/source.js";
export {
  type ConditionInput,
  ConditionType,
  getCondition,
  setCondition,
  writeStatus,
} from "./controller/status.js";
export {
  type LeaderElectionOptions,
  LeaderElector,
  type Leadership,
} from "./coordination/leader-election.js";
export {
  hashKey,
  type ShardHooks,
  ShardSet,
  type ShardSetOptions,
} from "./coordination/shards.js";
/**
 * The web dashboard (`/ui/`) and its read API (`/setpoint/v1/…`), served by
 * {@link serveKubernetesApi} with `dashboard: { manager }`; the shapes of the read API's answers.
 */
export type { DashboardOptions } from "./dashboard/api.js";
export type {
  BackoffEntry,
  ChildView,
  ConditionView,
  ControllerDetail,
  ControllerState,
  ControllerSummary,
  EventSummary,
  InFlightEntry,
  KeyView,
  KindRef,
  KindSummary,
  LeaseSummary,
  ObjectRef,
  ObjectView,
  Overview,
  ReconcileRecord,
  Series,
  ServerInfo,
} from "./dashboard/types.js";
export {
  type KubernetesApiServer,
  kubeconfigFor,
  type ServeOptions,
  serveKubernetesApi,
} from "./kubernetes/apiserver/server.js";
export {
  builtinKinds,
  CustomResourceDefinition,
  Lease,
  Namespace,
  Service,
} from "./kubernetes/builtin-kinds.js";
export {
  type MissingNamespace,
  NamespaceLifecycle,
  type NamespaceLifecycleOptions,
  type NamespaceState,
} from "./kubernetes/namespace-lifecycle.js";
export {
  ApiError,
  type StatusCause,
  type StatusDetails,
  type StatusReason,
  statusCodes,
} from "./model/api-error.js";
export { type Clock, systemClock, type Timer } from "./model/clock.js";
export { Condition, StandardStatus } from "./model/condition.js";
export {
  applyJsonPatch,
  applyMergePatch,
  deepEqual,
  type JsonPatchOperation,
  maxJsonPatchCopyBytes,
  maxJsonPatchOperations,
} from "./model/json.js";
export {
  type AnyKind,
  defineKind,
  type FlatResource,
  type FlatResourceInput,
  type JsonSchema,
  type JsonSchemaTarget,
  jsonSchemaOf,
  type Kind,
  type KindLayout,
  type KindOptions,
  kindId,
  type PrinterColumn,
  pluralOf,
  type ResourceInputOf,
  type ResourceOf,
  type ScaleSubresource,
  type Scope,
  type SpecInputOf,
  type SpecOf,
  type StatusInputOf,
  type StatusOf,
} from "./model/kind.js";
export {
  clone,
  controllerReference,
  deepFreeze,
  type Frozen,
  type JsonValue,
  keyOf,
  keyString,
  type ManagedFieldsEntry,
  type ObjectKey,
  type ObjectMeta,
  type ObjectMetaInput,
  type OwnerReference,
  parseKey,
  type Resource,
  type ResourceInput,
  type Thawed,
} from "./model/resource.js";
export {
  type FieldRequirement,
  FieldSelector,
  type LabelOperator,
  type LabelRequirement,
  LabelSelector,
  type LabelSelectorInput,
  type LabelSelectorObject,
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
} from "./model/selector.js";
export { maxNestingDepth } from "./model/validation.js";
export {
  type HealthCheck,
  type HealthServer,
  type HealthSource,
  serveHealth,
} from "./observability/health.js";
export {
  createLogger,
  defaultLogger,
  type Logger,
  type LoggerOptions,
  silentLogger,
} from "./observability/logging.js";
export { type ControllerMetrics, RuntimeMetrics } from "./observability/metrics.js";
export { TracedBackend, tracer } from "./observability/tracing.js";
export {
  ExponentialBackoff,
  type ExponentialBackoffOptions,
  MaxOf,
  type RateLimiter,
  TokenBucket,
  type TokenBucketOptions,
} from "./queue/rate-limiter.js";
export {
  type AddOptions,
  WorkQueue,
  type WorkQueueMetrics,
  type WorkQueueOptions,
} from "./queue/work-queue.js";
