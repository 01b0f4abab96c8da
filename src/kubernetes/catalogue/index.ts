/**
 * The catalogue of Kubernetes' built-in kinds, typed (`kubernetes-types`) and validated by
 * schemas generated from the API's own definitions; see `api-schema.ts` for what validation
 * guarantees and `setpoint/kubernetes` for the public documentation.
 */
import { CoreEvent } from "../builtin-kinds.js";
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from "./apps.js";
import { HorizontalPodAutoscaler } from "./autoscaling.js";
import { CronJob, Job } from "./batch.js";
import {
  ConfigMap,
  Endpoints,
  PersistentVolumeClaim,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from "./core.js";
import { Ingress } from "./networking.js";
import { PodDisruptionBudget } from "./policy.js";
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "./rbac.js";

export { type ApiSchema, type ApiSchemaOptions, apiSchema } from "./api-schema.js";
export { DaemonSet, Deployment, ReplicaSet, StatefulSet } from "./apps.js";
export { HorizontalPodAutoscaler } from "./autoscaling.js";
export { CronJob, Job } from "./batch.js";
export {
  type Body,
  ConfigMap,
  Endpoints,
  PersistentVolumeClaim,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from "./core.js";
export { Ingress } from "./networking.js";
export { PodDisruptionBudget } from "./policy.js";
export { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "./rbac.js";
export { CoreEvent };

/**
 * Every kind of the catalogue that is stored as itself, in the order `setpoint serve` registers
 * them. Namespace, Lease and Event (`events.k8s.io/v1`, served also as core `v1` Events) are
 * registered by every server already; they are not repeated here.
 */
export const catalogueKinds = Object.freeze([
  ConfigMap,
  Secret,
  Pod,
  Service,
  ServiceAccount,
  Endpoints,
  PersistentVolumeClaim,
  Deployment,
  StatefulSet,
  DaemonSet,
  ReplicaSet,
  Job,
  CronJob,
  Ingress,
  Role,
  RoleBinding,
  ClusterRole,
  ClusterRoleBinding,
  PodDisruptionBudget,
  HorizontalPodAutoscaler,
] as const);
