/**
 * What a cluster needs to run a module's controllers (`setpoint manifests`): the CRDs of its
 * kinds, a ServiceAccount, RBAC rules that are exactly the verbs the controllers use on each
 * kind (derived from their declarations), a binding, and a Deployment running `setpoint run` with
 * the in-cluster config, leader election, probes and metrics.
 */
import { stringify } from "yaml";
import { scopeNamespaces } from "../cache/scope.js";
import type { Controller } from "../controller/controller.js";
import { Event } from "../controller/events.js";
import { Lease } from "../coordination/lease.js";
import type { AnyKind } from "../model/kind.js";
import { crdOf } from "./crd.js";

/** One rule of a Role or ClusterRole. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/** Options of {@link operatorManifests}. */
export interface OperatorManifestOptions {
  /** The modules `setpoint run` loads, as paths inside the image (relative to its working directory). */
  readonly modules: readonly string[];
  /** The image holding the modules and setpoint. @default "setpoint-operator:latest" */
  readonly image?: string;
  /**
   * Where the ServiceAccount, Deployment, Lease and (when every read is scoped to it) the Role
   * live. @default "default"
   */
  readonly namespace?: string;
  /** The name of the ServiceAccount, role, binding, Deployment and Lease. @default "setpoint-controllers" */
  readonly name?: string;
  /** Replicas of the Deployment; one leads at a time. @default 2 */
  readonly replicas?: number;
  /** The port of /metrics, /healthz and /readyz. @default 8080 */
  readonly metricsPort?: number;
  /** Seconds reconciles get to finish on SIGTERM (the pod's grace period is 10 s more). @default 30 */
  readonly shutdownTimeoutSeconds?: number;
}

/** The verbs of a kind the controllers only read. */
const read = ["get", "list", "watch"];
/** The verbs of a kind the controllers write (their own kind: status, finalizers). */
const readWrite = ["get", "list", "watch", "update", "patch"];
/** The verbs of a kind the controllers make and delete (owned children). */
const own = ["get", "list", "watch", "create", "update", "patch", "delete"];

/**
 * The RBAC rules `controllers` need, kind by kind: their own kind read and written (`update`,
 * `patch`, and its `status` subresource), owned kinds made and deleted, watched kinds read, the
 * events they record (events.k8s.io `get`, `create`, `patch`) and, for leader election, Leases
 * (`get`, `list`, `create`, `update`, `delete`). Writes a reconcile makes to other kinds through
 * `ctx.plane` are not declared anywhere: add rules for them yourself.
 *
 * @example
 * ```ts
 * const rules = rbacRules([configMapGenerator]);
 * ```
 */
export function rbacRules(
  controllers: readonly Controller<never>[],
  options: { readonly leaderElection?: boolean } = {},
): PolicyRule[] {
  const verbs = new Map<string, { group: string; resource: string; verbs: Set<string> }>();
  const grant = (group: string, resource: string, granted: readonly string[]) => {
    const key = `${group}/${resource}`;
    const entry = verbs.get(key) ?? { group, resource, verbs: new Set<string>() };
    verbs.set(key, entry);
    for (const verb of granted) entry.verbs.add(verb);
  };
  for (const controller of controllers as readonly Controller[]) {
    const kind = controller.kind;
    if (kind === undefined) continue;
    grant(kind.group, kind.plural, readWrite);
    grant(kind.group, `${kind.plural}/status`, ["get", "update", "patch"]);
    for (const child of controller.owned) grant(child.group, child.plural, own);
    for (const { kind: related } of controller.related) grant(related.group, related.plural, read);
    grant(Event.group, Event.plural, ["get", "create", "patch"]);
  }
  if (options.leaderElection !== false)
    grant(Lease.group, Lease.plural, ["get", "list", "create", "update", "delete"]);
  // One rule per group and set of verbs, in a stable order.
  const rules = new Map<string, { group: string; resources: string[]; verbs: string[] }>();
  for (const entry of [...verbs.values()].sort((a, b) =>
    `${a.group}/${a.resource}`.localeCompare(`${b.group}/${b.resource}`),
  )) {
    const sorted = [...entry.verbs].sort(byVerb);
    const key = `${entry.group} ${sorted.join(",")}`;
    const rule = rules.get(key);
    if (rule === undefined)
      rules.set(key, { group: entry.group, resources: [entry.resource], verbs: sorted });
    else rule.resources.push(entry.resource);
  }
  return [...rules.values()].map((r) => ({
    apiGroups: [r.group],
    resources: r.resources,
    verbs: r.verbs,
  }));
}

const verbOrder = ["get", "list", "watch", "create", "update", "patch", "delete"];
const byVerb = (a: string, b: string) => verbOrder.indexOf(a) - verbOrder.indexOf(b);

/**
 * Whether `rules` allow `verb` on `resource` (`plural` or `plural/subresource`) of `group`.
 */
