/**
 * Kubernetes' `apps/v1` kinds: Deployment, StatefulSet, DaemonSet, ReplicaSet — each in
 * `kubectl get all`, the first three and ReplicaSet with a `/scale` subresource where Kubernetes
 * has one. Nothing runs them (as in envtest): a Deployment makes no ReplicaSets or Pods.
 */
import type {
  DaemonSetSpec,
  DaemonSetStatus,
  DeploymentSpec,
  DeploymentStatus,
  ReplicaSetSpec,
  ReplicaSetStatus,
  StatefulSetSpec,
  StatefulSetStatus,
} from "kubernetes-types/apps/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import { age, column, count, labelsText, readyOf, templateColumns } from "./columns.js";
import {
  daemonSetDefaults,
  deploymentDefaults,
  replicaSetDefaults,
  statefulSetDefaults,
} from "./defaults.js";
import { checkSelectedTemplate } from "./rules.js";

const apps = "k8s.io.api.apps.v1";
// biome-ignore lint/suspicious/noExplicitAny: columns read any kind's JSON
const template = (o: any) => o.spec?.template;
// Kubernetes computes the Scale's selector from `spec.selector`; a path can only point at a
// string, so the Scale of these kinds carries none.
const scale = { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas" };

/**
 * `Deployment` (`apps/v1`, short name `deploy`, category `all`, `/scale`): a selector and a
 * template whose labels it selects; containers named, with images.
 * NAME READY UP-TO-DATE AVAILABLE AGE (CONTAINERS IMAGES SELECTOR with `-o wide`).
 *
 * @example
 * ```ts
 * await plane.resources(Deployment).create({
 *   metadata: { name: "web", namespace: "default" },
 *   spec: {
 *     replicas: 2,
 *     selector: { matchLabels: { app: "web" } },
 *     template: {
 *       metadata: { labels: { app: "web" } },
 *       spec: { containers: [{ name: "web", image: "nginx:1.27" }] },
 *     },
 *   },
 * });
 * ```
 */
export const Deployment = defineKind({
  group: "apps",
  version: "v1",
  kind: "Deployment",
  scope: "Namespaced",
  shortNames: ["deploy"],
  categories: ["all"],
  spec: apiSchema<DeploymentSpec>(`${apps}.DeploymentSpec`, {
    rules: checkSelectedTemplate,
    normalize: deploymentDefaults,
  }),
  status: apiSchema<DeploymentStatus>(`${apps}.DeploymentStatus`),
  scale,
  printerColumns: [
    column("Ready", ".status.readyReplicas", readyOf, {
      description: "Number of the pod with ready state",
    }),
    count("Up-to-date", ".status.updatedReplicas", (o) => o.status?.updatedReplicas),
    count("Available", ".status.availableReplicas", (o) => o.status?.availableReplicas),
    age,
    ...templateColumns(template, true),
  ],
});

/**
 * `StatefulSet` (`apps/v1`, short name `sts`, category `all`, `/scale`).
 * NAME READY AGE (CONTAINERS IMAGES with `-o wide`).
 */
export const StatefulSet = defineKind({
  group: "apps",
  version: "v1",
  kind: "StatefulSet",
  scope: "Namespaced",
  shortNames: ["sts"],
  categories: ["all"],
  spec: apiSchema<StatefulSetSpec>(`${apps}.StatefulSetSpec`, {
    rules: checkSelectedTemplate,
    normalize: statefulSetDefaults,
  }),
  status: apiSchema<StatefulSetStatus>(`${apps}.StatefulSetStatus`),
  scale,
  printerColumns: [
    column("Ready", ".status.readyReplicas", readyOf, {
      description: "Number of the pod with ready state",
    }),
    age,
    ...templateColumns(template, false),
  ],
});

/**
 * `DaemonSet` (`apps/v1`, short name `ds`, category `all`; no `/scale`, as in Kubernetes).
 * NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE.
 */
export const DaemonSet = defineKind({
  group: "apps",
  version: "v1",
  kind: "DaemonSet",
  scope: "Namespaced",
  shortNames: ["ds"],
  categories: ["all"],
  spec: apiSchema<DaemonSetSpec>(`${apps}.DaemonSetSpec`, {
    rules: checkSelectedTemplate,
    normalize: daemonSetDefaults,
  }),
  status: apiSchema<DaemonSetStatus>(`${apps}.DaemonSetStatus`),
  printerColumns: [
    count("Desired", ".status.desiredNumberScheduled", (o) => o.status?.desiredNumberScheduled),
    count("Current", ".status.currentNumberScheduled", (o) => o.status?.currentNumberScheduled),
    count("Ready", ".status.numberReady", (o) => o.status?.numberReady),
    count("Up-to-date", ".status.updatedNumberScheduled", (o) => o.status?.updatedNumberScheduled),
    count("Available", ".status.numberAvailable", (o) => o.status?.numberAvailable),
    column("Node Selector", ".spec.template.spec.nodeSelector", (o) =>
      labelsText(o.spec?.template?.spec?.nodeSelector),
    ),
    age,
    ...templateColumns(template, true),
  ],
});

/**
 * `ReplicaSet` (`apps/v1`, short name `rs`, category `all`, `/scale`).
 * NAME DESIRED CURRENT READY AGE.
 */
export const ReplicaSet = defineKind({
  group: "apps",
  version: "v1",
  kind: "ReplicaSet",
  scope: "Namespaced",
  shortNames: ["rs"],
  categories: ["all"],
  spec: apiSchema<ReplicaSetSpec>(`${apps}.ReplicaSetSpec`, {
    rules: checkSelectedTemplate,
    normalize: replicaSetDefaults,
  }),
  status: apiSchema<ReplicaSetStatus>(`${apps}.ReplicaSetStatus`),
  scale,
  printerColumns: [
    column("Desired", ".spec.replicas", (o) => o.spec?.replicas ?? 1, { type: "integer" }),
    count("Current", ".status.replicas", (o) => o.status?.replicas),
    count("Ready", ".status.readyReplicas", (o) => o.status?.readyReplicas),
    age,
    ...templateColumns(template, true),
  ],
});
