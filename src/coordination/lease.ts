/**
 * The Lease kind (`coordination.k8s.io/v1`, Kubernetes' shape): what leader election and shards
 * are built on, in every backend.
 */
import { z } from "zod";
import { defineKind } from "../model/kind.js";

export const Lease = defineKind({
  group: "coordination.k8s.io",
  version: "v1",
  kind: "Lease",
  scope: "Namespaced",
  spec: z.object({
    holderIdentity: z.string().optional(),
    leaseDurationSeconds: z.number().int().optional(),
    acquireTime: z.string().optional(),
    renewTime: z.string().optional(),
    leaseTransitions: z.number().int().optional(),
    strategy: z.string().optional(),
    preferredHolder: z.string().optional(),
  }),
  printerColumns: [{ name: "Holder", type: "string", jsonPath: ".spec.holderIdentity" }],
});
