import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { DeploymentSpec } from "kubernetes-types/apps/v1.js";
import type { PodSpec } from "kubernetes-types/core/v1.js";
import { describe, expect, it } from "vitest";
import { createControlPlane } from "../../backend/control-plane.js";
import { ApiError } from "../../model/api-error.js";
import { jsonSchemaOf } from "../../model/kind.js";
import { tableOf } from "../apiserver/table.js";
import {
  ClusterRole,
  ConfigMap,
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
  RoleBinding,
  Secret,
  Service,
  ServiceAccount,
  StatefulSet,
} from "./index.js";

const validate = (schema: { "~standard": { validate(v: unknown): unknown } }, value: unknown) =>
  schema["~standard"].validate(value) as {
    value?: Record<string, unknown>;
    issues?: { message: string; path: string[] }[];
  };

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "default", labels: { app: "web" } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: "web" } },
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 1 } },
    template: {
      metadata: { labels: { app: "web" }, creationTimestamp: null },
      spec: {
        containers: [
          {
            name: "web",
            image: "nginx:1.27",
            ports: [{ containerPort: 80, protocol: "TCP" }],
            env: [{ name: "MODE", value: "fast" }],
            resources: { limits: { cpu: "500m", memory: "128Mi" }, requests: { cpu: 0.1 } },
            readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
            futureField: { from: "a newer server" },
          },
        ],
        volumes: [{ name: "cache", emptyDir: {} }],
      },
    },
  },
};

