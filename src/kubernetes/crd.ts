/**
 * CustomResourceDefinitions both ways: `crdOf(Kind)` writes the CRD of a kind (structural schema,
 * printer columns, status subresource, short names) for `kubectl apply`; `kindFromCrd(crd)`
 * turns a CRD applied to `setpoint serve` into a kind whose schema is enforced — unknown fields
 * are pruned (unless `x-kubernetes-preserve-unknown-fields`), defaults applied, the rest validated.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { Ajv, type CodeOptions, type ErrorObject, type ValidateFunction } from "ajv";
import { stringify } from "yaml";
import type { StoredObject } from "../backend/backend.js";
import { setOwn } from "../model/json.js";
import {
  type AnyKind,
  defineKind,
  jsonSchemaOf,
  type PrinterColumn,
  type ScaleSubresource,
} from "../model/kind.js";
import { compilePattern } from "./crd-validation.js";

type Schema = Record<string, unknown>;

/** Makes a JSON Schema structural, as Kubernetes requires of CRDs: every object typed. */
function structural(schema: unknown): Schema {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema))
    return { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  const input = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(input)) {
    if (
      key === "$schema" ||
      key === "additionalProperties" ||
      key === "$ref" ||
      key === "definitions"
    )
      continue;
    if (key === "properties" && value && typeof value === "object") {
      out.properties = Object.fromEntries(
        Object.entries(value as Schema).map(([k, v]) => [k, structural(v)]),
      );
    } else if (key === "items") out.items = structural(value);
    else if (key === "anyOf" || key === "oneOf" || key === "allOf")
      out[key] = (value as unknown[]).map((v) => structural(v));
    else out[key] = value;
  }
  // A map (record) keeps its values' schema; an object of no known fields keeps what it is given.
  if (input.additionalProperties && typeof input.additionalProperties === "object")
    out.additionalProperties = structural(input.additionalProperties);
  if (out.type === undefined && out.anyOf === undefined && out.oneOf === undefined)
    out["x-kubernetes-preserve-unknown-fields"] = true;
  if (
    out.type === "object" &&
    out.properties === undefined &&
    out.additionalProperties === undefined
  )
    out["x-kubernetes-preserve-unknown-fields"] = true;
  return out;
}

/**
 * The CustomResourceDefinition of a kind, as an object. The schema comes from the kind's
 * validators (those implementing Standard JSON Schema, such as zod 4); without one, spec and
 * status keep unknown fields.
 *
 * @example
 * ```ts
 * await writeFile("widget-crd.yaml", crdYamlOf(Widget)); // kubectl apply -f widget-crd.yaml
 * ```
 */
