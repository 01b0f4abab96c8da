/**
 * Events, both ways Kubernetes serves them: `events.k8s.io/v1` (the kind setpoint stores,
 * {@link Event}) and core `v1` (`/api/v1/namespaces/{ns}/events`, what `kubectl get events`,
 * `kubectl events` and `kubectl describe` read), one store, converted field by field as the API
 * server converts between them (`pkg/apis/events/v1/conversion.go`):
 *
 * | core v1 | events.k8s.io/v1 |
 * |---|---|
 * | `involvedObject` | `regarding` |
 * | `message` | `note` |
 * | `source` | `deprecatedSource` |
 * | `firstTimestamp` / `lastTimestamp` | `deprecatedFirstTimestamp` / `deprecatedLastTimestamp` |
 * | `count` | `deprecatedCount` |
 * | `reportingComponent` | `reportingController` |
 *
 * and the rest (`reason`, `type`, `action`, `related`, `eventTime`, `series`,
 * `reportingInstance`) by name. Field selectors and the `kubectl get` table are Kubernetes'.
 */
import type { StoredObject } from "../../backend/backend.js";
import { invalid, type StatusCause } from "../../model/api-error.js";
import { humanDuration } from "../../model/duration.js";
import { Event } from "../builtin-kinds.js";
import { partialObject, stringColumn } from "./table.js";

type Fields = Record<string, unknown>;

const rfc3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/**
 * A time in the form of Kubernetes' `metav1.MicroTime` (six fractional digits), the only one
 * client-go parses for `eventTime` and `series.lastObservedTime`: events stored with another
 * number of digits (written by hand, or by an older setpoint) are served in it.
 */
export function asMicroTime(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const match = rfc3339.exec(value);
  if (match === null) return value;
  return `${match[1]}.${(match[2] ?? "").padEnd(6, "0").slice(0, 6)}${match[3]}`;
}

/** A stored Event with its micro-times in Kubernetes' form. */
export function withMicroTimes(stored: StoredObject): StoredObject {
  const e = stored as unknown as Fields;
  const series = e.series as { lastObservedTime?: unknown } | undefined;
  if (
    asMicroTime(e.eventTime) === e.eventTime &&
    asMicroTime(series?.lastObservedTime) === series?.lastObservedTime
  )
    return stored;
  return {
    ...stored,
    ...(e.eventTime === undefined ? {} : { eventTime: asMicroTime(e.eventTime) }),
    ...(series === undefined
      ? {}
      : { series: { ...series, lastObservedTime: asMicroTime(series.lastObservedTime) } }),
  } as StoredObject;
}

function isEmpty(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === "" ||
    (typeof value === "object" && Object.keys(value as object).length === 0)
  );
}

/** `fields` without the empty ones (Go's `omitempty`, and zero times). */
function compact(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => !isEmpty(v)));
}

/** A stored Event as core `v1` shows it (empty structs and zero times as Go writes them). */
export function toCoreEvent(stored: StoredObject): StoredObject {
  const e = withMicroTimes(stored) as unknown as Fields;
  return {
    kind: "Event",
    apiVersion: "v1",
    metadata: stored.metadata,
    involvedObject: e.regarding ?? {},
    ...compact({ reason: e.reason, message: e.note }),
    source: e.deprecatedSource ?? {},
    firstTimestamp: e.deprecatedFirstTimestamp ?? null,
    lastTimestamp: e.deprecatedLastTimestamp ?? null,
    ...compact({ count: e.deprecatedCount, type: e.type }),
    eventTime: e.eventTime ?? null,
    ...compact({ series: e.series, action: e.action, related: e.related }),
    reportingComponent: e.reportingController ?? "",
    reportingInstance: e.reportingInstance ?? "",
  } as unknown as StoredObject;
}

/** A core `v1` Event (as sent) in the stored shape. */
export function fromCoreEvent(core: Fields): Fields {
  return {
    apiVersion: Event.apiVersion,
    kind: Event.kind,
    metadata: core.metadata,
    ...compact({
      eventTime: core.eventTime,
      series: core.series,
      reportingController: core.reportingComponent,
      reportingInstance: core.reportingInstance,
      action: core.action,
      reason: core.reason,
      regarding: core.involvedObject,
      related: core.related,
      note: core.message,
      type: core.type,
      deprecatedSource: core.source,
      deprecatedFirstTimestamp: core.firstTimestamp,
      deprecatedLastTimestamp: core.lastTimestamp,
      deprecatedCount: core.count === 0 ? undefined : core.count,
    }),
  };
}

function text(value: unknown): string {
  return typeof value === "string"
    ? value
    : value === undefined || value === null
      ? ""
      : String(value);
}

function reference(object: unknown, field: string): string {
  return text((object as Fields | undefined)?.[field]);
}

const referenceFields = [
  "kind",
  "namespace",
  "name",
  "uid",
  "apiVersion",
  "resourceVersion",
  "fieldPath",
];

/**
 * The fields a core `v1` Event list or watch may select on (`AddFieldLabelConversionsForEvent`,
 * read from the object as Kubernetes' `ToSelectableFields` does: `source` falls back to the
 * reporting controller).
 */
export const coreEventFields: Readonly<Record<string, (object: StoredObject) => string>> = {
  ...Object.fromEntries(
    referenceFields.map((f) => [
      `involvedObject.${f}`,
      (o: StoredObject) => reference((o as unknown as Fields).involvedObject, f),
    ]),
  ),
  reason: (o) => text((o as unknown as Fields).reason),
  reportingComponent: (o) => text((o as unknown as Fields).reportingComponent),
  source: (o) =>
    reference((o as unknown as Fields).source, "component") ||
    text((o as unknown as Fields).reportingComponent),
  type: (o) => text((o as unknown as Fields).type),
};

