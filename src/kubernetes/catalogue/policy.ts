/** Kubernetes' `policy/v1` PodDisruptionBudget. Nothing evicts pods by it. */
import type {
  PodDisruptionBudgetSpec,
  PodDisruptionBudgetStatus,
} from "kubernetes-types/policy/v1.js";
import { defineKind } from "../../model/kind.js";
import { apiSchema } from "./api-schema.js";
import { age, column } from "./columns.js";

/**
 * `PodDisruptionBudget` (`policy/v1`, short name `pdb`).
 * NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE.
 */
export const PodDisruptionBudget = defineKind({
  group: "policy",
  version: "v1",
  kind: "PodDisruptionBudget",
  scope: "Namespaced",
  shortNames: ["pdb"],
  spec: apiSchema<PodDisruptionBudgetSpec>("k8s.io.api.policy.v1.PodDisruptionBudgetSpec"),
  status: apiSchema<PodDisruptionBudgetStatus>("k8s.io.api.policy.v1.PodDisruptionBudgetStatus"),
  printerColumns: [
    column("Min Available", ".spec.minAvailable", (o) =>
      o.spec?.minAvailable === undefined ? "N/A" : String(o.spec.minAvailable),
    ),
    column("Max Unavailable", ".spec.maxUnavailable", (o) =>
      o.spec?.maxUnavailable === undefined ? "N/A" : String(o.spec.maxUnavailable),
    ),
    column(
      "Allowed Disruptions",
      ".status.disruptionsAllowed",
      (o) => (typeof o.status?.disruptionsAllowed === "number" ? o.status.disruptionsAllowed : 0),
      { type: "integer" },
    ),
    age,
  ],
});
