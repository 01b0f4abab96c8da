/**
 * Kubernetes' core `v1` kinds: ConfigMap, Secret, Pod, Service, ServiceAccount, Endpoints,
 * PersistentVolumeClaim — and Namespace and Event, re-exported from where every store needs
 * them. Stored as given: nothing schedules pods, allocates cluster IPs or binds volumes.
 */
import type {
  ConfigMap as ConfigMapObject,
  Endpoints as EndpointsObject,
  PersistentVolumeClaimSpec,
  PersistentVolumeClaimStatus,
  PodSpec,
  PodStatus,
  Secret as SecretObject,
  ServiceAccount as ServiceAccountObject,
  ServiceSpec,
  ServiceStatus,
} from "kubernetes-types/core/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import {
  accessModes,
  age,
  column,
  endpointsText,
  labelsText,
  podReady,
  podRestarts,
  podStatus,
  serviceExternalIp,
  servicePorts,
} from "./columns.js";
import { persistentVolumeClaimDefaults, podSpecDefaults, serviceDefaults } from "./defaults.js";
import { checkPodSpec, checkServiceSpec } from "./rules.js";

/** The fields of a flat kind beside `apiVersion`, `kind` and `metadata`. */
export type Body<T> = Omit<T, "apiVersion" | "kind" | "metadata">;

const core = "k8s.io.api.core.v1";

/**
 * `ConfigMap` (core `v1`, short name `cm`): `data` (strings) and `binaryData` (base64), at the
 * top level beside `metadata`. `kubectl get cm` shows NAME DATA AGE.
 */
