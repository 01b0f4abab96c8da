/**
 * Kubernetes' own kinds, in one place: those clients expect every API server to have —
 * `Namespace` (v1), `Service` (v1), `Lease` (coordination.k8s.io/v1), `Event`
 * (events.k8s.io/v1) and `CustomResourceDefinition` (apiextensions.k8s.io/v1) — and `CoreEvent`,
 * the core v1 Event served as a view of `Event`. Namespace, Lease and Event are defined beside
 * the code that needs them on every store (the typed client, leader election, the event
 * recorder), which must not load this module, and are re-exported here, not redefined.
 *
 * The rest of Kubernetes' built-in kinds, typed and validated, are the catalogue
 * (`catalogue/`, exported from `setpoint/kubernetes`), which importing `setpoint` never loads;
 * its `Service` is the typed twin of the loose one here (same identity: a store keeps them as
 * one kind), and `setpoint serve` serves the catalogue's.
 */
import { z } from "zod";
import { Event, objectReference, time } from "../controller/events.js";
import { Lease } from "../coordination/lease.js";
import { defineKind } from "../model/kind.js";
import { Namespace } from "../model/namespace.js";
import { crdSpecIssues } from "./crd-validation.js";

export { Event, Lease, Namespace };

/**
 * Kubernetes' `Service` (core `v1`), stored as given, its spec unchecked (the catalogue's
 * `Service` of `setpoint/kubernetes` is typed and validated): no cluster IPs are allocated and
 * nothing routes traffic. Served so that clients that expect services find them (`kubectl cluster-info`
 * lists `kube-system`'s, `kubectl get all` includes them) and controllers can manage them.
 */
export const Service = defineKind({
  group: "",
  version: "v1",
  kind: "Service",
  scope: "Namespaced",
  shortNames: ["svc"],
  categories: ["all"],
  spec: z.record(z.string(), z.unknown()).default({}),
  status: z.record(z.string(), z.unknown()),
});

const crdVersion = z.object({
  name: z.string(),
  served: z.boolean(),
  storage: z.boolean(),
  schema: z.object({ openAPIV3Schema: z.record(z.string(), z.unknown()) }).optional(),
  subresources: z
    .object({
      status: z.record(z.string(), z.unknown()).optional(),
      scale: z
        .object({
          specReplicasPath: z.string(),
          statusReplicasPath: z.string(),
          labelSelectorPath: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  additionalPrinterColumns: z
    .array(
      z.object({
        name: z.string(),
        type: z.string(),
        jsonPath: z.string(),
        description: z.string().optional(),
        priority: z.number().int().optional(),
        format: z.string().optional(),
      }),
    )
    .optional(),
});

/**
 * Kubernetes' `CustomResourceDefinition` (apiextensions.k8s.io/v1): a kind defined at runtime.
 * Every write, to any store, is checked by Kubernetes' rules for a CRD on its own; `setpoint
 * serve` serves the kinds of the CRDs it stores.
 */
export const CustomResourceDefinition = defineKind({
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  scope: "Cluster",
  shortNames: ["crd", "crds"],
  spec: z
    .object({
      group: z.string(),
      names: z.object({
        plural: z.string(),
        singular: z.string().optional(),
        kind: z.string(),
        listKind: z.string().optional(),
        shortNames: z.array(z.string()).optional(),
        categories: z.array(z.string()).optional(),
      }),
      scope: z.enum(["Namespaced", "Cluster"]),
      versions: z.array(crdVersion).min(1),
    })
    // Kubernetes' rules for a CRD on its own, on every write to any store (each version's schema
    // compiled, once, on the way); what needs the name or the kinds a server serves,
    // `setpoint serve` checks (crdServingIssues).
    .superRefine((spec, ctx) => {
      const issues = crdSpecIssues(spec);
      for (const issue of issues)
        ctx.addIssue({ code: "custom", path: [...issue.path], message: issue.message });
    }),
  status: z.record(z.string(), z.unknown()),
});

/** Every built-in kind of `setpoint serve`. */
export const builtinKinds = [Namespace, Service, Lease, Event, CustomResourceDefinition] as const;

/**
 * The core `v1` Event, as clients of `/api/v1/…/events` see it: a view of {@link Event}, served
 * by `setpoint serve` and converted on the way in and out (see `apiserver/events.ts`); never
 * registered or stored itself.
 */
export const CoreEvent = defineKind({
  group: "",
  version: "v1",
  kind: "Event",
  scope: "Namespaced",
  layout: "flat",
  shortNames: ["ev"],
  spec: z.object({
    involvedObject: objectReference,
    reason: z.string().optional(),
    message: z.string().optional(),
    source: z.object({ component: z.string().optional(), host: z.string().optional() }).optional(),
    firstTimestamp: time,
    lastTimestamp: time,
    count: z.number().int().optional(),
    type: z.string().optional(),
    eventTime: time,
    series: z
      .object({ count: z.number().int().optional(), lastObservedTime: z.string().optional() })
      .optional(),
    action: z.string().optional(),
    related: objectReference.optional(),
    reportingComponent: z.string().optional(),
    reportingInstance: z.string().optional(),
  }),
});
