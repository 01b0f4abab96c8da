/**
 * The protobuf messages of Kubernetes' built-in kinds, read from the API's own definitions
 * (`data/kubernetes-protobuf-fields.json`) the first time a protobuf body arrives, and compiled
 * one message at a time, on first use, into what a decoder or an encoder walks: each field's
 * number, JSON name, shape and the rules of its JSON form.
 */
import { readFileSync } from "node:fs";
import { keptZeroFields } from "./kept-zero-fields.js";

/** A protobuf scalar the Kubernetes API uses (it has no floats and no unsigned integers). */
export type ScalarType = "string" | "bytes" | "int32" | "int64" | "bool";

/** The value half of a field: a scalar, or a message by its fully qualified name. */
export type FieldType =
  | { readonly scalar: ScalarType; readonly message?: undefined }
  | { readonly message: string; readonly scalar?: undefined };

/** One field of a message, compiled. */
export interface MessageField {
  readonly number: number;
  /** Where the field is in the Go struct, the order of Go's JSON. */
  readonly position: number;
  /** The field's JSON name. */
  readonly name: string;
  readonly label: "optional" | "repeated" | "map";
  /**
   * The type of each value: of the field, of each element of a repeated field, of each value of
   * a map (a map is a repeated entry message {key = 1, value = 2}; every Kubernetes map's key is
   * a string).
   */
  readonly type: FieldType;
  /**
   * Go embeds this field's struct with `json:",inline"`: its members are the enclosing object's
   * in JSON (a Volume's `configMap` is its `volumeSource.configMap` on the wire).
   */
  readonly inline: boolean;
  /**
   * A scalar whose zero Go's JSON writes: a pointer (`*int32 replicas`, on the wire only when
   * set, so a zero there was set on purpose) or a field without `omitempty`. Other scalars are
   * on the wire even when zero and, as Go's `omitempty` does, a zero is left out.
   */
  readonly keepZero: boolean;
}

/** How a message's JSON differs from a plain object of its fields. */
export type SpecialShape =
  | "Time"
  | "MicroTime"
  | "Duration"
  | "Quantity"
  | "IntOrString"
  | "RawExtension"
  | "FieldsV1"
  | "Verbs";

/** One message, compiled. */
export interface Message {
  /** The fully qualified name, e.g. `k8s.io.api.apps.v1.Deployment`. */
  readonly name: string;
  readonly fields: ReadonlyMap<number, MessageField>;
  /** The fields in the order Go writes them in JSON (the order of the Go struct). */
  readonly order: readonly MessageField[];
  readonly special?: SpecialShape;
}

type RawField = readonly [number, string, string, string];
type Packages = Record<string, Record<string, readonly RawField[]>>;

const meta = "k8s.io.apimachinery.pkg.apis.meta.v1";
const specialShapes: Record<string, SpecialShape> = {
  [`${meta}.Time`]: "Time",
  [`${meta}.MicroTime`]: "MicroTime",
  [`${meta}.Duration`]: "Duration",
  [`${meta}.FieldsV1`]: "FieldsV1",
  [`${meta}.Verbs`]: "Verbs",
  "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
  "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
  "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
};

/**
 * Fields Go embeds with `json:",inline"` (by `Message.field`): protobuf keeps them in a field of
 * their own, JSON lifts their members into the enclosing object.
 */
const inlineFields = new Set([
  "k8s.io.api.core.v1.Volume.volumeSource",
  "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
  "k8s.io.api.core.v1.Probe.handler",
  "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
  "k8s.io.api.core.v1.VolumeMountStatus.volumeStatus",
  "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
  "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
  "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
  "k8s.io.api.core.v1.SecretProjection.localObjectReference",
  "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
]);

/**
 * Fields whose JSON name is not the protobuf name the data records (by `Message.field`).
 */
const jsonNames: Record<string, string> = {
  "k8s.io.api.networking.v1.IngressClassParametersReference.aPIGroup": "apiGroup",
};

/**
 * The protobuf package of each built-in group-version whose objects a client may send as
 * protobuf (`apiVersion` → package).
 */
