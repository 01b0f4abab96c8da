/**
 * Validators of Kubernetes' built-in kinds, generated from the API's own definitions
 * (`data/kubernetes-protobuf-fields.json`: every message's fields and types, read from the
 * published `generated.proto` files) — never typed by hand.
 *
 * Guarantees:
 * - Structural: each field has the JSON type Kubernetes gives it (integers for `int32`/`int64`,
 *   base64 strings for `bytes`, RFC 3339 strings for `Time`/`MicroTime`, a string or number for
 *   `Quantity`, a number or string for `IntOrString`, any JSON for `RawExtension`/`FieldsV1`).
 * - Lenient as a server is: unknown fields are kept (a client must never lose what a newer
 *   server added), and `null` for a field means "absent", as Go's JSON decoder reads it (it is
 *   dropped before validation, so the stored object never holds it).
 * - The rules kubectl users meet on a real server where the proto says nothing: the fields
 *   Kubernetes requires (a container's `name` and `image`, a Deployment's `selector` and
 *   `template`…) and each kind's extra checks (names, labels, selectors matching templates).
 * - Lazy: nothing is read or built until a validator is first used; each message's schema is
 *   built once and shared.
 *
 * Their JSON Schema (`kubectl explain`, OpenAPI) comes from the same definitions, one definition
 * per message named as Kubernetes names it (`io.k8s.api.core.v1.PodSpec`), as the real API
 * server's OpenAPI has it. It is written straight from the field list rather than converted from
 * the zod schemas: converting the ~450 messages took zod some 350 ms, which the first
 * `kubectl apply` against a fresh server waited for; this takes a few. Descriptions come from
 * the doc comments of `kubernetes-types` (`descriptions.ts`).
 */
import { readFileSync } from "node:fs";
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { z } from "zod";
import { FieldErrors, isPlainObject } from "../../model/validation.js";
import { descriptionsOf } from "./descriptions.js";

type Field = readonly [number: number, name: string, label: string, type: string];
type JsonSchemaObject = Record<string, unknown>;
type Packages = Record<string, Record<string, readonly Field[]>>;

let packages: Packages | undefined;

function loadPackages(): Packages {
  packages ??= (
    JSON.parse(
      readFileSync(new URL("../data/kubernetes-protobuf-fields.json", import.meta.url), "utf8"),
    ) as { packages: Packages }
  ).packages;
  return packages;
}

/**
 * Fields Kubernetes requires where the proto marks nothing: from the API's OpenAPI `required`
 * lists and its validation (a container's `image` is required by validation, not by OpenAPI).
 * Keyed by proto message (`package.Message`).
 */
const requiredFields: Readonly<Record<string, readonly string[]>> = {
  "k8s.io.api.core.v1.Container": ["name", "image"],
  "k8s.io.api.core.v1.EphemeralContainer": ["name"],
  "k8s.io.api.core.v1.ContainerPort": ["containerPort"],
  "k8s.io.api.core.v1.EnvVar": ["name"],
  "k8s.io.api.core.v1.Volume": ["name"],
  "k8s.io.api.core.v1.VolumeMount": ["name", "mountPath"],
  "k8s.io.api.core.v1.VolumeDevice": ["name", "devicePath"],
  "k8s.io.api.core.v1.PodSpec": ["containers"],
  "k8s.io.api.core.v1.KeyToPath": ["key", "path"],
  "k8s.io.api.core.v1.ConfigMapKeySelector": ["key"],
  "k8s.io.api.core.v1.SecretKeySelector": ["key"],
  "k8s.io.api.core.v1.ObjectFieldSelector": ["fieldPath"],
  "k8s.io.api.core.v1.ResourceFieldSelector": ["resource"],
  "k8s.io.api.core.v1.HTTPGetAction": ["port"],
  "k8s.io.api.core.v1.TCPSocketAction": ["port"],
  "k8s.io.api.core.v1.GRPCAction": ["port"],
  "k8s.io.api.core.v1.ServicePort": ["port"],
  "k8s.io.api.core.v1.EndpointAddress": ["ip"],
  "k8s.io.api.core.v1.EndpointPort": ["port"],
  "k8s.io.api.core.v1.NodeSelector": ["nodeSelectorTerms"],
  "k8s.io.api.core.v1.NodeSelectorRequirement": ["key", "operator"],
  "k8s.io.api.core.v1.PodAffinityTerm": ["topologyKey"],
  "k8s.io.api.core.v1.WeightedPodAffinityTerm": ["weight", "podAffinityTerm"],
  "k8s.io.api.core.v1.PreferredSchedulingTerm": ["weight", "preference"],
  "k8s.io.api.core.v1.TopologySpreadConstraint": ["maxSkew", "topologyKey", "whenUnsatisfiable"],
  "k8s.io.api.core.v1.HostAlias": ["ip"],
  "k8s.io.api.core.v1.Sysctl": ["name", "value"],
  "k8s.io.api.core.v1.Capabilities": [],
  "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement": ["key", "operator"],
  "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference": ["apiVersion", "kind", "name", "uid"],
  "k8s.io.api.apps.v1.DeploymentSpec": ["selector", "template"],
  "k8s.io.api.apps.v1.ReplicaSetSpec": ["selector"],
  "k8s.io.api.apps.v1.StatefulSetSpec": ["selector", "template"],
  "k8s.io.api.apps.v1.DaemonSetSpec": ["selector", "template"],
  "k8s.io.api.batch.v1.JobSpec": ["template"],
  "k8s.io.api.batch.v1.CronJobSpec": ["schedule", "jobTemplate"],
  "k8s.io.api.networking.v1.HTTPIngressRuleValue": ["paths"],
  "k8s.io.api.networking.v1.HTTPIngressPath": ["pathType", "backend"],
  "k8s.io.api.networking.v1.IngressServiceBackend": ["name"],
  "k8s.io.api.rbac.v1.PolicyRule": ["verbs"],
  "k8s.io.api.rbac.v1.RoleBinding": ["roleRef"],
  "k8s.io.api.rbac.v1.ClusterRoleBinding": ["roleRef"],
  "k8s.io.api.rbac.v1.RoleRef": ["apiGroup", "kind", "name"],
  "k8s.io.api.rbac.v1.Subject": ["kind", "name"],
  "k8s.io.api.autoscaling.v1.HorizontalPodAutoscalerSpec": ["scaleTargetRef", "maxReplicas"],
  "k8s.io.api.autoscaling.v1.CrossVersionObjectReference": ["kind", "name"],
};