/** The fields an `events.k8s.io/v1` Event list or watch may select on (the same, renamed). */
export const eventFields: Readonly<Record<string, (object: StoredObject) => string>> = {
  ...Object.fromEntries(
    referenceFields.map((f) => [
      `regarding.${f}`,
      (o: StoredObject) => reference((o as unknown as Fields).regarding, f),
    ]),
  ),
  reason: (o) => text((o as unknown as Fields).reason),
  reportingController: (o) => text((o as unknown as Fields).reportingController),
  source: (o) =>
    reference((o as unknown as Fields).deprecatedSource, "component") ||
    text((o as unknown as Fields).reportingController),
  type: (o) => text((o as unknown as Fields).type),
};

function since(time: unknown, now: number): string {
  const at = typeof time === "string" ? Date.parse(time) : Number.NaN;
  return Number.isNaN(at) ? "<unknown>" : humanDuration(now - at);
}

/**
 * The Table `kubectl get events` prints, for Events in the core `v1` shape: Kubernetes'
 * `printEvent` columns (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE; with `-o wide` also
 * SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME), computed the same way.
 */
export function eventTable(
  events: readonly StoredObject[],
  metadata: Record<string, unknown>,
  now: number,
) {
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: [
      stringColumn("Last Seen"),
      stringColumn("Type"),
      stringColumn("Reason"),
      stringColumn("Object"),
      stringColumn("Subobject", 1),
      stringColumn("Source", 1),
      stringColumn("Message"),
      stringColumn("First Seen", 1),
      stringColumn("Count", 1),
      stringColumn("Name", 1, "name"),
    ],
    rows: events.map((event) => {
      const e = event as unknown as Fields;
      const involved = (e.involvedObject ?? {}) as Fields;
      const series = e.series as { count?: number; lastObservedTime?: string } | undefined;
      const first = isEmpty(e.firstTimestamp)
        ? since(e.eventTime, now)
        : since(e.firstTimestamp, now);
      let last = isEmpty(e.lastTimestamp) ? first : since(e.lastTimestamp, now);
      let count = typeof e.count === "number" && e.count > 0 ? e.count : 1;
      if (series !== undefined) {
        last = since(series.lastObservedTime, now);
        count = series.count ?? count;
      }
      const kind = text(involved.kind).toLowerCase();
      const target = text(involved.name) === "" ? kind : `${kind}/${text(involved.name)}`;
      const source = e.source as Fields | undefined;
      const component = reference(source, "component") || text(e.reportingComponent);
      const instance = reference(source, "host") || text(e.reportingInstance);
      return {
        cells: [
          last,
          text(e.type),
          text(e.reason),
          target,
          text(involved.fieldPath),
          instance === "" ? component : `${component}, ${instance}`,
          text(e.message).trim(),
          first,
          count,
          event.metadata.name,
        ],
        object: partialObject(event),
      };
    }),
  };
}

/**
 * The rules Kubernetes checks on an Event's create (`ValidateEventCreate`), with the field names
 * of the API it came through: old-style events (no `eventTime`) need only a namespace that
 * matches their object's; new-style ones need a reporting controller and instance, an action
 * and a reason; through `events.k8s.io/v1` every event is new-style, of type Normal or Warning,
 * with no deprecated fields. `stored` is the event in the stored shape.
 */
export function checkEventCreate(stored: Fields, api: "v1" | "events.k8s.io/v1"): void {
  const core = api === "v1";
  const name = (field: string) =>
    core
      ? ({
          regarding: "involvedObject",
          note: "message",
          reportingController: "reportingComponent",
        }[field] ?? field)
      : field;
  const causes: StatusCause[] = [];
  const fault = (field: string, message: string, reason = "FieldValueInvalid") =>
    causes.push({ field: name(field), message, reason });
  const metadata = (stored.metadata ?? {}) as Fields;
  const namespace = text(metadata.namespace);
  const regarding = (stored.regarding ?? {}) as Fields;
  const regardingNamespace = text(regarding.namespace);
  const newStyle = !isEmpty(stored.eventTime);
  if (!newStyle) {
    if (!core) fault("eventTime", "Required value", "FieldValueRequired");
    if (
      regardingNamespace === ""
        ? namespace !== "" && namespace !== "default"
        : regardingNamespace !== namespace
    )
      fault(
        "regarding.namespace",
        `Invalid value: "${regardingNamespace}": does not match event.namespace`,
      );
  } else {
    if (regardingNamespace === "" && namespace !== "default" && namespace !== "kube-system")
      fault("regarding.namespace", `Invalid value: "": does not match event.namespace`);
    for (const [field, limit] of [
      ["reportingController", 0],
      ["reportingInstance", 128],
      ["action", 128],
      ["reason", 128],
    ] as const) {
      const value = text(stored[field]);
      if (value === "") fault(field, "Required value", "FieldValueRequired");
      else if (limit > 0 && value.length > limit)
        fault(field, `Invalid value: "": can have at most ${limit} characters`);
    }
    if (text(stored.note).length > 1024)
      fault("note", `Invalid value: "": can have at most 1024 characters`);
  }
  if (!core) {
    if (stored.type !== "Normal" && stored.type !== "Warning")
      fault("type", `Invalid value: "": has invalid value: ${text(stored.type)}`);
    for (const field of [
      "deprecatedFirstTimestamp",
      "deprecatedLastTimestamp",
      "deprecatedCount",
      "deprecatedSource",
    ])
      if (!isEmpty(stored[field])) fault(field, `Invalid value: "": needs to be unset`);
  }
  if (causes.length > 0)
    throw invalid(
      { group: core ? "" : "events.k8s.io", kind: "Event", name: text(metadata.name) },
      causes,
    );
}
