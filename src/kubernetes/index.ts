/**
 * `setpoint/kubernetes`: the Kubernetes backend (needs @kubernetes/client-node, loaded only when
 * `connectKubernetes` is called), CRDs from kinds, the Kubernetes REST API server, and the
 * catalogue of Kubernetes' built-in kinds.
 *
 * The catalogue: core `v1` {@link ConfigMap}, {@link Secret}, {@link Pod}, {@link Service},
 * {@link ServiceAccount}, {@link Endpoints}, {@link PersistentVolumeClaim}, {@link Namespace}
 * and Event ({@link CoreEvent}, a view of the stored `events.k8s.io/v1` {@link Event}); `apps/v1`
 * {@link Deployment}, {@link StatefulSet}, {@link DaemonSet}, {@link ReplicaSet}; `batch/v1`
 * {@link Job}, {@link CronJob}; `networking.k8s.io/v1` {@link Ingress};
 * `rbac.authorization.k8s.io/v1` {@link Role}, {@link RoleBinding}, {@link ClusterRole},
 * {@link ClusterRoleBinding}; `coordination.k8s.io/v1` {@link Lease}; `policy/v1`
 * {@link PodDisruptionBudget}; `autoscaling/v1` {@link HorizontalPodAutoscaler}.
 *
 * - Typed as Kubernetes types them (`kubernetes-types`): `ResourceOf<typeof Deployment>` has a
 *   `DeploymentSpec`; flat kinds (ConfigMap, Secret, ServiceAccount, Endpoints, the RBAC kinds,
 *   Event) keep their fields beside `metadata`, with no `spec`.
 * - Validated by schemas generated from the API's own definitions: every field's JSON type;
 *   unknown fields kept; `null` read as absent; and the rules kubectl users meet — names,
 *   labels, required fields (a container's `name` and `image`), a workload's selector matching
 *   its template. Defaulted as the API server defaults them (`replicas` 1, a Deployment's
 *   RollingUpdate strategy, a Service's type and ports' protocol, a container's pull policy, a
 *   Secret's `type` with its `stringData` folded into `data`…), but for what needs a running
 *   cluster (cluster IPs, a Job's generated selector). Under `fieldValidation=Strict` (kubectl's
 *   default) `setpoint serve` refuses fields a kind does not have, as a cluster does.
 * - Each knows its plural, short names (`cm`, `deploy`, `svc`…), categories (`all` where
 *   Kubernetes puts it) and the columns `kubectl get` prints on a cluster; Deployment,
 *   StatefulSet and ReplicaSet have a `/scale` subresource.
 * - Usable wherever a kind is, on every store: `controller(Parent).owns(ConfigMap)`, composite
 *   children, `connectKubernetes` against a real cluster. `serveKubernetesApi` (and `setpoint
 *   serve`) serve them unless `builtinKinds: false`. Nothing runs their controllers (as in
 *   envtest): a Deployment makes no Pods; garbage collection by owner references applies.
 *
 * @example
 * ```ts
 * import { createControlPlane } from "setpoint";
 * import { ConfigMap, Deployment } from "setpoint/kubernetes";
 *
 * const plane = createControlPlane();
 * await plane.resources(ConfigMap).create({
 *   metadata: { name: "settings", namespace: "default" },
 *   data: { mode: "fast" },
 * });
 * await plane.resources(Deployment).create({
 *   metadata: { name: "web", namespace: "default" },
 *   spec: {
 *     selector: { matchLabels: { app: "web" } },
 *     template: {
 *       metadata: { labels: { app: "web" } },
 *       spec: { containers: [{ name: "web", image: "nginx:1.27" }] },
 *     },
 *   },
 * }); // stored with spec.replicas 1
 * ```
 */
export {
  type KubernetesApiServer,
  kubeconfigFor,
  type ServeOptions,
  serveKubernetesApi,
} from "./apiserver/server.js";
export {
  builtinKinds,
  CustomResourceDefinition,
  Event,
  Lease,
  Namespace,
} from "./builtin-kinds.js";
export {
  type ApiSchema,
  type ApiSchemaOptions,
  apiSchema,
  type Body,
  ClusterRole,
  ClusterRoleBinding,
  ConfigMap,
  CoreEvent,
  CronJob,
  catalogueKinds,
  DaemonSet,
  Deployment,
  Endpoints,
  HorizontalPodAutoscaler,
  Ingress,
  Job,
  PersistentVolumeClaim,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  Role,
  RoleBinding,
  Secret,
  Service,
  ServiceAccount,
  StatefulSet,
} from "./catalogue/index.js";
export { crdOf, crdYamlOf, kindFromCrd } from "./crd.js";
export { crdSchemaLimits } from "./crd-schema.js";
export { connectKubernetes, type KubernetesOptions } from "./kubernetes-backend.js";
export {
  type OperatorManifestOptions,
  operatorManifests,
  operatorManifestsYaml,
  type PolicyRule,
  type RbacPlan,
  rbacPlan,
  rbacRules,
  rulesAllow,
} from "./manifests.js";
export {
  type MissingNamespace,
  NamespaceLifecycle,
  type NamespaceLifecycleOptions,
  type NamespaceState,
} from "./namespace-lifecycle.js";
