/** Kubernetes' `autoscaling/v1` HorizontalPodAutoscaler. Nothing scales by it. */
import type {
  HorizontalPodAutoscalerSpec,
  HorizontalPodAutoscalerStatus,
} from "kubernetes-types/autoscaling/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import { age, column, hpaTargets } from "./columns.js";

const autoscaling = "k8s.io.api.autoscaling.v1";

/**
 * `HorizontalPodAutoscaler` (`autoscaling/v1`, short name `hpa`, category `all`).
 * NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE.
 */
export const HorizontalPodAutoscaler = defineKind({
  group: "autoscaling",
  version: "v1",
  kind: "HorizontalPodAutoscaler",
  scope: "Namespaced",
  shortNames: ["hpa"],
  categories: ["all"],
  spec: apiSchema<HorizontalPodAutoscalerSpec>(`${autoscaling}.HorizontalPodAutoscalerSpec`, {
    normalize: (spec) => ({ ...spec, minReplicas: spec.minReplicas ?? 1 }),
  }),
  status: apiSchema<HorizontalPodAutoscalerStatus>(`${autoscaling}.HorizontalPodAutoscalerStatus`),
  printerColumns: [
    column(
      "Reference",
      ".spec.scaleTargetRef.name",
      (o) => `${o.spec?.scaleTargetRef?.kind ?? ""}/${o.spec?.scaleTargetRef?.name ?? ""}`,
    ),
    column("Targets", ".spec.targetCPUUtilizationPercentage", hpaTargets),
    column("MinPods", ".spec.minReplicas", (o) => String(o.spec?.minReplicas ?? 1)),
    column("MaxPods", ".spec.maxReplicas", (o) => String(o.spec?.maxReplicas ?? 0)),
    column("Replicas", ".status.currentReplicas", (o) => String(o.status?.currentReplicas ?? 0)),
    age,
  ],
});
