/**
 * setpoint: a runtime for Kubernetes-style reconciliation controllers, for Kubernetes
 * resources and for everything else. This module lists the public API; nothing else is public.
 */

export type {
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
} from "./backend/backend.js";
export { Client, defaultNamespace } from "./backend/client.js";
export {
  type ControlPlane,
  type ControlPlaneOptions,
  createControlPlane,
} from "./backend/control-plane.js";
export { MemoryBackend, type MemoryBackendOptions } from "./backend/memory/memory-backend.js";
export { defaultMaxObjectBytes } from "./backend/object-rules.js";
export {
  ApiError,
  type StatusCause,
  type StatusDetails,
  type StatusReason,
  statusCodes,
} from "./model/api-error.js";
export {
  applyJsonPatch,
  applyMergePatch,
  deepEqual,
  type JsonPatchOperation,
} from "./model/json.js";
export {
  type AnyKind,
  defineKind,
  type JsonSchema,
  type JsonSchemaTarget,
  jsonSchemaOf,
  type Kind,
  type KindOptions,
  kindId,
  type PrinterColumn,
  pluralOf,
  type ResourceInputOf,
  type ResourceOf,
  type Scope,
  type SpecInputOf,
  type SpecOf,
  type StatusInputOf,
  type StatusOf,
} from "./model/kind.js";
export {
  clone,
  deepFreeze,
  type Frozen,
  type JsonValue,
  keyOf,
  keyString,
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
export { type Clock, systemClock, type Timer } from "./queue/clock.js";
