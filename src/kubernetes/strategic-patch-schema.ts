/**
 * The {@link PatchSchema} of Kubernetes' built-in kinds, read from the API's own definitions
 * (`data/kubernetes-protobuf-fields.json` says which message each field holds,
 * `data/kubernetes-merge-keys.json` which fields merge by key): what strategic merge patch needs,
 * whatever validator the kind has in setpoint.
 */
import { readFileSync } from "node:fs";
import { ApiError } from "../model/api-error.js";
import type { PatchFieldMeta, PatchSchema } from "./strategic-merge-patch.js";

type ProtoField = readonly [number, string, string, string];
type Packages<T> = Record<string, Record<string, T>>;
type Markers = Record<
  string,
  PatchFieldMeta & { listType?: string; listMapKeys?: string[]; mapType?: string }
>;

interface Data {
  readonly messages: Packages<readonly ProtoField[]>;
  readonly markers: Packages<Markers>;
  readonly schemas: Map<string, PatchSchema>;
}

let data: Data | undefined;

function load(): Data {
  if (data !== undefined) return data;
  const read = (file: string) =>
    JSON.parse(readFileSync(new URL(`./data/${file}`, import.meta.url), "utf8")).packages;
  data = {
    messages: read("kubernetes-protobuf-fields.json"),
    markers: read("kubernetes-merge-keys.json"),
    schemas: new Map(),
  };
  return data;
}

/**
 * Fields Go embeds with `json:",inline"`: their members are the enclosing object's in JSON,
 * though protobuf keeps them in a field of their own (a Volume's `configMap` is its
 * `volumeSource.configMap`).
 */
const inlineFields = new Set([
  "volumeSource",
  "persistentVolumeSource",
  "handler",
  "ephemeralContainerCommon",
  "ingressRuleValue",
]);

/** Messages whose JSON is free-form: nothing inside them merges by key. */
const freeForm = new Set([
  "k8s.io.apimachinery.pkg.runtime.RawExtension",
  "k8s.io.apimachinery.pkg.runtime.Unknown",
  "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
]);

/**
 * The protobuf package of a built-in group-version: `""`/v1 is `k8s.io.api.core.v1`, `apps/v1`
 * is `k8s.io.api.apps.v1`, `rbac.authorization.k8s.io/v1` is `k8s.io.api.rbac.v1`. A group with
 * a dot not under `k8s.io` is a custom resource's (CRD groups always have a dot).
 */
function packageOf(group: string, version: string): string | undefined {
  if (group.includes(".") && !group.endsWith(".k8s.io")) return undefined;
  const name = group === "" ? "core" : group.split(".")[0]!;
  return `k8s.io.api.${name}.${version}`;
}

/**
 * The strategic-merge schema of a built-in kind (`apps`, `v1`, `Deployment` →
 * `k8s.io.api.apps.v1.Deployment`), or `undefined` for a kind the API's definitions do not have
 * (a custom resource, which kube-apiserver never strategic-merges).
 * @example
 * const schema = builtinPatchSchema("apps", "v1", "Deployment");
 * applyStrategicMergePatch(deployment, patch, schema);
 */
export function builtinPatchSchema(
  group: string,
  version: string,
  kind: string,
): PatchSchema | undefined {
  const pkg = packageOf(group, version);
  if (pkg === undefined) return undefined;
  if (messageFields(pkg, kind) === undefined) return undefined;
  return messageSchema(`${pkg}.${kind}`);
}

/**
 * kube-apiserver's answer to a strategic merge patch of a kind it cannot strategic-merge (a custom
 * resource): UnsupportedMediaType (415), naming the patch types it does accept.
 */
export function strategicPatchUnsupported(): ApiError {
  return new ApiError(
    "UnsupportedMediaType",
    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
  );
}

/** {@link builtinPatchSchema} of an object's `apiVersion` and `kind`. */
export function builtinPatchSchemaOf(apiVersion: unknown, kind: unknown): PatchSchema | undefined {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return undefined;
  const slash = apiVersion.lastIndexOf("/");
  return builtinPatchSchema(
    slash < 0 ? "" : apiVersion.slice(0, slash),
    apiVersion.slice(slash + 1),
    kind,
  );
}

/** The package and message of a fully qualified name, when the data has it. */
function split(qualified: string): [string, string] | undefined {
  const dot = qualified.lastIndexOf(".");
  const pkg = qualified.slice(0, dot);
  const message = qualified.slice(dot + 1);
  return messageFields(pkg, message) === undefined ? undefined : [pkg, message];
}

/** A message's fields, looked up as own members only (a kind named `constructor` is none). */
function messageFields(pkg: string, message: string): readonly ProtoField[] | undefined {
  return own(own(load().messages, pkg), message);
}

/** `object[key]` if it is the object's own member. */
function own<T>(object: Record<string, T> | undefined, key: string): T | undefined {
  return object !== undefined && Object.hasOwn(object, key) ? object[key] : undefined;
}

/** A field's type, resolved from its package: a message's qualified name, or undefined. */
function resolve(pkg: string, type: string): string | undefined {
  const qualified = type.startsWith(".") ? type.slice(1) : `${pkg}.${type}`;
  if (freeForm.has(qualified)) return undefined;
  return split(qualified) === undefined ? undefined : qualified;
}

function messageSchema(qualified: string): PatchSchema {
  const { schemas } = load();
  let schema = schemas.get(qualified);
  if (schema !== undefined) return schema;
  const fields = new Map<string, PatchFieldMeta>();
  schema = {
    field: (name) => {
      // Only fields the message has are kept: a patch's unknown names must not grow the cache.
      let meta = fields.get(name);
      if (meta === undefined) {
        meta = fieldMeta(qualified, name);
        if (meta !== undefined) fields.set(name, meta);
      }
      return meta;
    },
  };
  schemas.set(qualified, schema);
  return schema;
}

function fieldMeta(qualified: string, name: string): PatchFieldMeta | undefined {
  const found = split(qualified);
  if (found === undefined) return undefined;
  const [pkg, message] = found;
  const { markers } = load();
  const fields = messageFields(pkg, message)!;
  const field = fields.find((f) => f[1] === name);
  if (field === undefined) {
    for (const inline of fields) {
      if (!inlineFields.has(inline[1])) continue;
      const type = resolve(pkg, inline[3]);
      const meta = type === undefined ? undefined : fieldMeta(type, name);
      if (meta !== undefined) return meta;
    }
    return undefined;
  }
  const [, , label, type] = field;
  const mapValue = label === "map" ? /^map<[^,]+,(.+)>$/.exec(type)?.[1] : undefined;
  const nested = resolve(pkg, mapValue ?? type);
  const valueSchema = nested === undefined ? undefined : messageSchema(nested);
  const schema: PatchSchema | undefined =
    label === "map"
      ? { field: () => (valueSchema ? { schema: valueSchema } : undefined) }
      : valueSchema;
  const marked = own(own(own(markers, pkg), message), name);
  return {
    ...(marked?.patchStrategy ? { patchStrategy: marked.patchStrategy } : {}),
    ...(marked?.patchMergeKey ? { patchMergeKey: marked.patchMergeKey } : {}),
    // What server-side apply merges lists and maps by (src/backend/server-side-apply.ts).
    ...(marked?.listType ? { listType: marked.listType } : {}),
    ...(marked?.listMapKeys ? { listMapKeys: marked.listMapKeys } : {}),
    ...(marked?.mapType ? { mapType: marked.mapType } : {}),
    ...(schema ? { schema } : {}),
  };
}
