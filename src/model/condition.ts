/**
 * Kubernetes' `metav1.Condition` and the status shape most kinds share, as zod schemas, so that a
 * kind's status can be declared with them and `setCondition`/`writeStatus` type-check against it
 * without retyping `metav1.Condition`.
 */
import { z } from "zod";

/** `metav1.Condition`'s rules for `type`: an optional DNS-subdomain prefix and a name. */
const conditionType =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
/** `metav1.Condition`'s rules for `reason`: CamelCase, `_`, `,` and `:` allowed inside. */
const conditionReason = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/**
 * One condition of an object's status, as Kubernetes' `metav1.Condition` (and its CRD schema):
 *
 * - `type` — CamelCase, optionally prefixed by a domain (`example.com/Ready`); at most 316
 *   characters;
 * - `status` — `"True"`, `"False"` or `"Unknown"`;
 * - `observedGeneration` — the `metadata.generation` the condition was set from (optional, ≥ 0);
 * - `lastTransitionTime` — when `status` last changed (RFC 3339), kept by `setCondition` while
 *   `status` stays the same;
 * - `reason` — CamelCase, 1 to 1,024 characters;
 * - `message` — for people, at most 32,768 characters (may be empty).
 *
 * A zod schema and the type of its values; in a CRD it becomes the same schema Kubernetes
 * generates for `metav1.Condition`.
 *
 * @example
 * ```ts
 * const Widget = defineKind({
 *   group: "example.setpoint.dev", version: "v1", kind: "Widget", scope: "Namespaced",
 *   spec: z.object({ replicas: z.number().int() }),
 *   status: z.object({ conditions: z.array(Condition).optional() }),
 * });
 * ```
 */
export const Condition = z.object({
  type: z.string().max(316).regex(conditionType),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.string().meta({ format: "date-time" }),
  reason: z.string().min(1).max(1024).regex(conditionReason),
  message: z.string().max(32768),
});

/** One condition, as Kubernetes' `metav1.Condition`; see the {@link Condition} schema. */
export type Condition = z.output<typeof Condition>;

/**
 * The status most kinds share: `observedGeneration` (the generation the status was written
 * from, stamped by `writeStatus`) and `conditions` (set with `setCondition`), both optional.
 * Extend it with the kind's own fields.
 *
 * @example
 * ```ts
 * const Widget = defineKind({
 *   group: "example.setpoint.dev", version: "v1", kind: "Widget", scope: "Namespaced",
 *   spec: z.object({ replicas: z.number().int().min(0) }),
 *   status: StandardStatus.extend({ readyReplicas: z.number().int().optional() }),
 * });
 * // in a reconcile:
 * const status = setCondition(widget.status, { type: "Ready", status: "True", reason: "Running", message: "" });
 * await writeStatus(ctx.client, widget, status);
 * ```
 */
export const StandardStatus = z.object({
  observedGeneration: z.number().int().min(0).optional(),
  conditions: z.array(Condition).optional(),
});

/** The type of {@link StandardStatus}'s values. */
export type StandardStatus = z.output<typeof StandardStatus>;
