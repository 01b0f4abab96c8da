import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { setOwn } from "./json.js";
import type { Frozen, Resource, ResourceInput } from "./resource.js";

/** Whether objects of a kind live in a namespace or in the cluster as a whole. */
export type Scope = "Namespaced" | "Cluster";

/** Where a kind's validated fields live: under `spec`, or at the top level (`flat`). */
export type KindLayout = "spec" | "flat";

/** An extra column for `kubectl get` (a CRD's `additionalPrinterColumns`). */
export interface PrinterColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "number" | "boolean" | "date";
  /** A simple JSONPath into the object, e.g. `.spec.replicas`. */
  readonly jsonPath: string;
  readonly description?: string;
  /** 0 shows in the standard view; higher shows only with `-o wide`. @default 0 */
  readonly priority?: number;
  readonly format?: string;
  /**
   * Computes the cell where a JSONPath cannot (READY as "1/3", a pod's STATUS): served Tables
   * use it instead of `jsonPath`, which stays what a CRD of the kind shows. `now` is the
   * server's clock (epoch ms), for ages. @default the value at `jsonPath`
   */
  // biome-ignore lint/suspicious/noExplicitAny: a column reads any kind's object
  readonly value?: (object: any, now: number) => unknown;
}

/**
 * A scale subresource (`/scale`, what `kubectl scale` and autoscalers use): where a kind keeps
 * its desired and observed replica counts, as a CRD's `subresources.scale` says.
 */
export interface ScaleSubresource {
  /** The desired replicas, a simple JSON path under `.spec`, e.g. `.spec.replicas`. */
  readonly specReplicasPath: string;
  /** The observed replicas, a simple JSON path under `.status`, e.g. `.status.replicas`. */
  readonly statusReplicasPath: string;
  /**
   * Where the label selector of the replicas is kept, as a string (`app=web`), under `.spec`
   * or `.status`; autoscalers read it. @default none
   */
  readonly labelSelectorPath?: string;
}

/** What {@link defineKind} takes. */
export interface KindOptions<
  SpecSchema extends StandardSchemaV1,
  StatusSchema extends StandardSchemaV1 | undefined,
  Layout extends KindLayout = KindLayout,
> {
  /** API group, e.g. `example.setpoint.dev`; `""` for the core group. */
  readonly group: string;
  /** API version within the group, e.g. `v1`. */
  readonly version: string;
  /** The kind's name in PascalCase, e.g. `Widget`. */
  readonly kind: string;
  /** The lower-case plural used in URLs. @default the kind lower-cased and pluralized (`widgets`) */
  readonly plural?: string;
  /** @default the kind lower-cased */
  readonly singular?: string;
  readonly scope: Scope;
  /** Validator of `spec` (any Standard Schema library: zod, valibot, arktype…). */
  readonly spec: SpecSchema;
  /**
   * Where the validated fields live. `"spec"`: under `spec`, as custom resources have them.
   * `"flat"`: at the top level beside `metadata`, as Kubernetes' Event or ConfigMap have them;
   * `spec` then validates every top-level field but `apiVersion`, `kind`, `metadata` and
   * `status`. @default "spec"
   */
  readonly layout?: Layout;
  /** Validator of `status`; without it any JSON object is accepted as status. */
  readonly status?: StatusSchema;
  readonly printerColumns?: readonly PrinterColumn[];
  /** Short names for kubectl, e.g. `["wd"]`. @default [] */
  readonly shortNames?: readonly string[];
  /**
   * Categories for kubectl: `["all"]` puts the kind in `kubectl get all`. @default []
   */
  readonly categories?: readonly string[];
  /**
   * A `/scale` subresource (autoscaling/v1 `Scale`), so that `kubectl scale` and autoscalers
   * work on the kind; it goes into the kind's CRD as `subresources.scale`. @default none
   */
  readonly scale?: ScaleSubresource;
}

/**
 * A kind of object: its identity (group, version, kind, plural), its scope and the validators
 * of its `spec` and `status`. The static type of everything typed downstream.
 */