async function refusal(write: Promise<unknown>): Promise<ApiError> {
  const error = await write.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("the catalogue's generated validation", () => {
  it("accepts a realistic Deployment and keeps fields it does not know", () => {
    const result = validate(Deployment.spec, deployment.spec);
    expect(result.issues).toBeUndefined();
    const container = (result.value as typeof deployment.spec).template.spec.containers[0]!;
    expect(container.futureField).toEqual({ from: "a newer server" });
    expect(container.resources.requests.cpu).toBe(0.1);
  });

  it("reads null as absent, as Kubernetes' JSON decoder does", () => {
    const result = validate(Deployment.spec, deployment.spec);
    const template = (result.value as { template: { metadata: Record<string, unknown> } }).template;
    expect(Object.hasOwn(template.metadata, "creationTimestamp")).toBe(false);
  });

  it("defaults what the API server defaults: replicas, strategy, pull policy, a Service's type and ports", () => {
    const { replicas: _, strategy: _s, ...spec } = deployment.spec;
    const defaulted = validate(Deployment.spec, spec).value as unknown as DeploymentSpec;
    expect(defaulted.replicas).toBe(1);
    expect(defaulted.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
    });
    expect(defaulted.template.spec).toMatchObject({
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
    });
    expect(defaulted.template.spec?.containers[0]).toMatchObject({
      imagePullPolicy: "IfNotPresent",
      terminationMessagePath: "/dev/termination-log",
    });
    const service = validate(Service.spec, { ports: [{ port: 80 }] }).value;
    expect(service).toMatchObject({
      type: "ClusterIP",
      ports: [{ port: 80, targetPort: 80, protocol: "TCP" }],
    });
    const pod = validate(Pod.spec, { containers: [{ name: "c", image: "busybox" }] })
      .value as unknown as PodSpec;
    expect(pod.containers[0]?.imagePullPolicy).toBe("Always");
  });

  it("refuses a Job that would restart its pods always, as Kubernetes does", () => {
    const result = validate(Job.spec, {
      template: { spec: { containers: [{ name: "c", image: "busybox" }] } },
    });
    expect(result.issues?.[0]?.path).toEqual(["template.spec.restartPolicy"]);
  });

  it("accepts a Pod, a Service, a ConfigMap and a CronJob as a cluster does", () => {
    expect(
      validate(Pod.spec, {
        containers: [{ name: "c", image: "busybox", command: ["sh", "-c", "sleep 1"] }],
        restartPolicy: "Never",
        tolerations: [{ key: "k", operator: "Exists", effect: "NoSchedule" }],
      }).issues,
    ).toBeUndefined();
    expect(
      validate(Service.spec, {
        type: "NodePort",
        selector: { app: "web" },
        ports: [
          { name: "http", port: 80, targetPort: "http", nodePort: 30080 },
          { port: 443, targetPort: 8443 },
        ],
      }).issues,
    ).toBeUndefined();
    expect(
      validate(ConfigMap.spec, {
        data: { "app.properties": "a=b" },
        binaryData: { blob: "AAEC" },
        immutable: true,
      }).issues,
    ).toBeUndefined();
    expect(
      validate(CronJob.spec, {
        schedule: "*/5 * * * *",
        concurrencyPolicy: "Forbid",
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: {
              spec: { restartPolicy: "OnFailure", containers: [{ name: "c", image: "busybox" }] },
            },
          },
        },
      }).issues,
    ).toBeUndefined();
  });

  it("refuses a container without an image, naming the field path", async () => {
    const plane = createControlPlane();
    const spec = structuredClone(deployment.spec) as {
      template: { spec: { containers: object[] } };
    };
    spec.template.spec.containers = [{ name: "web" }];
    const error = await refusal(
      plane.resources(Deployment).create({ ...deployment, spec } as never),
    );
    expect(error.reason).toBe("Invalid");
    expect(error.message).toContain("spec.template.spec.containers[0].image: Required value");
    await plane.close();
  });

  it("refuses what kube-apiserver refuses of a workload and a Service: negative replicas, pods that do not restart, rollingUpdate with Recreate, ports out of range, no ports", async () => {
    const plane = createControlPlane();
    const spec = deployment.spec as Record<string, unknown> & {
      template: { spec: Record<string, unknown> };
    };
    const refused = async (changed: object, message: string) => {
      const error = await refusal(
        plane.resources(Deployment).create({ ...deployment, spec: changed } as never),
      );
      expect(error.reason).toBe("Invalid");
      expect(error.message).toContain(message);
    };
    await refused(
      { ...spec, replicas: -1 },
      "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    await refused(
      {
        ...spec,
        template: { ...spec.template, spec: { ...spec.template.spec, restartPolicy: "Never" } },
      },
      'spec.template.spec.restartPolicy: Unsupported value: "Never"',
    );
    await refused(
      { ...spec, strategy: { type: "Recreate", rollingUpdate: { maxSurge: 1 } } },
      "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    );
    const services = plane.resources(Service, { namespace: "default" });
    expect(
      (
        await refusal(
          services.create({ metadata: { name: "a" }, spec: { ports: [{ port: 0 }] } } as never),
        )
      ).message,
    ).toContain("spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive");
    expect(
      (await refusal(services.create({ metadata: { name: "b" }, spec: {} } as never))).message,
    ).toContain("spec.ports: Required value");
    // A headless Service needs no ports.
    await services.create({ metadata: { name: "c" }, spec: { clusterIP: "None" } } as never);
    await plane.close();
  });

  it("refuses wrong types with the path and what was expected", () => {
    const result = validate(Deployment.spec, { ...deployment.spec, replicas: "three" });
    expect(result.issues?.[0]?.path).toEqual(["replicas"]);
    expect(result.issues?.[0]?.message).toMatch(/number/);
  });

  it("refuses data that is not base64", () => {
    const result = validate(Secret.spec, { data: { key: "not base64!" } });
    expect(result.issues?.[0]?.path).toEqual(["data", "key"]);
  });

  it("refuses a selector that does not select the template's labels", async () => {
    const plane = createControlPlane();
    const spec = { ...deployment.spec, selector: { matchLabels: { app: "other" } } };
    const error = await refusal(
      plane.resources(Deployment).create({ ...deployment, spec } as never),
    );
    expect(error.message).toContain("spec.template.metadata.labels");
    expect(error.message).toContain("`selector` does not match template `labels`");
    await plane.close();
  });

  it("refuses a Job whose container has an invalid name", () => {
    const result = validate(Job.spec, {
      template: { spec: { containers: [{ name: "Not_A_Label", image: "busybox" }] } },
    });
    expect(result.issues?.[0]?.path).toEqual(["template.spec.containers[0].name"]);
  });

  it("folds a Secret's stringData into data, as the API server does", async () => {
    const plane = createControlPlane();
    const secret = await plane.resources(Secret).create({
      metadata: { name: "s", namespace: "default" },
      stringData: { password: "hunter2" },
      data: { user: Buffer.from("me").toString("base64") },
    });
    expect(secret.data).toEqual({
      user: Buffer.from("me").toString("base64"),
      password: Buffer.from("hunter2").toString("base64"),
    });
    expect(secret.type).toBe("Opaque");
    expect("stringData" in secret).toBe(false);
    await plane.close();
  });

  it("names the fields a definition lacks, at any depth, for fieldValidation=Strict", () => {
    const spec = structuredClone(deployment.spec) as Record<string, unknown>;
    spec.replica = 3;
    expect(Deployment.spec.unknownFields(spec).sort()).toEqual([
      "replica",
      "template.spec.containers[0].futureField",
    ]);
    expect(
      ConfigMap.spec.unknownFields({ apiVersion: "v1", metadata: {}, data: { a: "b" }, date: {} }),
    ).toEqual(["date"]);
    // A key named with `$` is a field like any other (the served API takes a strategic merge
    // patch's directives out before it checks the rest).
    expect(Deployment.spec.unknownFields({ template: { spec: { $foo: 1 } } })).toEqual([
      "template.spec.$foo",
    ]);
  });

  it("gives JSON Schema with one definition per Kubernetes message, fields it requires required", () => {
    const schema = JSON.stringify(jsonSchemaOf(Deployment, "openapi-3.0"));
    expect(schema).toContain('"io.k8s.api.core.v1.PodSpec"');
    const defs = (
      jsonSchemaOf(Deployment, "openapi-3.0") as {
        properties: { spec: { definitions: Record<string, { required?: string[] }> } };
      }
    ).properties.spec.definitions;
    expect(defs["io.k8s.api.core.v1.Container"]?.required).toEqual(["name", "image"]);
  });
});