/**
 * Fields Go embeds (`json:",inline"`): in JSON their message's fields sit beside the others
 * (a Probe's `httpGet`, a Volume's `emptyDir`, a key selector's `name`), where the proto has
 * one field holding the message. Keyed by `message.field`.
 */
const inlineFields: ReadonlySet<string> = new Set([
  "k8s.io.api.core.v1.Probe.handler",
  "k8s.io.api.core.v1.Volume.volumeSource",
  "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
  "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
  "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
  "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
  "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
  "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
  "k8s.io.api.core.v1.SecretProjection.localObjectReference",
  "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
]);

/** `type` (a scalar, a map or a message) with any message in it fully qualified from `pkg`. */
function absolute(type: string, pkg: string): string {
  if (Object.hasOwn(scalars, type)) return type;
  const map = /^map<([^,]+),(.+)>$/.exec(type);
  if (map !== null) return `map<${map[1]},${absolute(map[2]!, pkg)}>`;
  return type.startsWith(".") ? type : `.${pkg}.${type}`;
}

const jsonFields = new Map<string, readonly Field[] | undefined>();

/**
 * A message's fields as its JSON has them: embedded messages' fields in place of the field
 * holding them, every message type fully qualified. `undefined` for a message the definitions
 * do not hold.
 */
function jsonFieldsOf(message: string): readonly Field[] | undefined {
  if (jsonFields.has(message)) return jsonFields.get(message);
  const dot = message.lastIndexOf(".");
  const pkg = message.slice(0, dot);
  const raw = loadPackages()[pkg]?.[message.slice(dot + 1)];
  let fields: Field[] | undefined;
  if (raw !== undefined) {
    fields = [];
    for (const [number, name, label, type] of raw) {
      if (inlineFields.has(`${message}.${name}`))
        fields.push(...(jsonFieldsOf(qualified(type, pkg)) ?? []));
      else fields.push([number, name, label, absolute(type, pkg)]);
    }
  }
  jsonFields.set(message, fields);
  return fields;
}

/** Kubernetes' definition name of a proto message: `k8s.io.api.x` → `io.k8s.api.x`. */
export function definitionName(message: string): string {
  return message.replace(/^k8s\.io\./, "io.k8s.");
}

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What Kubernetes' validation says of a missing required field. */
const required = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? "Required value" : undefined),
};

const scalars: Readonly<Record<string, () => z.ZodType>> = {
  string: () => z.string(required),
  bool: () => z.boolean(required),
  int32: () => z.number(required).int(),
  int64: () => z.number(required).int(),
  uint32: () => z.number(required).int(),
  uint64: () => z.number(required).int(),
  double: () => z.number(required),
  float: () => z.number(required),
  bytes: () => z.string(required).regex(base64, { message: "illegal base64 data" }),
};

