/**
 * How `setpoint serve` serves one kind: the kind clients see (discovery, OpenAPI, URLs), the
 * kind the store keeps (the same, or another one the served kind is a view of — core `v1`
 * Events are a view of `events.k8s.io/v1` ones), the fields a field selector may name beyond
 * `metadata.name`/`metadata.namespace`, and the Table `kubectl get` prints.
 */
import { createHash } from "node:crypto";
import type { StoredObject } from "../../backend/backend.js";
import { humanDuration } from "../../model/duration.js";
import { type AnyKind, kindId } from "../../model/kind.js";
import { CoreEvent, CustomResourceDefinition, Event, Service } from "../builtin-kinds.js";
import { crdOf } from "../crd.js";
import {
  checkEventCreate,
  coreEventFields,
  eventFields,
  eventTable,
  fromCoreEvent,
  toCoreEvent,
  withMicroTimes,
} from "./events.js";
import { partialObject, stringColumn, tableOf } from "./table.js";

type Fields = Record<string, unknown>;
type Metadata = Record<string, unknown>;

/** How one kind is served; see the module documentation. */
export interface ServedKind {
  /** What clients see: group, version, kind, plural, scope. */
  readonly kind: AnyKind;
  /** What the store keeps: `kind` itself unless this is a view. */
  readonly storage: AnyKind;
  /** Whether objects are converted between `storage` and `kind` on the way in and out. */
  readonly view: boolean;
  /** A stored object as clients see it. */
  toServed(stored: StoredObject): StoredObject;
  /** An object as clients send it, in the stored shape. */
  toStored(served: Fields): Fields;
  /** Fields beyond `metadata.name`/`metadata.namespace` a selector may name, read from served objects. */
  readonly fields: Readonly<Record<string, (object: StoredObject) => string>>;
  /** The `meta.k8s.io/v1` Table of served objects, their ages as of `now` (epoch ms). */
  table(objects: readonly StoredObject[], metadata: Metadata, now: number): unknown;
  /** The rules of this API for a create beyond the stored kind's schema (stored shape); throws Invalid. */
  checkCreate?(stored: Fields): void;
  /**
   * The fields of a sent object (or patch) the kind's definition does not have, for
   * `fieldValidation=Strict`, where its validator keeps them (Kubernetes' own kinds: unknown
   * fields are kept, as a client of a newer server must, but a server refuses them under Strict).
   */
  unknownFields?(sent: Fields, subresource: string | undefined): string[];
}

/** A validator that names unknown fields: the catalogue's `ApiSchema`. */
interface NamesUnknownFields {
  unknownFields(value: unknown): string[];
}

function namesUnknownFields(schema: unknown): schema is NamesUnknownFields {
  return (
    typeof schema === "object" &&
    schema !== null &&
    typeof (schema as Partial<NamesUnknownFields>).unknownFields === "function"
  );
}

/** `unknownFields` of a kind whose validators name them; see {@link ServedKind}. */
function unknownFieldsOf(kind: AnyKind): ServedKind["unknownFields"] {
  const { spec, status } = kind;
  if (!namesUnknownFields(spec)) return undefined;
  const under = (prefix: string, fields: string[]) => fields.map((f) => `${prefix}.${f}`);
  return (sent, subresource) => {
    // A Scale (or another subresource's body) is not the kind's object.
    if (subresource !== undefined && subresource !== "status") return [];
    if (subresource === "status")
      return namesUnknownFields(status) ? under("status", status.unknownFields(sent.status)) : [];
    if (kind.layout === "flat") return spec.unknownFields(sent);
    return under("spec", spec.unknownFields(sent.spec));
  };
}

const identity = <T>(object: T): T => object;

/** The text of a field as Kubernetes' field selectors compare it: absent is "". */
function fieldText(object: StoredObject, ...path: string[]): string {
  let value: unknown = object;
  for (const part of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, part)) return "";
    value = (value as Fields)[part];
  }
  return value === undefined || value === null ? "" : String(value);
}

/**
 * The fields beyond metadata's that Kubernetes lets field selectors name on its own kinds
 * (`kubectl get pods --field-selector status.phase=Running`), by kind id.
 */
const builtinFields: Readonly<
  Record<string, Readonly<Record<string, (object: StoredObject) => string>>>
> = {
  [kindId({ group: "", kind: "Pod" })]: {
    "spec.nodeName": (o) => fieldText(o, "spec", "nodeName"),
    "spec.restartPolicy": (o) => fieldText(o, "spec", "restartPolicy"),
    "spec.schedulerName": (o) => fieldText(o, "spec", "schedulerName"),
    "spec.serviceAccountName": (o) => fieldText(o, "spec", "serviceAccountName"),
    "spec.hostNetwork": (o) => String(fieldText(o, "spec", "hostNetwork") === "true"),
    "status.phase": (o) => fieldText(o, "status", "phase"),
    "status.podIP": (o) => fieldText(o, "status", "podIP"),
    "status.nominatedNodeName": (o) => fieldText(o, "status", "nominatedNodeName"),
  },
  [kindId({ group: "", kind: "Secret" })]: { type: (o) => fieldText(o, "type") },
  [kindId({ group: "apps", kind: "ReplicaSet" })]: {
    "status.replicas": (o) => fieldText(o, "status", "replicas") || "0",
  },
  [kindId({ group: "batch", kind: "Job" })]: {
    "status.successful": (o) => fieldText(o, "status", "succeeded") || "0",
  },
};