/** Manifests using much of each kind's API, every field known to Kubernetes. */
const podSpec = {
  initContainers: [
    { name: "setup", image: "busybox", command: ["sh", "-c", "true"] },
    { name: "proxy", image: "envoy", restartPolicy: "Always" },
  ],
  containers: [
    {
      name: "app",
      image: "app:1",
      imagePullPolicy: "IfNotPresent",
      ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
      envFrom: [{ configMapRef: { name: "cm" } }, { secretRef: { name: "s", optional: true } }],
      env: [
        { name: "A", value: "1" },
        { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "MEM", valueFrom: { resourceFieldRef: { resource: "limits.memory" } } },
        { name: "C", valueFrom: { configMapKeyRef: { name: "cm", key: "c" } } },
        { name: "S", valueFrom: { secretKeyRef: { name: "s", key: "k", optional: false } } },
      ],
      resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } },
      volumeMounts: [{ name: "config", mountPath: "/etc/app", readOnly: true, subPath: "x" }],
      livenessProbe: {
        httpGet: { path: "/healthz", port: "http", httpHeaders: [{ name: "X", value: "y" }] },
        initialDelaySeconds: 5,
        periodSeconds: 10,
      },
      readinessProbe: { tcpSocket: { port: 8080 }, failureThreshold: 3 },
      startupProbe: { exec: { command: ["cat", "/ready"] } },
      lifecycle: {
        preStop: { sleep: { seconds: 5 } },
        postStart: { exec: { command: ["true"] } },
      },
      securityContext: {
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
    { name: "grpc", image: "grpc:1", livenessProbe: { grpc: { port: 9000 } } },
  ],
  volumes: [
    { name: "config", configMap: { name: "cm", items: [{ key: "a", path: "a.conf" }] } },
    { name: "secret", secret: { secretName: "s", defaultMode: 420 } },
    { name: "scratch", emptyDir: { medium: "Memory", sizeLimit: "1Gi" } },
    { name: "host", hostPath: { path: "/var/log", type: "Directory" } },
    { name: "data", persistentVolumeClaim: { claimName: "data" } },
    {
      name: "projected",
      projected: {
        sources: [
          { serviceAccountToken: { path: "token", expirationSeconds: 3600 } },
          { configMap: { name: "cm" } },
          { secret: { name: "s" } },
          {
            downwardAPI: {
              items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }],
            },
          },
        ],
      },
    },
    { name: "csi", csi: { driver: "x.csi.io", volumeAttributes: { a: "b" } } },
    {
      name: "ephemeral",
      ephemeral: {
        volumeClaimTemplate: {
          metadata: { labels: { a: "b" } },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
        },
      },
    },
  ],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] },
        ],
      },
    },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: "kubernetes.io/hostname",
            labelSelector: { matchLabels: { app: "web" } },
          },
        },
      ],
    },
  },
  tolerations: [{ key: "k", operator: "Equal", value: "v", effect: "NoSchedule" }],
  topologySpreadConstraints: [
    {
      maxSkew: 1,
      topologyKey: "zone",
      whenUnsatisfiable: "DoNotSchedule",
      labelSelector: { matchLabels: { app: "web" } },
    },
  ],
  imagePullSecrets: [{ name: "registry" }],
  dnsConfig: { options: [{ name: "ndots", value: "2" }] },
  hostAliases: [{ ip: "10.0.0.1", hostnames: ["db"] }],
  serviceAccountName: "app",
  terminationGracePeriodSeconds: 30,
  nodeSelector: { "kubernetes.io/os": "linux" },
  securityContext: { fsGroup: 2000, runAsUser: 1000 },
};