const anyJson = () => z.unknown();

/** Messages whose JSON is not their proto fields. */
const specialShapes: Readonly<Record<string, () => z.ZodType>> = {
  "k8s.io.apimachinery.pkg.apis.meta.v1.Time": () => z.string(required),
  "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": () => z.string(required),
  "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": () => z.string(required),
  "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": anyJson,
  "k8s.io.apimachinery.pkg.runtime.RawExtension": anyJson,
  "k8s.io.apimachinery.pkg.api.resource.Quantity": () =>
    z.union([z.string(), z.number()], required),
  "k8s.io.apimachinery.pkg.util.intstr.IntOrString": () =>
    z.union([z.number().int(), z.string()], required),
};

/** The JSON Schema of the special shapes, as Kubernetes' OpenAPI gives them. */
const specialJsonSchemas: Readonly<Record<string, JsonSchemaObject>> = {
  "k8s.io.apimachinery.pkg.apis.meta.v1.Time": { type: "string", format: "date-time" },
  "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": { type: "string", format: "date-time" },
  "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": { type: "string" },
  "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": { type: "object" },
  "k8s.io.apimachinery.pkg.runtime.RawExtension": { type: "object" },
  "k8s.io.apimachinery.pkg.api.resource.Quantity": {
    oneOf: [{ type: "string" }, { type: "number" }],
  },
  "k8s.io.apimachinery.pkg.util.intstr.IntOrString": {
    type: "string",
    format: "int-or-string",
    "x-kubernetes-int-or-string": true,
  },
};

const scalarJsonSchemas: Readonly<Record<string, JsonSchemaObject>> = {
  string: { type: "string" },
  bool: { type: "boolean" },
  int32: { type: "integer", format: "int32" },
  int64: { type: "integer", format: "int64" },
  uint32: { type: "integer", format: "int32" },
  uint64: { type: "integer", format: "int64" },
  double: { type: "number", format: "double" },
  float: { type: "number", format: "float" },
  bytes: { type: "string", format: "byte" },
};

const messages = new Map<string, z.ZodType>();

/** `type` as written in the package `pkg`, fully qualified without the leading dot. */
function qualified(type: string, pkg: string): string {
  return type.startsWith(".") ? type.slice(1) : `${pkg}.${type}`;
}

function typeSchema(type: string, pkg: string): z.ZodType {
  const scalar = scalars[type];
  if (scalar !== undefined) return scalar();
  return z.lazy(() => messageSchema(qualified(type, pkg)));
}

function fieldSchema([, , label, type]: Field, pkg: string): z.ZodType {
  if (label === "map") {
    const match = /^map<([^,]+),(.+)>$/.exec(type);
    const value = match?.[2] ?? "string";
    return z.record(z.string(), typeSchema(value, pkg), required);
  }
  if (label === "repeated") return z.array(typeSchema(type, pkg), required);
  return typeSchema(type, pkg);
}

/**
 * The zod schema of a proto message's JSON (`k8s.io.api.core.v1.PodSpec`): a loose object of
 * its fields, those Kubernetes requires required; built once. A message the definitions do
 * not hold (a newer API's) is any JSON.
 */
export function messageSchema(message: string): z.ZodType {
  const known = messages.get(message);
  if (known !== undefined) return known;
  const special = specialShapes[message];
  let schema: z.ZodType;
  if (special !== undefined) schema = special();
  else {
    const dot = message.lastIndexOf(".");
    const pkg = message.slice(0, dot);
    const fields = jsonFieldsOf(message);
    if (fields === undefined) schema = anyJson();
    else schema = objectOf(fields, pkg, requiredFields[message] ?? [], new Set());
  }
  messages.set(message, schema);
  return schema;
}

/** Whether the definitions hold `message` (or it is a special shape). */
function isDefined(message: string): boolean {
  if (specialJsonSchemas[message] !== undefined) return true;
  const dot = message.lastIndexOf(".");
  return loadPackages()[message.slice(0, dot)]?.[message.slice(dot + 1)] !== undefined;
}

/** The JSON Schema of one field: a scalar's, a message's by reference, a list's or a map's. */
function fieldJsonSchema([, , label, type]: Field, pkg: string, where: string): JsonSchemaObject {
  const of = (name: string): JsonSchemaObject => {
    const scalar = scalarJsonSchemas[name];
    if (scalar !== undefined) return scalar;
    const message = qualified(name, pkg);
    // A message of a newer API than the definitions: any JSON, as it validates.
    return isDefined(message) ? { $ref: `#/${where}/${definitionName(message)}` } : {};
  };
  if (label === "map") {
    const value = /^map<[^,]+,(.+)>$/.exec(type)?.[1] ?? "string";
    return { type: "object", additionalProperties: of(value) };
  }
  if (label === "repeated") return { type: "array", items: of(type) };
  const single = of(type);
  // A field of a named type reads as Kubernetes writes it, leaving room for a description.
  return typeof single.$ref === "string" ? { allOf: [single] } : single;
}