/** How a kind of the plane (a built-in, a module's, a CRD's) is served. */
export function servedKindOf(kind: AnyKind): ServedKind {
  const served = {
    kind,
    storage: kind,
    view: false,
    toServed: identity,
    toStored: identity,
    fields: builtinFields[kindId(kind)] ?? {},
    table: (objects: readonly StoredObject[], metadata: Metadata, now: number) =>
      tableOf(kind, objects, metadata, now),
    unknownFields: unknownFieldsOf(kind),
  };
  switch (kindId(kind)) {
    case kindId(Event):
      return {
        ...served,
        toServed: withMicroTimes,
        fields: eventFields,
        table: (objects, metadata, now) => eventTable(objects.map(toCoreEvent), metadata, now),
        checkCreate: (stored) => checkEventCreate(stored, "events.k8s.io/v1"),
      };
    case kindId(CustomResourceDefinition):
      return { ...served, table: crdTable };
    case kindId(Service):
      // The catalogue's Service prints its own columns; the plain one of `setpoint` gets these.
      return kind.printerColumns.length > 0 ? served : { ...served, table: serviceTable };
    default:
      return served;
  }
}

/** Core `v1` Events: a view of the stored `events.k8s.io/v1` ones. */
export const coreEvents: ServedKind = {
  kind: CoreEvent,
  storage: Event,
  view: true,
  toServed: toCoreEvent,
  toStored: fromCoreEvent,
  fields: coreEventFields,
  table: (objects, metadata, now) => eventTable(objects, metadata, now),
  checkCreate: (stored) => checkEventCreate(stored, "v1"),
};

/** `kubectl get crd`: NAME and CREATED AT, as the API server's default table shows. */
function crdTable(objects: readonly StoredObject[], metadata: Metadata) {
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: [
      stringColumn("Name", 0, "name"),
      { name: "Created At", type: "date", format: "", description: "", priority: 0 },
    ],
    rows: objects.map((object) => ({
      cells: [object.metadata.name, object.metadata.creationTimestamp ?? null],
      object: partialObject(object),
    })),
  };
}

/** `kubectl get services`: Kubernetes' columns, from what the Service says. */
function serviceTable(objects: readonly StoredObject[], metadata: Metadata, now: number) {
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: [
      stringColumn("Name", 0, "name"),
      stringColumn("Type"),
      stringColumn("Cluster-IP"),
      stringColumn("External-IP"),
      stringColumn("Port(s)"),
      stringColumn("Age"),
      stringColumn("Selector", 1),
    ],
    rows: objects.map((object) => {
      const spec = (object.spec ?? {}) as Fields;
      const ports = Array.isArray(spec.ports) ? (spec.ports as Fields[]) : [];
      const external = Array.isArray(spec.externalIPs) ? (spec.externalIPs as string[]) : [];
      const selector = (spec.selector ?? {}) as Record<string, string>;
      const created = Date.parse(String(object.metadata.creationTimestamp));
      return {
        cells: [
          object.metadata.name,
          typeof spec.type === "string" ? spec.type : "ClusterIP",
          typeof spec.clusterIP === "string" ? spec.clusterIP : "<none>",
          external.length > 0 ? external.join(",") : "<none>",
          ports.length > 0
            ? ports
                .map(
                  (p) =>
                    `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${typeof p.protocol === "string" ? p.protocol : "TCP"}`,
                )
                .join(",")
            : "<none>",
          Number.isNaN(created) ? "<unknown>" : humanDuration(now - created),
          Object.keys(selector).length > 0
            ? Object.entries(selector)
                .map(([k, v]) => `${k}=${v}`)
                .join(",")
            : "<none>",
        ],
        object: partialObject(object),
      };
    }),
  };
}

/** The annotation on the CRDs of kinds the server's modules define. */
export const moduleCrdAnnotation = "setpoint.dev/defined-by";

/** A UUID-shaped identifier derived from `text`: stable across restarts. */
function stableUid(text: string): string {
  const hex = createHash("sha256").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The CustomResourceDefinition a kind defined in code is served as (`kubectl get crd`,
 * `kubectl get crd <name> -o yaml`): its generated CRD, established, marked with
 * {@link moduleCrdAnnotation}. It is not stored; writes to it are refused.
 */
export function moduleCrdOf(kind: AnyKind, createdAt: string): StoredObject {
  const crd = crdOf(kind) as { metadata: { name: string }; spec: Fields };
  const name = crd.metadata.name;
  const names = crd.spec.names;
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: "True",
    lastTransitionTime: createdAt,
    reason,
    message,
  });
  return {
    ...crd,
    metadata: {
      name,
      uid: stableUid(`setpoint module crd ${name}`),
      resourceVersion: "1",
      generation: 1,
      creationTimestamp: createdAt,
      annotations: { [moduleCrdAnnotation]: "module" },
    },
    status: {
      acceptedNames: names,
      storedVersions: [kind.version],
      conditions: [
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
      ],
    },
  } as unknown as StoredObject;
}
