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

/** The schema of a kind's objects in OpenAPI 3.0 terms. */
export function openApiSchemaOf(kind: AnyKind): Record<string, unknown> {
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
  if (kind.layout === "flat") {
    const body = (
      jsonSchemaOf(kind, "openapi-3.0")?.properties as
        | Record<string, { properties?: Record<string, unknown> }>
        | undefined
    )?.spec;
    Object.assign(properties, body?.properties ?? {});
    return {
      type: "object",
      properties,
      "x-kubernetes-group-version-kind": gvk,
      ...(body?.properties ? {} : { "x-kubernetes-preserve-unknown-fields": true }),
    };
  }
  properties.spec = fromValidator?.properties?.spec ?? open;
  properties.status = fromValidator?.properties?.status ?? open;
  return { type: "object", properties, "x-kubernetes-group-version-kind": gvk };
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
    schemas[name] = openApiSchemaOf(kind);
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
    const hash = createHash("sha256")
      .update(JSON.stringify(openApiDocument(list)))
      .digest("hex")
      .slice(0, 32)
      .toUpperCase();
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  return { paths };
}