function objectJsonSchema(
  message: string,
  fields: readonly Field[],
  without: ReadonlySet<string>,
  where: string,
): JsonSchemaObject {
  const pkg = message.slice(0, message.lastIndexOf("."));
  const described = descriptionsOf(message);
  const properties: Record<string, JsonSchemaObject> = {};
  for (const field of fields) {
    if (without.has(field[1])) continue;
    const description = described?.fields.get(field[1]);
    properties[field[1]] = {
      ...(description === undefined ? {} : { description }),
      ...fieldJsonSchema(field, pkg, where),
    };
  }
  const present = (requiredFields[message] ?? []).filter((name) => Object.hasOwn(properties, name));
  return {
    ...(described?.description === undefined ? {} : { description: described.description }),
    type: "object",
    properties,
    ...(present.length > 0 ? { required: present } : {}),
  };
}

/** Every message's JSON Schema, by definition name, per place of definitions; made once. */
const universes = new Map<string, Record<string, JsonSchemaObject>>();

function universe(where: string): Record<string, JsonSchemaObject> {
  const known = universes.get(where);
  if (known !== undefined) return known;
  const all: Record<string, JsonSchemaObject> = {};
  for (const [pkg, defined] of Object.entries(loadPackages()))
    for (const name of Object.keys(defined)) {
      const message = `${pkg}.${name}`;
      all[definitionName(message)] =
        specialJsonSchemas[message] ??
        objectJsonSchema(message, jsonFieldsOf(message) ?? [], new Set(), where);
    }
  for (const [message, schema] of Object.entries(specialJsonSchemas))
    all[definitionName(message)] = schema;
  universes.set(where, all);
  return all;
}

/** The definitions `root` refers to, transitively, taken from `all`. */
function reachable(
  root: unknown,
  all: Record<string, JsonSchemaObject>,
  where: string,
): Record<string, JsonSchemaObject> {
  const found: Record<string, JsonSchemaObject> = {};
  const prefix = `#/${where}/`;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string" && value.startsWith(prefix)) {
        const id = value.slice(prefix.length);
        const definition = all[id];
        if (definition !== undefined && found[id] === undefined) {
          found[id] = definition;
          visit(definition);
        }
      } else visit(value);
    }
  };
  visit(root);
  return found;
}

function objectOf(
  fields: readonly Field[],
  pkg: string,
  requiredNames: readonly string[],
  without: ReadonlySet<string>,
): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const field of fields) {
    const name = field[1];
    if (without.has(name)) continue;
    const schema = fieldSchema(field, pkg);
    shape[name] = requiredNames.includes(name) ? schema : schema.optional();
  }
  return z.looseObject(shape);
}

/** A message's fields beside `metadata` (and `status`): the body of a flat kind (ConfigMap). */
function bodySchema(message: string): z.ZodType {
  const dot = message.lastIndexOf(".");
  const pkg = message.slice(0, dot);
  const fields = jsonFieldsOf(message);
  if (fields === undefined) throw new TypeError(`no Kubernetes message ${message}`);
  return objectOf(fields, pkg, requiredFields[message] ?? [], new Set(["metadata", "status"]));
}

/** A copy of `value` without `null`-valued object fields, at any depth: Go reads them as absent. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (field === null) continue;
    Object.defineProperty(out, key, {
      value: withoutNulls(field),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * Adds to `out` the path of every field of `value` that the definition of `message` does not
 * have, at any depth: what `fieldValidation=Strict` refuses on a Kubernetes server. A key that
 * starts with `$` is a field like any other (a strategic merge patch's directives are taken out
 * before it is checked); `without` are left out at the top (a flat kind's envelope).
 */