const template = { metadata: { labels: { app: "web" } }, spec: podSpec };
const realistic: [string, { spec: ApiSchemaLike }, unknown][] = [
  ["Pod", Pod, podSpec],
  [
    "Deployment",
    Deployment,
    {
      replicas: 2,
      selector: { matchLabels: { app: "web" } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: "25%" } },
      revisionHistoryLimit: 5,
      template,
    },
  ],
  [
    "StatefulSet",
    StatefulSet,
    {
      serviceName: "db",
      selector: { matchLabels: { app: "web" } },
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" },
      template,
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "fast",
            resources: { requests: { storage: "10Gi" } },
          },
        },
      ],
    },
  ],
  [
    "DaemonSet",
    DaemonSet,
    {
      selector: { matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template,
    },
  ],
  [
    "CronJob",
    CronJob,
    {
      schedule: "0 * * * *",
      timeZone: "Etc/UTC",
      successfulJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: { a: "b" } },
        spec: {
          ttlSecondsAfterFinished: 100,
          podFailurePolicy: {
            rules: [{ action: "FailJob", onExitCodes: { operator: "In", values: [42] } }],
          },
          template: { spec: { ...podSpec, restartPolicy: "Never" } },
        },
      },
    },
  ],
  [
    "Service",
    Service,
    {
      type: "LoadBalancer",
      selector: { app: "web" },
      ports: [{ name: "https", port: 443, targetPort: "https", protocol: "TCP" }],
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
      externalTrafficPolicy: "Local",
      ipFamilyPolicy: "PreferDualStack",
    },
  ],
  [
    "Ingress",
    Ingress,
    {
      ingressClassName: "nginx",
      tls: [{ hosts: ["a.example.com"], secretName: "tls" }],
      defaultBackend: { service: { name: "web", port: { number: 80 } } },
      rules: [
        {
          host: "a.example.com",
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "web", port: { name: "http" } } },
              },
            ],
          },
        },
      ],
    },
  ],
  [
    "HorizontalPodAutoscaler",
    HorizontalPodAutoscaler,
    {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      minReplicas: 1,
      maxReplicas: 5,
      targetCPUUtilizationPercentage: 80,
    },
  ],
  [
    "PodDisruptionBudget",
    PodDisruptionBudget,
    { maxUnavailable: "50%", selector: { matchLabels: { app: "web" } } },
  ],
  [
    "PersistentVolumeClaim",
    PersistentVolumeClaim,
    {
      accessModes: ["ReadWriteOnce"],
      volumeMode: "Filesystem",
      resources: { requests: { storage: "1Gi" } },
      selector: { matchLabels: { tier: "db" } },
      dataSourceRef: { kind: "VolumeSnapshot", apiGroup: "snapshot.storage.k8s.io", name: "s" },
    },
  ],
  [
    "ClusterRole",
    ClusterRole,
    {
      rules: [
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
        { nonResourceURLs: ["/healthz"], verbs: ["get"] },
      ],
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { agg: "true" } }] },
    },
  ],
  [
    "RoleBinding",
    RoleBinding,
    {
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "r" },
      subjects: [
        { kind: "ServiceAccount", name: "app", namespace: "default" },
        { kind: "User", name: "me", apiGroup: "rbac.authorization.k8s.io" },
      ],
    },
  ],
  [
    "Endpoints",
    Endpoints,
    {
      subsets: [
        {
          addresses: [{ ip: "10.0.0.1", targetRef: { kind: "Pod", name: "p" } }],
          ports: [{ name: "http", port: 80, protocol: "TCP" }],
        },
      ],
    },
  ],
  [
    "ServiceAccount",
    ServiceAccount,
    {
      secrets: [{ name: "s" }],
      imagePullSecrets: [{ name: "r" }],
      automountServiceAccountToken: false,
    },
  ],
];

