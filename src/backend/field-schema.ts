/**
 * The {@link FieldSchema} of a kind, for server-side apply: a built-in Kubernetes kind's from the
 * API's own definitions (`listType`, `listMapKeys`, `patchMergeKey`, `mapType`, through
 * `builtinPatchSchema`); any other kind's from its JSON Schema (`x-kubernetes-list-type`,
 * `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`), where its validators describe one.
 * Lists nothing describes are atomic. `metadata` is Kubernetes' ObjectMeta for every kind
 * (finalizers a set, ownerReferences keyed by uid).
 */
import { builtinPatchSchema } from "../kubernetes/strategic-patch-schema.js";
import { type AnyKind, jsonSchemaOf } from "../model/kind.js";
import { isPlainObject } from "../model/validation.js";
import type { FieldInfo, FieldSchema } from "./server-side-apply.js";

const schemas = new WeakMap<AnyKind, FieldSchema | null>();

/** The fields of ObjectMeta, as the API defines them. */
function objectMetaInfo(): FieldInfo | undefined {
  return builtinPatchSchema("", "v1", "ConfigMap")?.field("metadata");
}

/** The field schema of `kind` (see the module documentation), built once per kind. */
export function fieldSchemaOf(kind: AnyKind): FieldSchema | undefined {
  let schema = schemas.get(kind);
  if (schema === undefined) {
    schema = builtinFieldSchema(kind.group, kind.version, kind.kind) ?? customSchema(kind) ?? null;
    schemas.set(kind, schema);
  }
  return schema ?? undefined;
}

/** The field schema of a built-in kind (`apps`, `v1`, `Deployment`), or `undefined`. */
export function builtinFieldSchema(
  group: string,
  version: string,
  kind: string,
): FieldSchema | undefined {
  const schema = builtinPatchSchema(group, version, kind);
  return schema && withAtomicStructs(schema);
}

const wrapped = new WeakMap<FieldSchema, FieldSchema>();

/**
 * A built-in schema with the structs the API marks `+structType=atomic` (a message-level marker
 * the field data does not carry) as atomic: label selectors, which an apply replaces whole and
 * managedFields show as `f:selector: {}`.
 */
function withAtomicStructs(schema: FieldSchema): FieldSchema {
  let out = wrapped.get(schema);
  if (out !== undefined) return out;
  const fields = new Map<string, FieldInfo | undefined>();
  out = {
    field(name) {
      if (fields.has(name)) return fields.get(name);
      const info = schema.field(name);
      let result = info;
      if (info?.schema !== undefined) {
        const below = info.schema;
        const isSelector =
          below.field("matchLabels") !== undefined && below.field("matchExpressions") !== undefined;
        result = isSelector
          ? { ...info, mapType: "atomic" }
          : { ...info, schema: withAtomicStructs(below) };
      }
      if (info !== undefined) fields.set(name, result);
      return result;
    },
  };
  wrapped.set(schema, out);
  return out;
}

function customSchema(kind: AnyKind): FieldSchema | undefined {
  let described: unknown;
  try {
    described = jsonSchemaOf(kind, "openapi-3.0");
  } catch {
    described = undefined;
  }
  const root = isPlainObject(described) ? described : {};
  const properties = isPlainObject(root.properties) ? root.properties : {};
  const spec = fromJsonSchema(properties.spec);
  const status = fromJsonSchema(properties.status);
  const meta = objectMetaInfo();
  return {
    field(name) {
      if (name === "metadata") return meta;
      if (kind.layout === "flat") return name === "status" ? { schema: status } : spec?.field(name);
      if (name === "spec") return spec && { schema: spec };
      if (name === "status") return status && { schema: status };
      return undefined;
    },
  };
}

/** A JSON Schema (OpenAPI v3) object schema as a {@link FieldSchema}. */
export function fromJsonSchema(schema: unknown): FieldSchema | undefined {
  if (!isPlainObject(schema)) return undefined;
  const properties = isPlainObject(schema.properties) ? schema.properties : {};
  const additional = isPlainObject(schema.additionalProperties)
    ? schema.additionalProperties
    : undefined;
  const fields = new Map<string, FieldInfo | undefined>();
  return {
    field(name) {
      if (fields.has(name)) return fields.get(name);
      const property = Object.hasOwn(properties, name) ? properties[name] : additional;
      const info = isPlainObject(property) ? infoOf(property) : undefined;
      if (Object.hasOwn(properties, name)) fields.set(name, info);
      return info;
    },
  };
}

function infoOf(property: Record<string, unknown>): FieldInfo {
  const listType = property["x-kubernetes-list-type"];
  const keys = property["x-kubernetes-list-map-keys"];
  const mapType = property["x-kubernetes-map-type"];
  const below = property.type === "array" ? property.items : property;
  const schema = fromJsonSchema(below);
  return {
    ...(typeof listType === "string" ? { listType } : {}),
    ...(Array.isArray(keys) && keys.every((k) => typeof k === "string")
      ? { listMapKeys: keys as string[] }
      : {}),
    ...(typeof mapType === "string" ? { mapType } : {}),
    ...(schema ? { schema } : {}),
  };
}