function unknownFieldsOf(
  message: string,
  value: unknown,
  path: string,
  out: string[],
  without: ReadonlySet<string> = new Set(),
): void {
  if (!isPlainObject(value) || specialShapes[message] !== undefined) return;
  const dot = message.lastIndexOf(".");
  const pkg = message.slice(0, dot);
  const fields = jsonFieldsOf(message);
  if (fields === undefined) return;
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  for (const key of Object.keys(value)) {
    if (without.has(key)) continue;
    const field: Field | undefined = fields.find((f) => f[1] === key);
    if (field === undefined) {
      out.push(at(key));
      continue;
    }
    const label: string = field[2];
    const type: string = field[3];
    const child = value[key];
    if (label === "map") {
      const valueType = /^map<[^,]+,(.+)>$/.exec(type)?.[1] ?? "string";
      if (scalars[valueType] === undefined && isPlainObject(child))
        for (const [k, v] of Object.entries(child))
          unknownFieldsOf(qualified(valueType, pkg), v, `${at(key)}[${k}]`, out);
    } else if (scalars[type] !== undefined) continue;
    else if (label === "repeated" && Array.isArray(child))
      for (const [i, item] of child.entries())
        unknownFieldsOf(qualified(type, pkg), item, `${at(key)}[${i}]`, out);
    else unknownFieldsOf(qualified(type, pkg), child, at(key), out);
  }
}

/**
 * A Kubernetes validator: a Standard Schema (with JSON Schema) whose static type is `T`, which
 * can also name the fields of a value its definition does not have (`unknownFields`: what a
 * server refuses under `fieldValidation=Strict`; validation itself keeps them).
 */
export type ApiSchema<T> = StandardSchemaV1<T, T> &
  StandardJSONSchemaV1<T, T> & {
    /** The paths, from the value's root, of the fields the definition does not have. */
    unknownFields(value: unknown): string[];
  };

/** What {@link apiSchema} takes beside the message. */
export interface ApiSchemaOptions<T> {
  /**
   * `"body"`: the message's fields beside `metadata` and `status`, for a flat kind (ConfigMap);
   * `"message"`: the message itself (a spec or status). @default "message"
   */
  readonly shape?: "message" | "body";
  /** Kubernetes' checks beyond structure, on a structurally valid value; paths from its root. */
  readonly rules?: (value: T, errors: FieldErrors) => void;
  /** What the API server makes of a valid value before storing it (Secret's `stringData`). */
  readonly normalize?: (value: T) => T;
}

/**
 * The validator of a Kubernetes message's JSON, typed as `T` (from `kubernetes-types`): see the
 * module documentation. An absent value (`spec` left out) is validated as `{}`, as Kubernetes
 * decodes it, so that required fields are reported.
 *
 * @example
 * ```ts
 * import type { DeploymentSpec } from "kubernetes-types/apps/v1";
 * const spec = apiSchema<DeploymentSpec>("k8s.io.api.apps.v1.DeploymentSpec");
 * ```
 */
export function apiSchema<T>(message: string, options: ApiSchemaOptions<T> = {}): ApiSchema<T> {
  let built: z.ZodType | undefined;
  const schema = () => {
    built ??= options.shape === "body" ? bodySchema(message) : messageSchema(message);
    return built;
  };
  // A message's JSON Schema is a reference to its definition; a flat kind's body is its own
  // root. Either way with the definitions it reaches. The same for input and output.
  const jsonSchema = ({ target }: StandardJSONSchemaV1.Options): JsonSchemaObject => {
    const where = target === "draft-2020-12" ? "$defs" : "definitions";
    const all = universe(where);
    let root: JsonSchemaObject = { $ref: `#/${where}/${definitionName(message)}` };
    if (options.shape === "body")
      root = objectJsonSchema(
        message,
        jsonFieldsOf(message) ?? [],
        new Set(["metadata", "status"]),
        where,
      );
    return { ...root, [where]: reachable(root, all, where) };
  };
  return {
    unknownFields(value: unknown): string[] {
      const out: string[] = [];
      unknownFieldsOf(
        message,
        value,
        "",
        out,
        options.shape === "body"
          ? new Set(["apiVersion", "kind", "metadata", "status"])
          : undefined,
      );
      return out;
    },
    "~standard": {
      version: 1,
      vendor: "setpoint",
      validate(input: unknown): StandardSchemaV1.Result<T> {
        const result = schema().safeParse(withoutNulls(input ?? {}));
        if (!result.success)
          return {
            issues: result.error.issues.map((issue) => ({
              message: issue.message,
              path: issue.path as PropertyKey[],
            })),
          };
        const value = result.data as T;
        if (options.rules !== undefined) {
          const errors = new FieldErrors();
          options.rules(value, errors);
          if (!errors.empty)
            return {
              issues: errors.causes.map((cause) => ({
                message: cause.message,
                path: cause.field === "" ? [] : [cause.field],
              })),
            };
        }
        return { value: options.normalize === undefined ? value : options.normalize(value) };
      },
      jsonSchema: { input: jsonSchema, output: jsonSchema },
    },
  };
}
