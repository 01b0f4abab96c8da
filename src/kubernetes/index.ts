/**
 * `setpoint/kubernetes`: the Kubernetes backend (needs @kubernetes/client-node, loaded only when
 * `connectKubernetes` is called), CRDs from kinds, and the Kubernetes REST API server.
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
  Service,
} from "./builtin-kinds.js";
export { crdOf, crdYamlOf, kindFromCrd } from "./crd.js";
export { crdSchemaLimits } from "./crd-schema.js";
export { connectKubernetes, type KubernetesOptions } from "./kubernetes-backend.js";
export {
  type MissingNamespace,
  NamespaceLifecycle,
  type NamespaceLifecycleOptions,
  type NamespaceState,
} from "./namespace-lifecycle.js";