export interface Kind<
  SpecSchema extends StandardSchemaV1 = StandardSchemaV1,
  StatusSchema extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined,
  Layout extends KindLayout = KindLayout,
> {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly scope: Scope;
  readonly layout: Layout;
  /** `group/version`, or just `version` for the core group. */
  readonly apiVersion: string;
  readonly spec: SpecSchema;
  readonly status: StatusSchema;
  readonly printerColumns: readonly PrinterColumn[];
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** The `/scale` subresource, if the kind has one. */
  readonly scale?: ScaleSubresource | undefined;
}

/** Any kind, whatever its schemas. */
// biome-ignore lint/suspicious/noExplicitAny: the widest kind type; schemas are checked per kind
export type AnyKind = Kind<any, any>;

/** The spec type of a kind's stored objects. */
export type SpecOf<K extends AnyKind> = StandardSchemaV1.InferOutput<K["spec"]>;
/** The status type of a kind's stored objects. */
export type StatusOf<K extends AnyKind> = K["status"] extends StandardSchemaV1
  ? StandardSchemaV1.InferOutput<K["status"]>
  : Record<string, unknown>;
/** The spec type a writer of a kind sends (before defaults are applied). */
export type SpecInputOf<K extends AnyKind> = StandardSchemaV1.InferInput<K["spec"]>;
/** The status type a writer of a kind sends. */
export type StatusInputOf<K extends AnyKind> = K["status"] extends StandardSchemaV1
  ? StandardSchemaV1.InferInput<K["status"]>
  : Record<string, unknown>;

/**
 * An object of kind `K` as stores hand it out: deeply read-only.
 *
 * @example
 * ```ts
 * type WidgetObject = ResourceOf<typeof Widget>;
 * ```
 */
export type ResourceOf<K extends AnyKind> = K["layout"] extends "flat"
  ? Frozen<FlatResource<SpecOf<K>, StatusOf<K>>>
  : Frozen<Resource<SpecOf<K>, StatusOf<K>>>;

/** An object of kind `K` as written: `apiVersion`, `kind` and server-set metadata optional. */
export type ResourceInputOf<K extends AnyKind> = K["layout"] extends "flat"
  ? Frozen<FlatResourceInput<SpecInputOf<K>, StatusInputOf<K>>>
  : Frozen<ResourceInput<SpecInputOf<K>, StatusInputOf<K>>>;

/** An object of a flat kind (ConfigMap, Event): its fields beside `metadata`, no `spec`. */
export type FlatResource<Body, Status> = Omit<Resource<never, Status>, "spec"> & Body;
/** An object of a flat kind as written. */
export type FlatResourceInput<Body, Status> = Omit<ResourceInput<never, Status>, "spec"> & Body;

const kindPattern = /^[A-Z][A-Za-z0-9]*$/;
const versionPattern = /^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;
const groupPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const resourceNamePattern = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Kubernetes' guess of a kind's plural (`UnsafeGuessKindToResource`): lower-case, then `s`,
 * `es` after s/x/z/ch/sh, `ies` after a consonant and `y`.
 */
export function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/**
 * Defines a kind. Validates the identity eagerly and throws a `TypeError` naming the bad field.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * const Widget = defineKind({
 *   group: "example.setpoint.dev",
 *   version: "v1",
 *   kind: "Widget",
 *   scope: "Namespaced",
 *   spec: z.object({ replicas: z.number().int().min(0) }),
 *   status: z.object({ readyReplicas: z.number().int().optional() }),
 * });
 * ```
 */
export function defineKind<
  SpecSchema extends StandardSchemaV1,
  StatusSchema extends StandardSchemaV1 | undefined = undefined,
  Layout extends KindLayout = "spec",
