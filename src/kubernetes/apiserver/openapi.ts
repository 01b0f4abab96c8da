/**
 * OpenAPI v3, per group-version, from the kinds' schemas: enough for kubectl's client-side
 * validation (`kubectl apply` downloads it and checks fields before sending). Kinds whose
 * validators cannot produce JSON Schema are described as objects that keep unknown fields.
 */
import { createHash } from "node:crypto";
import { type AnyKind, jsonSchemaOf } from "../../model/kind.js";

const objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

const stringMap = { type: "object", additionalProperties: { type: "string" } };

const objectMetaSchema = {
  type: "object",
  properties: {
    name: { type: "string" },
    generateName: { type: "string" },
    namespace: { type: "string" },
    selfLink: { type: "string" },
    uid: { type: "string" },
    resourceVersion: { type: "string" },
    generation: { type: "integer", format: "int64" },
    creationTimestamp: { type: "string", format: "date-time" },
    deletionTimestamp: { type: "string", format: "date-time" },
    deletionGracePeriodSeconds: { type: "integer", format: "int64" },
    labels: stringMap,
    annotations: stringMap,
    ownerReferences: {
      type: "array",
      items: {
        type: "object",
        required: ["apiVersion", "kind", "name", "uid"],
        properties: {
          apiVersion: { type: "string" },
          kind: { type: "string" },
          name: { type: "string" },
          uid: { type: "string" },
          controller: { type: "boolean" },
          blockOwnerDeletion: { type: "boolean" },
        },
      },
    },
    finalizers: { type: "array", items: { type: "string" } },
    managedFields: {
      type: "array",
      items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  },
};

function schemaName(kind: AnyKind): string {
  return `${kind.group === "" ? "core" : kind.group}.${kind.version}.${kind.kind}`;
}

function groupVersionPath(kind: AnyKind): string {
  return kind.group === "" ? `api/${kind.version}` : `apis/${kind.group}/${kind.version}`;
}

type Schema = Record<string, unknown>;

/**
 * `schema` (a validator's JSON Schema) with its definitions (`definitions`/`$defs`, as zod writes
 * those of schemas with ids — Kubernetes' own kinds name each message so) moved into `defs`, and
 * every reference pointed at `#/components/schemas/`; `additionalProperties: {}` beside
 * `properties` (a loose object, which keeps unknown fields) is left out, as Kubernetes' own
 * OpenAPI leaves it out, so that `kubectl explain` shows the fields, not a map.
 */
function lifted(schema: unknown, defs: Schema): unknown {
  if (schema === null || typeof schema !== "object") return schema;
  const root = schema as Schema;
  for (const key of ["definitions", "$defs"])
    for (const [name, definition] of Object.entries((root[key] as Schema | undefined) ?? {}))
      defs[name] = referencing(definition);
  const { definitions: _d, $defs: _defs, ...rest } = root;
  const out = referencing(rest) as Schema;
  // A root that is only a reference reads as Kubernetes writes a field of a named type.
  return typeof out.$ref === "string" ? { allOf: [{ $ref: out.$ref }] } : out;
}

function referencing(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(referencing);
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  const properties = (node as Schema).properties;
  for (const [key, value] of Object.entries(node)) {
    if (key === "$ref" && typeof value === "string")
      out[key] = value.replace(/^#\/(definitions|\$defs)\//, "#/components/schemas/");
    else if (
      key === "additionalProperties" &&
      properties !== undefined &&
      value !== null &&
      typeof value === "object" &&
      Object.keys(value).length === 0
    )
      continue;
    else out[key] = referencing(value);
  }
  return out;
}

/** A kind's schema and the definitions it refers to; computed once per kind. */
const described = new WeakMap<AnyKind, { schema: Schema; defs: Schema }>();

function describe(kind: AnyKind): { schema: Schema; defs: Schema } {
  const known = described.get(kind);
  if (known !== undefined) return known;
  const defs: Schema = {};
  const gvk = [{ group: kind.group, version: kind.version, kind: kind.kind }];
  const fromValidator = jsonSchemaOf(kind, "openapi-3.0") as
    | { properties?: Record<string, unknown> }
    | undefined;
  const open = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  const properties: Record<string, unknown> = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { $ref: `#/components/schemas/${objectMeta}` },
  };
  let schema: Schema;
  if (kind.layout === "flat") {
    const body = lifted(fromValidator?.properties?.spec, defs) as
      | { properties?: Record<string, unknown>; description?: unknown }
      | undefined;
    Object.assign(properties, body?.properties ?? {});
    schema = {
      ...(typeof body?.description === "string" ? { description: body.description } : {}),
      type: "object",
      properties,
      "x-kubernetes-group-version-kind": gvk,
      ...(body?.properties ? {} : { "x-kubernetes-preserve-unknown-fields": true }),
    };
  } else {
    properties.spec = lifted(fromValidator?.properties?.spec, defs) ?? open;
    properties.status = lifted(fromValidator?.properties?.status, defs) ?? open;
    schema = { type: "object", properties, "x-kubernetes-group-version-kind": gvk };
  }
  const result = { schema, defs };
  described.set(kind, result);
  return result;
}

/** The schema of a kind's objects in OpenAPI 3.0 terms. */
export function openApiSchemaOf(kind: AnyKind): Record<string, unknown> {
  return describe(kind).schema;
}

/** `GET /openapi/v3/<group-version>`: the document of one group-version. */
export function openApiDocument(kinds: readonly AnyKind[]): Record<string, unknown> {
  const schemas: Record<string, unknown> = { [objectMeta]: objectMetaSchema };
  const paths: Record<string, unknown> = {};
  const fieldValidation = {
    name: "fieldValidation",
    in: "query",
    schema: { type: "string", uniqueItems: true },
  };
  for (const kind of kinds) {
    const name = schemaName(kind);
    const { schema, defs } = describe(kind);
    Object.assign(schemas, defs);
    schemas[name] = schema;
    const ref = { $ref: `#/components/schemas/${name}` };
    const gvk = { group: kind.group, version: kind.version, kind: kind.kind };
    const response = {
      200: { description: "OK", content: { "application/json": { schema: ref } } },
    };
    const base = `/${groupVersionPath(kind)}${kind.scope === "Namespaced" ? "/namespaces/{namespace}" : ""}/${kind.plural}`;
    const operation = (action: string) => ({
      "x-kubernetes-action": action,
      "x-kubernetes-group-version-kind": gvk,
      parameters: [fieldValidation],
      responses: response,
    });
    paths[base] = { get: operation("list"), post: operation("post") };
    paths[`${base}/{name}`] = {
      get: operation("get"),
      put: operation("put"),
      patch: operation("patch"),
      delete: operation("delete"),
    };
    if (kind.layout !== "flat")
      paths[`${base}/{name}/status`] = {
        get: operation("get"),
        put: operation("put"),
        patch: operation("patch"),
      };
  }
  return {
    openapi: "3.0.0",
    info: { title: "setpoint", version: "v1" },
    paths,
    components: { schemas },
  };
}

/** `GET /openapi/v3`: where each group-version's document is. */
export function openApiIndex(kinds: readonly AnyKind[]): Record<string, unknown> {
  const groups = new Map<string, AnyKind[]>();
  for (const kind of kinds) {
    const path = groupVersionPath(kind);
    groups.set(path, [...(groups.get(path) ?? []), kind]);
  }
  const paths: Record<string, unknown> = {};
  for (const [path, list] of groups) {
    const hash = documentHash(list);
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  return { paths };
}

/** The hashes of group-version documents, by the kinds in them (kinds are immutable). */
const hashes = new Map<string, string>();
const kindNumbers = new WeakMap<AnyKind, number>();
let nextKindNumber = 0;

function documentHash(kinds: readonly AnyKind[]): string {
  const key = kinds
    .map((kind) => {
      let number = kindNumbers.get(kind);
      if (number === undefined) {
        number = nextKindNumber++;
        kindNumbers.set(kind, number);
      }
      return number;
    })
    .join(",");
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = createHash("sha256")
      .update(JSON.stringify(openApiDocument(kinds)))
      .digest("hex")
      .slice(0, 32)
      .toUpperCase();
    // Kinds of CRDs come and go: keep the cache from growing without bound.
    if (hashes.size >= 1024) hashes.clear();
    hashes.set(key, hash);
  }
  return hash;
}