const packageOfApiVersion: Record<string, string> = {
  v1: "k8s.io.api.core.v1",
  "apps/v1": "k8s.io.api.apps.v1",
  "batch/v1": "k8s.io.api.batch.v1",
  "networking.k8s.io/v1": "k8s.io.api.networking.v1",
  "rbac.authorization.k8s.io/v1": "k8s.io.api.rbac.v1",
  "coordination.k8s.io/v1": "k8s.io.api.coordination.v1",
  "policy/v1": "k8s.io.api.policy.v1",
  "autoscaling/v1": "k8s.io.api.autoscaling.v1",
  "events.k8s.io/v1": "k8s.io.api.events.v1",
  "scheduling.k8s.io/v1": "k8s.io.api.scheduling.v1",
};

const scalars = new Set<string>(["string", "bytes", "int32", "int64", "bool"]);

let packages: Packages | undefined;
const compiled = new Map<string, Message>();

function load(): Packages {
  packages ??= JSON.parse(
    readFileSync(new URL("../data/kubernetes-protobuf-fields.json", import.meta.url), "utf8"),
  ).packages as Packages;
  return packages;
}

function split(qualified: string): [string, string] {
  const dot = qualified.lastIndexOf(".");
  return [qualified.slice(0, dot), qualified.slice(dot + 1)];
}

/**
 * A field's type as the data names it, resolved from the package it is named in; `undefined`
 * for a message of a package the data does not hold (an alpha API's), or a type it cannot read.
 */
function fieldType(pkg: string, type: string): FieldType | undefined {
  if (scalars.has(type)) return { scalar: type as ScalarType };
  const qualified = type.startsWith(".") ? type.slice(1) : `${pkg}.${type}`;
  const [inPkg, name] = split(qualified);
  const packages = load();
  return Object.hasOwn(packages, inPkg) && Object.hasOwn(packages[inPkg]!, name)
    ? { message: qualified }
    : undefined;
}

/**
 * The compiled message of a fully qualified name; `undefined` when the data has no such message.
 * Compiled once and kept: the data is fixed, so the cache is bounded by it. A field whose type
 * the data does not define is left out, so it is skipped on the wire like any unknown field.
 */
export function messageNamed(qualified: string): Message | undefined {
  const known = compiled.get(qualified);
  if (known !== undefined) return known;
  const [pkg, name] = split(qualified);
  if (!Object.hasOwn(load(), pkg) || !Object.hasOwn(load()[pkg]!, name)) return undefined;
  const raw = load()[pkg]![name]!;
  const kept = keptZeroFields[pkg]?.[name];
  const order: MessageField[] = [];
  for (const [number, protoName, label, typeName] of raw) {
    const field = jsonNames[`${qualified}.${protoName}`] ?? protoName;
    const map = /^map<string,(.+)>$/.exec(typeName);
    const type = fieldType(pkg, map ? map[1]! : typeName);
    if (type === undefined || (label === "map") !== (map !== null)) continue;
    order.push({
      number,
      position: order.length,
      name: field,
      label: label as MessageField["label"],
      type,
      inline: inlineFields.has(`${qualified}.${field}`),
      keepZero: kept?.includes(field) ?? false,
    });
  }
  const special = specialShapes[qualified];
  const message: Message = {
    name: qualified,
    fields: new Map(order.map((f) => [f.number, f])),
    order,
    ...(special ? { special } : {}),
  };
  compiled.set(qualified, message);
  return message;
}

/**
 * The message of a top-level object of `apiVersion` and `kind` (`apps/v1`, `Deployment` →
 * `k8s.io.api.apps.v1.Deployment`): one whose first field is its ObjectMeta. `undefined` for a
 * group-version or kind the built-in definitions do not have (a custom resource's, or a
 * message that is not an object, such as `PodSpec`).
 */
export function objectMessage(apiVersion: string, kind: string): Message | undefined {
  if (!Object.hasOwn(packageOfApiVersion, apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return undefined;
  const message = messageNamed(`${packageOfApiVersion[apiVersion]}.${kind}`);
  const first = message?.fields.get(1);
  return first?.name === "metadata" && first.type.message === `${meta}.ObjectMeta`
    ? message
    : undefined;
}

/** The group-versions whose objects {@link objectMessage} knows, for error messages. */
export const protobufApiVersions: readonly string[] = Object.keys(packageOfApiVersion);