>(options: KindOptions<SpecSchema, StatusSchema, Layout>): Kind<SpecSchema, StatusSchema, Layout> {
  const { group, version, kind, scope } = options;
  if (group !== "" && (group.length > 253 || !groupPattern.test(group))) {
    throw new TypeError(
      `defineKind: group "${group}" must be a lower-case DNS subdomain such as "example.setpoint.dev"`,
    );
  }
  if (!versionPattern.test(version)) {
    throw new TypeError(
      `defineKind: version "${version}" must look like "v1", "v1beta2" or "v2alpha1"`,
    );
  }
  if (!kindPattern.test(kind)) {
    throw new TypeError(
      `defineKind: kind "${kind}" must be PascalCase letters and digits, such as "Widget"`,
    );
  }
  if (options.layout !== undefined && options.layout !== "spec" && options.layout !== "flat") {
    throw new TypeError(
      `defineKind: layout must be "spec" or "flat", not ${JSON.stringify(options.layout)}`,
    );
  }
  if (scope !== "Namespaced" && scope !== "Cluster") {
    throw new TypeError(
      `defineKind: scope must be "Namespaced" or "Cluster", not ${JSON.stringify(scope)}`,
    );
  }
  if (options.scale !== undefined) {
    const issue = scaleIssue(options.scale);
    if (issue !== undefined) throw new TypeError(`defineKind: scale.${issue}`);
  }
  const plural = options.plural ?? pluralOf(kind);
  const singular = options.singular ?? kind.toLowerCase();
  for (const [field, value] of [
    ["plural", plural],
    ["singular", singular],
  ] as const) {
    if (!resourceNamePattern.test(value) || value.length > 63) {
      throw new TypeError(
        `defineKind: ${field} "${value}" must be lower-case letters, digits and '-'`,
      );
    }
  }
  for (const [field, schema] of [
    ["spec", options.spec],
    ["status", options.status],
  ] as const) {
    if (
      schema !== undefined &&
      typeof (schema as StandardSchemaV1)["~standard"]?.validate !== "function"
    ) {
      throw new TypeError(
        `defineKind: ${field} must be a Standard Schema validator (zod, valibot, arktype…)`,
      );
    }
  }
  return Object.freeze({
    group,
    version,
    kind,
    plural,
    singular,
    scope,
    layout: options.layout ?? ("spec" as Layout),
    apiVersion: group === "" ? version : `${group}/${version}`,
    spec: options.spec,
    status: options.status as StatusSchema,
    printerColumns: Object.freeze([...(options.printerColumns ?? [])]),
    shortNames: Object.freeze([...(options.shortNames ?? [])]),
    categories: Object.freeze([...(options.categories ?? [])]),
    scale: options.scale === undefined ? undefined : Object.freeze({ ...options.scale }),
  });
}

const simpleJsonPath = /^(\.[A-Za-z0-9_-]+)+$/;

/**
 * What is wrong with a scale subresource's paths, as Kubernetes checks a CRD's: each a simple
 * JSON path (`.a.b`, no indices or filters), the desired replicas under `.spec`, the observed
 * under `.status`, the selector under either. `undefined` when nothing is.
 */
export function scaleIssue(scale: ScaleSubresource): string | undefined {
  const paths: [string, unknown, readonly string[]][] = [
    ["specReplicasPath", scale.specReplicasPath, [".spec."]],
    ["statusReplicasPath", scale.statusReplicasPath, [".status."]],
    ["labelSelectorPath", scale.labelSelectorPath, [".spec.", ".status."]],
  ];
  for (const [field, path, under] of paths) {
    if (path === undefined && field === "labelSelectorPath") continue;
    if (typeof path !== "string" || !simpleJsonPath.test(path))
      return `${field} ${JSON.stringify(path)} must be a simple JSON path such as ".spec.replicas"`;
    if (!under.some((prefix) => path.startsWith(prefix)))
      return `${field} ${JSON.stringify(path)} must be a path under ${under.map((p) => p.slice(0, -1)).join(" or ")}`;
  }
  return undefined;
}

/** A JSON Schema document, as a plain object. */
export type JsonSchema = Record<string, unknown>;

/** The JSON Schema flavours a kind's validators may be asked for. */
export type JsonSchemaTarget = "draft-2020-12" | "draft-07" | "openapi-3.0";

