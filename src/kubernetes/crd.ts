/**
 * CustomResourceDefinitions both ways: `crdOf(Kind)` writes the CRD of a kind (structural schema,
 * printer columns, status subresource, short names) for `kubectl apply`; `kindFromCrd(crd)`
 * turns a CRD applied to `setpoint serve` into a kind whose schema is enforced — unknown fields
 * are pruned (unless `x-kubernetes-preserve-unknown-fields`), defaults applied, the rest validated.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { stringify } from "yaml";
import type { StoredObject } from "../backend/backend.js";
import {
  type AnyKind,
  defineKind,
  jsonSchemaOf,
  type PrinterColumn,
  type ScaleSubresource,
} from "../model/kind.js";
import { fieldPath } from "../model/validation.js";
import { CrdSchema } from "./crd-schema.js";

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
 * A Standard Schema validator for one field of a CRD's root (`spec`, `status`): prune, default,
 * validate, as {@link CrdSchema} does. `required` says whether the root requires the field. It
 * gives its schema back as Standard JSON Schema, so that OpenAPI (`kubectl explain`,
 * client-side validation) describes a kind defined at runtime as fully as one defined in code.
 */
function validatorOf(
  field: CrdSchema | undefined,
  described: Schema | undefined,
  required: boolean,
): StandardSchemaV1 & StandardJSONSchemaV1 {
  const describe = () => structuredClone(described ?? { type: "object" });
  return {
    "~standard": {
      version: 1,
      vendor: "setpoint-crd",
      validate(value) {
        if (field === undefined) return { value };
        if (value === undefined && required && !field.hasDefault)
          return { issues: [{ message: "Required value", path: [] }] };
        const result = field.apply(value);
        if (result.issues === undefined) return { value: result.value };
        return { issues: result.issues.map(({ message, path }) => ({ message, path })) };
      },
      jsonSchema: { input: describe, output: describe },
    },
  };
}

/** The schema of a field no schema describes: any object. */
const keepsUnknown: Schema = { type: "object", "x-kubernetes-preserve-unknown-fields": true };

/** `properties[name]`, if it is a schema of `properties`' own (never an inherited member). */
function ownSchema(properties: Record<string, Schema>, name: string): Schema | undefined {
  const schema = Object.hasOwn(properties, name) ? properties[name] : undefined;
  return schema !== null && typeof schema === "object" ? schema : undefined;
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
  const required = Array.isArray(root?.required) ? (root.required as unknown[]) : [];
  let schema: CrdSchema | undefined;
  if (root !== undefined) {
    const compiled = CrdSchema.compile(root);
    if (compiled.issues !== undefined)
      throw new Error(
        `the schema of version ${version.name} is invalid: ${compiled.issues
          .slice(0, 10)
          .map((i) => `${fieldPath("openAPIV3Schema", i.path)}: ${i.message}`)
          .join("; ")}`,
      );
    schema = compiled.schema;
  }
  const specSchema =
    schema?.property("spec") ??
    (root === undefined ? undefined : CrdSchema.compile(keepsUnknown).schema);
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
      specSchema,
      ownSchema(properties, "spec") ?? (root === undefined ? undefined : keepsUnknown),
      required.includes("spec"),
    ),
    status: validatorOf(
      schema?.property("status"),
      ownSchema(properties, "status"),
      required.includes("status"),
    ),
    printerColumns,
    shortNames: spec.names.shortNames ?? [],
    categories: spec.names.categories ?? [],
    ...(version.subresources?.scale === undefined ? {} : { scale: version.subresources.scale }),
  });
}