export function rulesAllow(
  rules: readonly PolicyRule[],
  group: string,
  resource: string,
  verb: string,
): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes(group) || rule.apiGroups.includes("*")) &&
      (rule.resources.includes(resource) || rule.resources.includes("*")) &&
      (rule.verbs.includes(verb) || rule.verbs.includes("*")),
  );
}

/** Kubernetes' own API groups, whose kinds a cluster serves without CRDs. */
function isKubernetesGroup(group: string): boolean {
  return (
    ["", "apps", "batch", "policy", "autoscaling"].includes(group) ||
    group === "k8s.io" ||
    group.endsWith(".k8s.io")
  );
}

/**
 * The namespace every kind the controllers read is scoped to, if they all are scoped to the
 * same single one and every kind is namespaced: then a Role there is enough.
 */
function soleNamespace(controllers: readonly Controller[]): string | undefined {
  let sole: string | undefined;
  for (const controller of controllers) {
    const kinds = [
      ...(controller.kind === undefined ? [] : [controller.kind]),
      ...controller.owned,
      ...controller.related.map((r) => r.kind),
    ];
    for (const kind of kinds) {
      const namespaces = scopeNamespaces(controller.scopeOf(kind));
      if (kind.scope !== "Namespaced" || namespaces?.length !== 1) return undefined;
      if (sole !== undefined && sole !== namespaces[0]) return undefined;
      sole = namespaces[0];
    }
  }
  return sole;
}

/**
 * The objects a cluster needs to run `controllers`: the CRDs of `kinds` (Kubernetes' own kinds
 * are left out), a ServiceAccount, a ClusterRole (a Role, when every kind the controllers read
 * is scoped to the Deployment's namespace) with {@link rbacRules}, its binding, and a Deployment
 * running `setpoint run <modules> --in-cluster --leader-elect` with liveness and readiness
 * probes on `/healthz` and `/readyz`, the metrics port, and a termination grace period longer
 * than the shutdown timeout.
 *
 * @example
 * ```ts
 * const objects = operatorManifests([generator], [ConfigMapGenerator], {
 *   modules: ["dist/configmap-generator.js"],
 *   image: "registry.example/generator:1.0",
 * });
 * ```
 */
export function operatorManifests(
  controllers: readonly Controller<never>[],
  kinds: readonly AnyKind[],
  options: OperatorManifestOptions,
): Record<string, unknown>[] {
  const {
    modules,
    image = "setpoint-operator:latest",
    namespace = "default",
    name = "setpoint-controllers",
    replicas = 2,
    metricsPort = 8080,
    shutdownTimeoutSeconds = 30,
  } = options;
  if (modules.length === 0)
    throw new TypeError("operatorManifests: modules must name at least one module");
  const labels = { "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "setpoint" };
  const sole = soleNamespace(controllers as readonly Controller[]);
  const namespaced = sole !== undefined && sole === namespace;
  const rules = rbacRules(controllers);
  const crds = kinds.filter((kind) => !isKubernetesGroup(kind.group)).map(crdOf);
  const role = namespaced ? "Role" : "ClusterRole";
  return [
    ...crds,
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: role,
      metadata: { name, ...(namespaced ? { namespace } : {}), labels },
      rules,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: `${role}Binding`,
      metadata: { name, ...(namespaced ? { namespace } : {}), labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: role, name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace, labels },
      spec: {
        replicas,
        selector: { matchLabels: { "app.kubernetes.io/name": name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            terminationGracePeriodSeconds: shutdownTimeoutSeconds + 10,
            containers: [
              {
                name: "controllers",
                image,
                args: [
                  "run",
                  ...modules,
                  "--in-cluster",
                  "--leader-elect",
                  "--lease-name",
                  name,
                  "--lease-namespace",
                  namespace,
                  "--identity",
                  "$(POD_NAME)",
                  "--metrics-port",
                  String(metricsPort),
                  "--metrics-host",
                  "0.0.0.0",
                  "--shutdown-timeout",
                  String(shutdownTimeoutSeconds),
                  "--log-format",
                  "json",
                ],
                env: [
                  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                ],
                ports: [{ name: "metrics", containerPort: metricsPort }],
                livenessProbe: {
                  httpGet: { path: "/healthz", port: "metrics" },
                  periodSeconds: 20,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: "/readyz", port: "metrics" },
                  periodSeconds: 10,
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  runAsNonRoot: true,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
          },
        },
      },
    },
  ];
}

/** {@link operatorManifests} as one YAML stream, ready for `kubectl apply -f -`. */
export function operatorManifestsYaml(
  controllers: readonly Controller<never>[],
  kinds: readonly AnyKind[],
  options: OperatorManifestOptions,
): string {
  return operatorManifests(controllers, kinds, options)
    .map((object) => stringify(object, { aliasDuplicateObjects: false }))
    .join("---\n");
}