export const ConfigMap = defineKind({
  group: "",
  version: "v1",
  kind: "ConfigMap",
  scope: "Namespaced",
  layout: "flat",
  shortNames: ["cm"],
  spec: apiSchema<Body<ConfigMapObject>>(`${core}.ConfigMap`, { shape: "body" }),
  printerColumns: [
    column(
      "Data",
      ".data",
      (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
      { type: "integer" },
    ),
    age,
  ],
});

/**
 * `Secret` (core `v1`): `data` (base64), `type` (default `Opaque`) and `stringData`, which the
 * server folds into `data` on every write, as Kubernetes does. NAME TYPE DATA AGE.
 */
export const Secret = defineKind({
  group: "",
  version: "v1",
  kind: "Secret",
  scope: "Namespaced",
  layout: "flat",
  spec: apiSchema<Body<SecretObject>>(`${core}.Secret`, {
    shape: "body",
    normalize: ({ stringData, ...secret }) => {
      const data = { ...(secret.data ?? {}) };
      for (const [key, value] of Object.entries(stringData ?? {}))
        data[key] = Buffer.from(value, "utf8").toString("base64");
      return {
        ...secret,
        type: secret.type ?? "Opaque",
        ...(Object.keys(data).length > 0 ? { data } : {}),
      };
    },
  }),
  printerColumns: [
    column("Type", ".type", (o) => o.type ?? "Opaque"),
    column("Data", ".data", (o) => Object.keys(o.data ?? {}).length, { type: "integer" }),
    age,
  ],
});

/**
 * `Pod` (core `v1`, short name `po`, category `all`): containers must be named and have an
 * image. Nothing runs it: its status is what a writer of status says. NAME READY STATUS
 * RESTARTS AGE (and IP, NODE… with `-o wide`).
 */
export const Pod = defineKind({
  group: "",
  version: "v1",
  kind: "Pod",
  scope: "Namespaced",
  shortNames: ["po"],
  categories: ["all"],
  spec: apiSchema<PodSpec>(`${core}.PodSpec`, {
    rules: (spec, errors) => checkPodSpec(spec, "", errors),
    normalize: podSpecDefaults,
  }),
  status: apiSchema<PodStatus>(`${core}.PodStatus`),
  printerColumns: [
    column("Ready", ".status.containerStatuses", podReady, {
      description: "The aggregate readiness state of this pod for accepting traffic.",
    }),
    column("Status", ".status.phase", podStatus, {
      description: "The aggregate status of the containers in this pod.",
    }),
    column("Restarts", ".status.containerStatuses", podRestarts, {
      description:
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    }),
    age,
    column("IP", ".status.podIP", (o) => o.status?.podIP ?? "<none>", { priority: 1 }),
    column("Node", ".spec.nodeName", (o) => o.spec?.nodeName ?? "<none>", { priority: 1 }),
    column(
      "Nominated Node",
      ".status.nominatedNodeName",
      (o) => o.status?.nominatedNodeName ?? "<none>",
      { priority: 1 },
    ),
    column(
      "Readiness Gates",
      ".spec.readinessGates",
      (o) => {
        const gates = (o.spec?.readinessGates ?? []) as { conditionType: string }[];
        if (gates.length === 0) return "<none>";
        const conditions = (o.status?.conditions ?? []) as { type: string; status: string }[];
        const ready = gates.filter((g) =>
          conditions.some((c) => c.type === g.conditionType && c.status === "True"),
        ).length;
        return `${ready}/${gates.length}`;
      },
      { priority: 1 },
    ),
  ],
});

/**
 * `Service` (core `v1`, short name `svc`, category `all`): stored as given — no cluster IP is
 * allocated, nothing routes traffic. NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE.
 */
export const Service = defineKind({
  group: "",
  version: "v1",
  kind: "Service",
  scope: "Namespaced",
  shortNames: ["svc"],
  categories: ["all"],
  spec: apiSchema<ServiceSpec>(`${core}.ServiceSpec`, {
    normalize: serviceDefaults,
    rules: checkServiceSpec,
  }),
  status: apiSchema<ServiceStatus>(`${core}.ServiceStatus`),
  printerColumns: [
    column("Type", ".spec.type", (o) => o.spec?.type ?? "ClusterIP"),
    column("Cluster-IP", ".spec.clusterIP", (o) => o.spec?.clusterIP || "<none>"),
    column("External-IP", ".spec.externalIPs", serviceExternalIp),
    column("Port(s)", ".spec.ports", servicePorts),
    age,
    column("Selector", ".spec.selector", (o) => labelsText(o.spec?.selector), { priority: 1 }),
  ],
});

/** `ServiceAccount` (core `v1`, short name `sa`): flat. NAME SECRETS AGE. */
export const ServiceAccount = defineKind({
  group: "",
  version: "v1",
  kind: "ServiceAccount",
  scope: "Namespaced",
  layout: "flat",
  shortNames: ["sa"],
  spec: apiSchema<Body<ServiceAccountObject>>(`${core}.ServiceAccount`, { shape: "body" }),
  printerColumns: [
    column("Secrets", ".secrets", (o) => (o.secrets ?? []).length, { type: "integer" }),
    age,
  ],
});

/** `Endpoints` (core `v1`, short name `ep`): flat `subsets`. NAME ENDPOINTS AGE. */
export const Endpoints = defineKind({
  group: "",
  version: "v1",
  kind: "Endpoints",
  plural: "endpoints",
  scope: "Namespaced",
  layout: "flat",
  shortNames: ["ep"],
  spec: apiSchema<Body<EndpointsObject>>(`${core}.Endpoints`, { shape: "body" }),
  printerColumns: [column("Endpoints", ".subsets", endpointsText), age],
});

/**
 * `PersistentVolumeClaim` (core `v1`, short name `pvc`): nothing binds it to a volume.
 * NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE.
 */
export const PersistentVolumeClaim = defineKind({
  group: "",
  version: "v1",
  kind: "PersistentVolumeClaim",
  scope: "Namespaced",
  shortNames: ["pvc"],
  spec: apiSchema<PersistentVolumeClaimSpec>(`${core}.PersistentVolumeClaimSpec`, {
    normalize: persistentVolumeClaimDefaults,
  }),
  status: apiSchema<PersistentVolumeClaimStatus>(`${core}.PersistentVolumeClaimStatus`),
  printerColumns: [
    column("Status", ".status.phase", (o) =>
      o.metadata?.deletionTimestamp ? "Terminating" : (o.status?.phase ?? "Pending"),
    ),
    column("Volume", ".spec.volumeName", (o) => o.spec?.volumeName ?? ""),
    column("Capacity", ".status.capacity.storage", (o) =>
      o.spec?.volumeName ? (o.status?.capacity?.storage ?? "") : "",
    ),
    column("Access Modes", ".status.accessModes", (o) =>
      o.spec?.volumeName ? accessModes(o.status?.accessModes) : "",
    ),
    column(
      "StorageClass",
      ".spec.storageClassName",
      (o) =>
        o.spec?.storageClassName ??
        o.metadata?.annotations?.["volume.beta.kubernetes.io/storage-class"] ??
        "<unset>",
    ),
    column(
      "VolumeAttributesClass",
      ".spec.volumeAttributesClassName",
      (o) => o.spec?.volumeAttributesClassName ?? "<unset>",
    ),
    age,
    column("VolumeMode", ".spec.volumeMode", (o) => o.spec?.volumeMode ?? "Filesystem", {
      priority: 1,
    }),
  ],
});