type ApiSchemaLike = {
  "~standard": { validate(v: unknown): unknown };
  unknownFields(value: unknown): string[];
};

describe("realistic manifests", () => {
  for (const [name, kind, spec] of realistic)
    it(`a ${name} using much of its API is valid, and every field of it is known`, () => {
      expect(validate(kind.spec, spec).issues).toBeUndefined();
      expect(kind.spec.unknownFields(spec)).toEqual([]);
    });
});

/** Every path to a value inside `value`. */
function pathsOf(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const out = [path];
  if (Array.isArray(value))
    for (const [i, v] of value.entries()) out.push(...pathsOf(v, [...path, i]));
  else if (value !== null && typeof value === "object")
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...path, k]));
  return out;
}

function replacedAt(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<
    string | number,
    unknown
  >;
  copy[head!] = replacedAt(copy[head!], rest, replacement);
  return copy;
}

describe("any input", () => {
  it("is answered with a value or issues, never a throw: validation, unknown fields and columns", () => {
    const now = Date.now();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: realistic.length - 1 }),
        fc.nat(),
        fc.jsonValue({ maxDepth: 4 }),
        (which, where, replacement) => {
          const [, kind, spec] = realistic[which]!;
          const paths = pathsOf(spec);
          const input = replacedAt(spec, paths[where % paths.length]!, replacement);
          const result = validate(kind.spec, input);
          expect(result.value !== undefined || result.issues !== undefined).toBe(true);
          expect(Array.isArray(kind.spec.unknownFields(input))).toBe(true);
          const stored = { metadata: { name: "x" }, spec: input, status: replacement };
          tableOf(kind as never, [stored as never], {}, now);
          tableOf(
            kind as never,
            [{ ...(input as object), metadata: { name: "x" } } as never],
            {},
            now,
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("the catalogue's names and columns", () => {
  it("puts in the category all exactly the kinds Kubernetes puts there", () => {
    const all = catalogueKinds.filter((k) => k.categories.includes("all")).map((k) => k.plural);
    expect(all.sort()).toEqual(
      [
        "cronjobs",
        "daemonsets",
        "deployments",
        "horizontalpodautoscalers",
        "jobs",
        "pods",
        "replicasets",
        "services",
        "statefulsets",
      ].sort(),
    );
  });

  it("has Kubernetes' short names", () => {
    const short = Object.fromEntries(catalogueKinds.map((k) => [k.plural, [...k.shortNames]]));
    expect(short).toMatchObject({
      configmaps: ["cm"],
      deployments: ["deploy"],
      services: ["svc"],
      serviceaccounts: ["sa"],
      persistentvolumeclaims: ["pvc"],
      daemonsets: ["ds"],
      statefulsets: ["sts"],
      replicasets: ["rs"],
      cronjobs: ["cj"],
      ingresses: ["ing"],
      poddisruptionbudgets: ["pdb"],
      horizontalpodautoscalers: ["hpa"],
      pods: ["po"],
      endpoints: ["ep"],
    });
  });

  it("prints a Deployment as NAME READY UP-TO-DATE AVAILABLE AGE", () => {
    const now = Date.parse("2026-01-01T00:05:00Z");
    const object = {
      ...deployment,
      metadata: { ...deployment.metadata, creationTimestamp: "2026-01-01T00:00:00Z" },
      status: { readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 },
    };
    const table = tableOf(Deployment, [object as never], {}, now);
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual([
      "Name",
      "Ready",
      "Up-to-date",
      "Available",
      "Age",
    ]);
    expect(table.rows[0]?.cells.slice(0, 5)).toEqual(["web", "1/3", 2, 1, "5m"]);
  });

  it("prints a pod's STATUS and RESTARTS as kubectl does", () => {
    const now = Date.parse("2026-01-01T01:00:00Z");
    const pod = {
      metadata: { name: "p", namespace: "default", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: {
        containers: [
          { name: "a", image: "x" },
          { name: "b", image: "y" },
        ],
      },
      status: {
        phase: "Running",
        containerStatuses: [
          { name: "a", ready: true, restartCount: 0, state: { running: {} } },
          {
            name: "b",
            ready: false,
            restartCount: 2,
            state: { waiting: { reason: "CrashLoopBackOff" } },
            lastState: { terminated: { exitCode: 1, finishedAt: "2026-01-01T00:55:00Z" } },
          },
        ],
      },
    };
    const table = tableOf(Pod, [pod as never], {}, now);
    expect(table.rows[0]?.cells.slice(0, 5)).toEqual([
      "p",
      "1/2",
      "CrashLoopBackOff",
      "2 (5m ago)",
      "60m",
    ]);
  });

  it("prints a Job's STATUS, COMPLETIONS and DURATION", () => {
    const now = Date.parse("2026-01-01T00:10:00Z");
    const job = {
      metadata: { name: "j", namespace: "default", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: { completions: 3, template: { spec: { containers: [{ name: "c", image: "x" }] } } },
      status: {
        succeeded: 3,
        startTime: "2026-01-01T00:00:00Z",
        completionTime: "2026-01-01T00:00:42Z",
        conditions: [{ type: "Complete", status: "True" }],
      },
    };
    const table = tableOf(Job, [job as never], {}, now);
    expect(table.rows[0]?.cells.slice(0, 5)).toEqual(["j", "Complete", "3/3", "42s", "10m"]);
  });
});

describe("loading", () => {
  /** Every module `file` imports statically, transitively (dynamic `import()` excluded). */
  function staticImports(file: string, seen = new Set<string>()): Set<string> {
    if (seen.has(file)) return seen;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) {
      const target = resolve(dirname(file), match[1]!.replace(/\.js$/, ".ts"));
      staticImports(target, seen);
    }
    return seen;
  }

  it("importing setpoint never loads the catalogue", () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), "../../index.ts");
    const loaded = [...staticImports(root)];
    expect(loaded.length).toBeGreaterThan(20);
    expect(loaded.filter((file) => file.includes("/catalogue/"))).toEqual([]);
  });
});