function schemaOf(
  validator: unknown,
  target: JsonSchemaTarget,
  where: string,
): JsonSchema | undefined {
  const standard = (validator as Partial<StandardJSONSchemaV1> | undefined)?.["~standard"];
  const converter = standard?.jsonSchema;
  if (converter === undefined) return undefined;
  try {
    const { $schema: _, ...schema } = converter.input({ target });
    return withoutSafeIntegerBounds(schema) as JsonSchema;
  } catch (error) {
    const field = unrepresentableField(validator);
    throw new TypeError(
      `${where}${field === undefined ? "" : `.${field}`} cannot be represented in JSON Schema (${(error as Error).message}): use JSON types (strings for dates, numbers for bigints) in a kind`,
      { cause: error },
    );
  }
}

/**
 * A schema without the bounds that only say "a safe JavaScript integer": zod's `.int()` writes
 * `minimum: -9007199254740991` and `maximum: 9007199254740991` on every integer, which are noise
 * in a CRD and in `kubectl explain`. Exactly those two values go; bounds a user set stay.
 */
function withoutSafeIntegerBounds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutSafeIntegerBounds);
  if (node === null || typeof node !== "object") return node;
  const type = (node as { type?: unknown }).type;
  const integer = type === "integer" || (Array.isArray(type) && type.includes("integer"));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (integer && key === "minimum" && value === -Number.MAX_SAFE_INTEGER) continue;
    if (integer && key === "maximum" && value === Number.MAX_SAFE_INTEGER) continue;
    setOwn(out, key, withoutSafeIntegerBounds(value));
  }
  return out;
}

/** zod types JSON Schema has no word for. */
const unrepresentable = new Set([
  "bigint",
  "date",
  "symbol",
  "undefined",
  "void",
  "map",
  "set",
  "transform",
  "function",
  "promise",
  "nan",
  "custom",
]);

/**
 * The path (`a.b[].c`) of the first field of a zod schema that JSON Schema cannot represent, or
 * undefined when the validator is not zod or the field cannot be found. For error messages only.
 */
function unrepresentableField(validator: unknown, path = ""): string | undefined {
  const def = (validator as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
  if (def === undefined) return undefined;
  const type = def.type as string;
  if (unrepresentable.has(type)) return path;
  const join = (key: string) => (path === "" ? key : `${path}.${key}`);
  const children: [string, unknown][] = [];
  if (type === "object")
    for (const [key, child] of Object.entries((def.shape as Record<string, unknown>) ?? {}))
      children.push([join(key), child]);
  else if (type === "array") children.push([`${path}[]`, def.element]);
  else if (type === "record") children.push([join("*"), def.valueType]);
  else if (type === "union")
    for (const option of (def.options as unknown[]) ?? []) children.push([path, option]);
  else if (type === "pipe") children.push([path, def.in], [path, def.out]);
  else if (def.innerType !== undefined) children.push([path, def.innerType]);
  for (const [childPath, child] of children) {
    const found = unrepresentableField(child, childPath);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The JSON Schema of a kind's objects, when its validators can produce one (those that
 * implement Standard JSON Schema, such as zod 4, can); `undefined` otherwise. Describes what a
 * writer sends, so fields with defaults are optional. Used for OpenAPI and CRDs.
 *
 * @param target @default "draft-2020-12"
 * @example
 * ```ts
 * const schema = jsonSchemaOf(Widget, "openapi-3.0");
 * ```
 */
export function jsonSchemaOf(
  kind: AnyKind,
  target: JsonSchemaTarget = "draft-2020-12",
): JsonSchema | undefined {
  const spec = schemaOf(kind.spec, target, `kind ${kind.kind}: spec`);
  if (spec === undefined) return undefined;
  const status =
    kind.status === undefined
      ? { type: "object" }
      : schemaOf(kind.status, target, `kind ${kind.kind}: status`);
  if (status === undefined) return undefined;
  return {
    type: "object",
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec,
      status,
    },
    required: ["spec"],
  };
}

/** `group/kind`: the identity of a kind inside a store, whatever its version. */
export function kindId(kind: { readonly group: string; readonly kind: string }): string {
  return `${kind.group}/${kind.kind}`;
}

/** The API group of an `apiVersion` ("" for the core group's "v1"). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}
