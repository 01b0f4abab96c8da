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
/** The verbs of a kind the controllers make and delete (owned children). */
const own = ["get", "list", "watch", "create", "update", "patch", "delete"];

/**
 * Where rules apply: `cluster` for every namespace (a ClusterRole), else per namespace (a Role
 * in each).
 */
export interface RbacPlan {
  readonly cluster: readonly PolicyRule[];
  readonly namespaces: ReadonlyMap<string, readonly PolicyRule[]>;
}

/** Grants collected per place (`""`: cluster-wide), then made into rules. */
class Grants {
  private readonly places = new Map<string, Map<string, Set<string>>>();

  /** Grants `verbs` on `resource` of `group` in `namespaces` (`undefined`: cluster-wide). */
  add(
    namespaces: readonly string[] | undefined,
    group: string,
    resource: string,
    verbs: readonly string[],
  ): void {
    for (const place of namespaces ?? [""]) {
      const resources = this.places.get(place) ?? new Map<string, Set<string>>();
      this.places.set(place, resources);
      const key = `${group}/${resource}`;
      const granted = resources.get(key) ?? new Set<string>();
      resources.set(key, granted);
      for (const verb of verbs) granted.add(verb);
    }
  }

  plan(): RbacPlan {
    const cluster = this.places.get("");
    const namespaces = new Map<string, PolicyRule[]>();
    for (const [place, resources] of [...this.places].sort(([a], [b]) => a.localeCompare(b))) {
      if (place === "") continue;
      // What the ClusterRole grants already needs no Role.
      const rules = rulesOf(resources, cluster);
      if (rules.length > 0) namespaces.set(place, rules);
    }
    return { cluster: cluster === undefined ? [] : rulesOf(cluster, undefined), namespaces };
  }
}

/** One rule per group and set of verbs, in a stable order, leaving out what `covered` grants. */
function rulesOf(
  resources: ReadonlyMap<string, ReadonlySet<string>>,
  covered: ReadonlyMap<string, ReadonlySet<string>> | undefined,
): PolicyRule[] {
  const rules = new Map<string, { group: string; resources: string[]; verbs: string[] }>();
  for (const [key, verbs] of [...resources].sort(([a], [b]) => a.localeCompare(b))) {
    const missing = [...verbs].filter((verb) => !covered?.get(key)?.has(verb)).sort(byVerb);
    if (missing.length === 0) continue;
    const slash = key.indexOf("/");
    const group = key.slice(0, slash);
    const resource = key.slice(slash + 1);
    const ruleKey = `${group} ${missing.join(",")}`;
    const rule = rules.get(ruleKey);
    if (rule === undefined) rules.set(ruleKey, { group, resources: [resource], verbs: missing });
    else rule.resources.push(resource);
  }
  return [...rules.values()].map((r) => ({
    apiGroups: [r.group],
    resources: r.resources,
    verbs: r.verbs,
  }));
}

/**
 * Where and what RBAC `controllers` need, derived from their declarations: each kind where the
 * controller reads it (its scope's namespaces, else cluster-wide): their own kind read, its
 * `status` written (and the kind patched, with a finalizer), owned kinds made and deleted,
 * watched kinds read, and Events recorded (events.k8s.io `get`, `create`, `patch`) where their
 * own objects are; for leader election, Leases in `leaseNamespace` (`get`, `list`, `create`,
 * `update`, `delete`). Writes a reconcile makes beyond these (to its own object's spec, to other
 * kinds through `ctx.plane`) are not declared anywhere: add rules for them yourself.
 *
 * @example
 * ```ts
 * const { cluster, namespaces } = rbacPlan([configMapGenerator], { leaseNamespace: "ops" });
 * ```
 */
export function rbacPlan(
  controllers: readonly Controller<never>[],
  options: { readonly leaderElection?: boolean; readonly leaseNamespace?: string } = {},
): RbacPlan {
  const grants = new Grants();
  for (const controller of controllers as readonly Controller[]) {
    const kind = controller.kind;
    if (kind === undefined) continue;
    const where = (of: AnyKind) =>
      of.scope === "Namespaced" ? scopeNamespaces(controller.scopeOf(of)) : undefined;
    const home = where(kind);
    grants.add(home, kind.group, kind.plural, [
      ...read,
      ...(controller.options.finalizer === undefined ? [] : ["patch"]),
    ]);
    grants.add(home, kind.group, `${kind.plural}/status`, ["get", "update", "patch"]);
    for (const child of controller.owned) grants.add(where(child), child.group, child.plural, own);
    for (const { kind: related } of controller.related)
      grants.add(where(related), related.group, related.plural, read);
    grants.add(home, Event.group, Event.plural, ["get", "create", "patch"]);
  }
  if (options.leaderElection !== false)
    grants.add([options.leaseNamespace ?? "default"], Lease.group, Lease.plural, [
      "get",
      "list",
      "create",
      "update",
      "delete",
    ]);
  return grants.plan();
}

/** Every rule of {@link rbacPlan}, wherever it applies. */
export function rbacRules(
  controllers: readonly Controller<never>[],
  options: { readonly leaderElection?: boolean; readonly leaseNamespace?: string } = {},
): PolicyRule[] {
  const { cluster, namespaces } = rbacPlan(controllers, options);
  return [...cluster, ...[...namespaces.values()].flat()];
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
 * The objects a cluster needs to run `controllers`: the operator's namespace (unless it is
 * `default`) and the namespaces its Roles live in, the CRDs of `kinds` and of the kinds the
 * controllers read (Kubernetes' own left out), a ServiceAccount, the RBAC of {@link rbacPlan} — a
 * ClusterRole for what is read everywhere, a Role in each namespace a scope names, a Role for
 * the Lease in the operator's namespace — with their bindings, and a Deployment
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
  const plan = rbacPlan(controllers, { leaseNamespace: namespace });
  const rbac: Record<string, unknown>[] = [];
  const subjects = [{ kind: "ServiceAccount", name, namespace }];
  const roleApi = "rbac.authorization.k8s.io/v1";
  if (plan.cluster.length > 0)
    rbac.push(
      { apiVersion: roleApi, kind: "ClusterRole", metadata: { name, labels }, rules: plan.cluster },
      {
        apiVersion: roleApi,
        kind: "ClusterRoleBinding",
        metadata: { name, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects,
      },
    );
  for (const [where, rules] of plan.namespaces)
    rbac.push(
      { apiVersion: roleApi, kind: "Role", metadata: { name, namespace: where, labels }, rules },
      {
        apiVersion: roleApi,
        kind: "RoleBinding",
        metadata: { name, namespace: where, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects,
      },
    );
  // The kinds the modules export and those the controllers read, once each; a cluster serves
  // Kubernetes' own.
  const own = new Map<string, AnyKind>();
  for (const kind of [
    ...kinds,
    ...(controllers as readonly Controller[]).flatMap((c) => [
      ...(c.kind === undefined ? [] : [c.kind]),
      ...c.owned,
      ...c.related.map((r) => r.kind),
    ]),
  ])
    if (!isKubernetesGroup(kind.group)) own.set(`${kind.plural}.${kind.group}`, kind);
  const crds = [...own.values()].map(crdOf);
  const namespaces = [...new Set([namespace, ...plan.namespaces.keys()])]
    .filter((n) => n !== "default" && n !== "kube-system" && n !== "kube-public")
    .map((n) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: n } }));
  return [
    ...namespaces,
    ...crds,
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } },
    ...rbac,
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