export function crdOf(kind: AnyKind): Record<string, unknown> {
  const schema = jsonSchemaOf(kind, "openapi-3.0") as
    | { properties?: { spec?: unknown; status?: unknown } }
    | undefined;
  const properties: Schema = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
  };
  if (kind.layout === "flat")
    Object.assign(
      properties,
      (structural(schema?.properties?.spec).properties as Schema | undefined) ?? {},
    );
  else {
    properties.spec = structural(schema?.properties?.spec);
    properties.status = structural(schema?.properties?.status);
  }
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${kind.plural}.${kind.group}` },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        ...(kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}),
        ...(kind.categories.length > 0 ? { categories: [...kind.categories] } : {}),
      },
      scope: kind.scope,
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", properties } },
          subresources: {
            status: {},
            ...(kind.scale === undefined ? {} : { scale: { ...kind.scale } }),
          },
          ...(kind.printerColumns.length > 0
            ? {
                additionalPrinterColumns: kind.printerColumns.map((c) => ({
                  name: c.name,
                  type: c.type,
                  jsonPath: c.jsonPath,
                  ...(c.description ? { description: c.description } : {}),
                  ...(c.priority ? { priority: c.priority } : {}),
                  ...(c.format ? { format: c.format } : {}),
                })),
              }
            : {}),
        },
      ],
    },
  };
}

/** {@link crdOf} as YAML. */
export function crdYamlOf(kind: AnyKind): string {
  return stringify(crdOf(kind));
}

/**
 * Schema patterns run on RE2 (linear time, as Kubernetes runs them), never on JavaScript's
 * backtracking RegExp: `^(a+)+$` against 30 characters would block the process for seconds.
 */
const re2: NonNullable<CodeOptions["regExp"]> = Object.assign(
  (pattern: string) => compilePattern(pattern),
  {
    code: "re2js",
  },
);

const ajv = new Ajv({
  strict: false,
  allErrors: true,
  useDefaults: true,
  validateFormats: false,
  code: { regExp: re2 },
});

/** The keywords of Kubernetes' `JSONSchemaProps` that validate; ajv sees only these. */
const validatingKeywords = new Set([
  "type",
  "format",
  "default",
  "maximum",
  "minimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "multipleOf",
  "enum",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "allOf",
  "oneOf",
  "anyOf",
  "not",
  "properties",
  "additionalProperties",
  "nullable",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
]);

/**
 * A CRD schema as ajv should run it: only the keywords Kubernetes knows (so that no `$ref`,
 * `unevaluatedProperties` or other JSON Schema feature Kubernetes lacks reaches ajv), OpenAPI
 * 3.0's boolean `exclusiveMaximum`/`exclusiveMinimum` in JSON Schema's numeric form, and
 * int-or-string as `anyOf` integer or string.
 */
function forAjv(schema: unknown): unknown {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) return schema;
  const input = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(input)) {
    if (!validatingKeywords.has(key)) continue;
    if (key === "properties" && value !== null && typeof value === "object") {
      const properties: Schema = {};
      for (const [name, child] of Object.entries(value)) setOwn(properties, name, forAjv(child));
      out.properties = properties;
    } else if (key === "items" || key === "not" || key === "additionalProperties")
      out[key] = forAjv(value);
    else if (key === "allOf" || key === "anyOf" || key === "oneOf")
      out[key] = Array.isArray(value) ? value.map(forAjv) : value;
    else out[key] = value;
  }
  for (const [flag, bound] of [
    ["exclusiveMaximum", "maximum"],
    ["exclusiveMinimum", "minimum"],
  ] as const) {
    if (input[flag] === true && typeof input[bound] === "number") {
      out[flag] = input[bound];
      delete out[bound];
    }
  }
  if (input["x-kubernetes-int-or-string"] === true && out.anyOf === undefined)
    out.anyOf = [{ type: "integer" }, { type: "string" }];
  return out;
}

/** Drops fields a structural schema does not name, as the Kubernetes API server prunes them. */
function prune(value: unknown, schema: Schema | undefined): unknown {
  if (schema === undefined || schema["x-kubernetes-preserve-unknown-fields"] === true) return value;
  if (Array.isArray(value))
    return value.map((item) => prune(item, schema.items as Schema | undefined));
  if (value === null || typeof value !== "object") return value;
  const properties = schema.properties as Record<string, Schema> | undefined;
  const additional = schema.additionalProperties;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const known = properties !== undefined && Object.hasOwn(properties, key);
    if (known) setOwn(out, key, prune(item, properties[key]));
    else if (additional !== undefined && additional !== false)
      setOwn(
        out,
        key,
        prune(item, typeof additional === "object" ? (additional as Schema) : undefined),
      );
  }
  return out;
}

function pathOf(error: ErrorObject): PropertyKey[] {
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, "/").replace(/~0/g, "~")));
  if (error.keyword === "required")
    path.push((error.params as { missingProperty: string }).missingProperty);
  return path;
}

/**
 * Compiles a CRD schema (as {@link forAjv} makes it) into a validator; throws when ajv cannot.
 * The compiled schema is not kept in ajv's cache, which would otherwise grow with every version
 * of every CRD ever served.
 */
export function compileCrdSchema(schema: Schema): ValidateFunction {
  const prepared = forAjv(schema) as Schema;
  try {
    return ajv.compile(prepared);
  } finally {
    ajv.removeSchema(prepared);
  }
}

/**
 * A Standard Schema validator from a CRD's OpenAPI v3 schema: prune, default, validate. The
 * schema is compiled now, so a schema that cannot be compiled fails here, not on a write. It
 * gives its schema back as Standard JSON Schema, so that OpenAPI (`kubectl explain`, client-side
 * validation) describes a kind defined at runtime as fully as one defined in code.
 */
function validatorOf(schema: Schema | undefined): StandardSchemaV1 & StandardJSONSchemaV1 {
  const validate = schema === undefined ? undefined : compileCrdSchema(schema);
  const described = () => structuredClone(schema ?? { type: "object" });
  return {
    "~standard": {
      version: 1,
      vendor: "setpoint-crd",
      validate(value) {
        if (schema === undefined || validate === undefined) return { value };
        const pruned = structuredClone(prune(value, schema));
        if (validate(pruned)) return { value: pruned };
        return {
          issues: (validate.errors ?? []).map((e) => ({
            message: e.message ?? "is invalid",
            path: pathOf(e),
          })),
        };
      },
      jsonSchema: { input: described, output: described },
    },
  };
}

interface CrdSpec {
  group: string;
  scope: "Namespaced" | "Cluster";
  names: {
    kind: string;
    plural: string;
    singular?: string;
    shortNames?: string[];
    categories?: string[];
  };
  versions: {
    name: string;
    served: boolean;
    storage: boolean;
    schema?: { openAPIV3Schema: Schema };
    subresources?: { scale?: ScaleSubresource };
    additionalPrinterColumns?: {
      name: string;
      type: string;
      jsonPath: string;
      description?: string;
      priority?: number;
      format?: string;
    }[];
  }[];
}

/**
 * The kind a stored CustomResourceDefinition defines, at its storage version (setpoint keeps one
 * version per kind; the others are not served).
 */
export function kindFromCrd(crd: StoredObject): AnyKind {
  const spec = crd.spec as unknown as CrdSpec;
  const version = spec.versions.find((v) => v.storage) ?? spec.versions[0]!;
  const root = version.schema?.openAPIV3Schema;
  const properties = (root?.properties ?? {}) as Record<string, Schema>;
  const printerColumns: PrinterColumn[] = (version.additionalPrinterColumns ?? []).map((c) => ({
    name: c.name,
    type: (["string", "integer", "number", "boolean", "date"].includes(c.type)
      ? c.type
      : "string") as PrinterColumn["type"],
    jsonPath: c.jsonPath,
    ...(c.description ? { description: c.description } : {}),
    ...(c.priority ? { priority: c.priority } : {}),
    ...(c.format ? { format: c.format } : {}),
  }));
  return defineKind({
    group: spec.group,
    version: version.name,
    kind: spec.names.kind,
    plural: spec.names.plural,
    ...(spec.names.singular ? { singular: spec.names.singular } : {}),
    scope: spec.scope,
    spec: validatorOf(
      properties.spec ??
        (root === undefined
          ? undefined
          : { type: "object", "x-kubernetes-preserve-unknown-fields": true }),
    ),
    status: validatorOf(properties.status),
    printerColumns,
    shortNames: spec.names.shortNames ?? [],
    categories: spec.names.categories ?? [],
    ...(version.subresources?.scale === undefined ? {} : { scale: version.subresources.scale }),
  });
}
