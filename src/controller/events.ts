/**
 * Events: what happened to an object, for people (`kubectl describe`, `kubectl get events`),
 * written as `events.k8s.io/v1` Event objects into the same control plane. Repeats of the same
 * event fold into one object whose `series.count` grows.
 */
import { z } from "zod";
import type { ControlPlane } from "../backend/control-plane.js";
import { ApiError } from "../model/api-error.js";
import type { Clock } from "../model/clock.js";
import { fnv1a } from "../model/hash.js";
import { defineKind } from "../model/kind.js";
import type { Frozen, Resource } from "../model/resource.js";
import type { Logger } from "../observability/logging.js";

/** Kubernetes' `ObjectReference`, as events name the object they are about. */
export const objectReference = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

/** A time as Kubernetes writes it in JSON: RFC 3339, or `null` for none. */
export const time = z.string().nullable().optional();

/**
 * The `events.k8s.io/v1` Event kind: its fields sit at the top level, as in Kubernetes. It is
 * the one kind events are stored as; `setpoint serve` also serves them as core `v1` Events
 * (`involvedObject`, `message`, `source`, `firstTimestamp`, `lastTimestamp`, `count`), converted
 * as Kubernetes converts them: those live here as `regarding`, `note`, `deprecatedSource`,
 * `deprecatedFirstTimestamp`, `deprecatedLastTimestamp` and `deprecatedCount`. The store takes
 * both old-style events (no `eventTime`) and new ones; the stricter rules of the
 * `events.k8s.io/v1` API (an `eventTime`, `type` Normal or Warning, a `note` of at most 1,024
 * characters, no deprecated fields) are checked where that API is served.
 */
export const Event = defineKind({
  group: "events.k8s.io",
  version: "v1",
  kind: "Event",
  scope: "Namespaced",
  layout: "flat",
  shortNames: ["ev"],
  spec: z.object({
    eventTime: time,
    series: z.object({ count: z.number().int(), lastObservedTime: z.string() }).optional(),
    reportingController: z.string().optional(),
    reportingInstance: z.string().optional(),
    action: z.string().optional(),
    reason: z.string().optional(),
    regarding: objectReference.optional(),
    related: objectReference.optional(),
    note: z.string().optional(),
    type: z.string().optional(),
    deprecatedSource: z
      .object({ component: z.string().optional(), host: z.string().optional() })
      .optional(),
    deprecatedFirstTimestamp: time,
    deprecatedLastTimestamp: time,
    deprecatedCount: z.number().int().optional(),
  }),
});

/** One event to record. */
export interface EventInput {
  /** @default "Normal" */
  readonly type?: "Normal" | "Warning";
  /** A short CamelCase reason, e.g. `ScaledUp`. */
  readonly reason: string;
  /** For people; cut to 1,024 characters. */
  readonly message: string;
  /** What the controller did, e.g. `Scale`. @default the reason */
  readonly action?: string;
}

/** Records Events about one object. */
export interface EventRecorder {
  /** Writes (or folds into) an Event; failures are logged, never thrown. */
  record(event: EventInput): Promise<void>;
}

type Regarding = Frozen<Resource<unknown, unknown>>;

/**
 * Writes Events for a controller. An event with the same object, type, reason and message as
 * one already written folds into it: `series.count` grows and `series.lastObservedTime` moves.
 */
export class EventWriter {
  constructor(
    private readonly plane: ControlPlane,
    private readonly controller: string,
    private readonly instance: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** A recorder for events about `object`. */
  about(object: Regarding): EventRecorder {
    return { record: (event) => this.record(object, event) };
  }

  private async record(object: Regarding, input: EventInput): Promise<void> {
    const type = input.type ?? "Normal";
    const note = input.message.slice(0, 1024);
    const namespace = object.metadata.namespace ?? "default";
    // One name per (object, type, reason, message): repeats land on the same Event.
    const name = `${object.metadata.name}.${fingerprint(`${object.metadata.uid}|${type}|${input.reason}|${note}`)}`;
    const events = this.plane.resources(Event, { namespace });
    const now = microTime(this.clock.wallNow());
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const existing = await events.get(name).catch((err) => {
          if (ApiError.is(err, "NotFound")) return undefined;
          throw err;
        });
        try {
          if (existing === undefined) {
            await events.create({
              metadata: { name, namespace },
              eventTime: now,
              reportingController: this.controller,
              reportingInstance: this.instance,
              action: input.action ?? input.reason,
              reason: input.reason,
              regarding: {
                apiVersion: object.apiVersion,
                kind: object.kind,
                namespace: object.metadata.namespace,
                name: object.metadata.name,
                uid: object.metadata.uid,
                resourceVersion: object.metadata.resourceVersion,
              },
              note,
              type,
            } as never);
          } else {
            const count =
              ((existing as unknown as { series?: { count: number } }).series?.count ?? 1) + 1;
            await events.patch(name, {
              type: "merge",
              patch: {
                metadata: { resourceVersion: existing.metadata.resourceVersion },
                series: { count, lastObservedTime: now },
              },
            });
          }
          return;
        } catch (err) {
          if (!ApiError.is(err, "Conflict") && !ApiError.is(err, "AlreadyExists")) throw err;
        }
      }
    } catch (err) {
      this.log.warn({ err, reason: input.reason }, "could not record event");
    }
  }
}

/**
 * A time as Kubernetes' `metav1.MicroTime` is written: RFC 3339 with exactly six fractional
 * digits (`2026-01-01T00:00:00.123000Z`), the only form client-go parses (`eventTime`,
 * `series.lastObservedTime`); JavaScript's three-digit `toISOString()` is refused by kubectl.
 */
export function microTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** A short, stable hash (FNV-1a, 32 bits) in base 36. */
function fingerprint(text: string): string {
  return fnv1a(text).toString(36);
}
