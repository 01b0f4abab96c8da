/**
 * The rules a CustomResourceDefinition must keep, as the Kubernetes API server checks them
 * (`apiextensions-apiserver/pkg/apis/apiextensions/validation`): names, a group of its own, one
 * storage version, and a structural schema that {@link CrdSchema} compiles (patterns RE2 can run,
 * defaults their schema accepts, within its limits).
 *
 * What a CRD alone can be checked for is here ({@link crdSpecIssues}, run by the
 * CustomResourceDefinition kind's validator on every write, whatever the store); what needs the
 * object's name or the kinds a server already serves is {@link crdServingIssues}, run by
 * `setpoint serve` before a CRD is written and again before it is served.
 */
import { type AnyKind, scaleIssue } from "../model/kind.js";
import { isPlainObject } from "../model/validation.js";
import { CrdSchema, schemaDigest } from "./crd-schema.js";

/** One fault of a CRD: where (from `spec`, or from the object for serving issues) and why. */
export interface CrdIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** Which of Kubernetes' field errors it is, as the causes of an `Invalid` error name it. @default "FieldValueInvalid" */
  readonly reason?: "FieldValueForbidden" | "FieldValueInvalid";
}

/** A `Forbidden` fault (Kubernetes' `field.Forbidden`): `detail` is not allowed at `path`. */
function forbidden(path: readonly (string | number)[], detail: string): CrdIssue {
  return { path, message: `Forbidden: ${detail}`, reason: "FieldValueForbidden" };
}

/** The parts of a CRD's spec the rules read. */
export interface CrdSpecShape {
  readonly group: string;
  readonly names: {
    readonly plural: string;
    readonly singular?: string | undefined;
    readonly kind: string;
    readonly listKind?: string | undefined;
    readonly shortNames?: readonly string[] | undefined;
    readonly categories?: readonly string[] | undefined;
  };
  readonly versions: readonly {
    readonly name: string;
    readonly storage: boolean;
    readonly schema?: { readonly openAPIV3Schema: Readonly<Record<string, unknown>> } | undefined;
    readonly subresources?:
      | { readonly scale?: Readonly<Record<string, unknown>> | undefined }
      | undefined;
  }[];
}

const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const kindName = /^[A-Z][A-Za-z0-9]*$/;
const versionName = /^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;

/**
 * Whether `group` belongs to the Kubernetes project: `k8s.io`, `kubernetes.io` and their
 * subdomains. Kubernetes accepts CRDs there only with an `api-approved.kubernetes.io`
 * annotation; `setpoint serve` serves its own kinds there (Lease, Event, CRDs) and takes none.
 */
export function isProtectedGroup(group: string): boolean {
  return (
    group === "k8s.io" ||
    group === "kubernetes.io" ||
    group.endsWith(".k8s.io") ||
    group.endsWith(".kubernetes.io")
  );
}

function checkLabelName(
  issues: CrdIssue[],
  path: (string | number)[],
  value: string | undefined,
): void {
  if (value === undefined) return;
  if (value.length > 63 || !dns1035Label.test(value))
    issues.push({
      path,
      message: `Invalid value: ${JSON.stringify(value)}: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character`,
    });
}

/**
 * Everything wrong with a CRD's spec on its own: its group (a domain with a dot, not one of
 * Kubernetes' own), names, versions (exactly one stored) and each version's schema (required
 * and structural, see {@link schemaIssues}). Paths start below `spec`.
 */
export function crdSpecIssues(spec: CrdSpecShape): CrdIssue[] {
  const issues: CrdIssue[] = [];
  const { group, names } = spec;
  if (group === "" || group.length > 253 || !dns1123Subdomain.test(group))
    issues.push({
      path: ["group"],
      message: `Invalid value: ${JSON.stringify(group)}: must be a lower-case DNS subdomain`,
    });
  else if (!group.includes("."))
    issues.push({
      path: ["group"],
      message: `Invalid value: ${JSON.stringify(group)}: should be a domain with at least one dot`,
    });
  else if (isProtectedGroup(group))
    issues.push(
      forbidden(
        ["group"],
        `${JSON.stringify(group)} is a protected Kubernetes group (k8s.io, kubernetes.io and their subdomains); define custom resources in a group of your own`,
      ),
    );
  checkLabelName(issues, ["names", "plural"], names.plural);
  checkLabelName(issues, ["names", "singular"], names.singular);
  for (const [field, value] of [
    ["kind", names.kind],
    ["listKind", names.listKind],
  ] as const) {
    if (value !== undefined && !kindName.test(value))
      issues.push({
        path: ["names", field],
        message: `Invalid value: ${JSON.stringify(value)}: must be PascalCase letters and digits, such as "Widget"`,
      });
  }
  if (names.listKind !== undefined && names.listKind === names.kind)
    issues.push({
      path: ["names", "listKind"],
      message: "Invalid value: kind and listKind cannot be the same",
    });
  for (const field of ["shortNames", "categories"] as const)
    (names[field] ?? []).forEach((value, i) => {
      checkLabelName(issues, ["names", field, i], value);
    });

  const seen = new Set<string>();
  let stored = 0;
  spec.versions.forEach((version, i) => {
    if (!versionName.test(version.name))
      issues.push({
        path: ["versions", i, "name"],
        message: `Invalid value: ${JSON.stringify(version.name)}: must look like "v1", "v1beta2" or "v2alpha1"`,
      });
    if (seen.has(version.name))
      issues.push({
        path: ["versions", i, "name"],
        message: `Duplicate value: ${JSON.stringify(version.name)}`,
      });
    seen.add(version.name);
    if (version.storage) stored++;
    const schema = version.schema?.openAPIV3Schema;
    if (schema === undefined)
      issues.push({
        path: ["versions", i, "schema", "openAPIV3Schema"],
        message: "Required value: schemas are required",
      });
    else
      for (const issue of versionSchemaIssues(schema))
        issues.push({
          ...issue,
          path: ["versions", i, "schema", "openAPIV3Schema", ...issue.path],
        });
    const scale = version.subresources?.scale;
    const scaleFault = scale === undefined ? undefined : scaleIssue(scale as never);
    if (scaleFault !== undefined)
      issues.push({
        path: ["versions", i, "subresources", "scale", scaleFault.split(" ")[0]!],
        message: `Invalid value: ${scaleFault}`,
      });
  });
  if (stored !== 1)
    issues.push({
      path: ["versions"],
      message: `Invalid value: ${stored}: must have exactly one version marked as storage version`,
    });
  return issues;
}

/** What {@link versionSchemaIssues} found, by schema digest, the most recently used last. */
const checkedSchemas = new Map<string, readonly CrdIssue[]>();

/**
 * Everything wrong with one version's schema, with paths from the schema: the structural rules
 * ({@link schemaIssues}), then what compiling it finds (keyword values, patterns, defaults,
 * limits; {@link CrdSchema.compile}). Remembered by the schema's digest, for a CRD is checked on
 * every write and every time it is served: a large schema is walked once, not each time.
 */
function versionSchemaIssues(schema: Readonly<Record<string, unknown>>): readonly CrdIssue[] {
  const digest = schemaDigest(schema);
  const cached = digest === undefined ? undefined : checkedSchemas.get(digest.key);
  if (digest !== undefined && cached !== undefined) {
    checkedSchemas.delete(digest.key);
    checkedSchemas.set(digest.key, cached);
    return cached;
  }
  const structural = schemaIssues(schema);
  const issues = structural.length > 0 ? structural : (CrdSchema.compile(schema).issues ?? []);
  if (digest !== undefined) {
    checkedSchemas.set(digest.key, issues);
    if (checkedSchemas.size > 256) checkedSchemas.delete(checkedSchemas.keys().next().value!);
  }
  return issues;
}

const schemaTypes = new Set(["object", "array", "string", "integer", "number", "boolean"]);
const forbiddenKeywords = [
  "$ref",
  "$schema",
  "id",
  "definitions",
  "dependencies",
  "additionalItems",
  "patternProperties",
];
/** What a structural schema may not set inside `allOf`, `anyOf`, `oneOf` or `not`. */
const forbiddenInJunctors = ["type", "default", "additionalProperties", "nullable", "description"];

/**
 * Where a CRD's OpenAPI v3 schema is not structural, as Kubernetes requires: every node typed
 * (unless it keeps unknown fields or is int-or-string), `items` for arrays, `properties` or
 * `additionalProperties` but not both, no `$ref`, `patternProperties` and other keywords
 * Kubernetes forbids, no types or defaults inside logical junctors, no `uniqueItems: true`
 * (quadratic), no `additionalProperties: false`, `metadata` restricted only in `name` and
 * `generateName`, and an object at the root. What the schema's keywords say (patterns RE2
 * can run, defaults the schema accepts, limits) {@link CrdSchema.compile} checks.
 */
export function schemaIssues(
  schema: Readonly<Record<string, unknown>>,
  root: readonly (string | number)[] = [],
): CrdIssue[] {
  const issues: CrdIssue[] = [];
  if (schema.type !== "object")
    issues.push({
      path: [...root, "type"],
      message: `Invalid value: ${JSON.stringify(schema.type)}: must be object at the root`,
    });
  walkSchema(schema, [...root], { junctor: false, intOrString: false }, issues);
  const metadata = isPlainObject(schema.properties) ? schema.properties.metadata : undefined;
  if (isPlainObject(metadata)) {
    const path = [...root, "properties", "metadata"];
    for (const key of Object.keys(metadata))
      if (key !== "type" && key !== "properties")
        issues.push(
          forbidden([...path, key], "must not be specified, but metadata is implicitly specified"),
        );
    if (metadata.type !== undefined && metadata.type !== "object")
      issues.push({ path: [...path, "type"], message: "Invalid value: must be object" });
    if (isPlainObject(metadata.properties))
      for (const key of Object.keys(metadata.properties))
        if (key !== "name" && key !== "generateName")
          issues.push(
            forbidden(
              [...path, "properties", key],
              "only name and generateName of metadata may be restricted",
            ),
          );
  }
  return issues;
}

function walkSchema(
  node: unknown,
  path: (string | number)[],
  where: { junctor: boolean; intOrString: boolean },
  issues: CrdIssue[],
): void {
  if (!isPlainObject(node)) {
    issues.push({ path, message: "Invalid value: a schema must be an object" });
    return;
  }
  for (const keyword of forbiddenKeywords)
    if (node[keyword] !== undefined)
      issues.push(forbidden([...path, keyword], `${keyword} is not supported`));
  const preserve = node["x-kubernetes-preserve-unknown-fields"];
  if (preserve !== undefined && preserve !== true)
    issues.push({
      path: [...path, "x-kubernetes-preserve-unknown-fields"],
      message: "Invalid value: must be true or undefined",
    });
  const intOrString = node["x-kubernetes-int-or-string"] === true;
  if (where.junctor) {
    for (const keyword of forbiddenInJunctors)
      if (node[keyword] !== undefined && !(keyword === "type" && where.intOrString))
        issues.push(
          forbidden([...path, keyword], `must not be used inside allOf, anyOf, oneOf or not`),
        );
  } else if (node.type === undefined) {
    if (!intOrString && preserve !== true)
      issues.push({ path: [...path, "type"], message: "Required value: must not be empty" });
  }
  if (node.type !== undefined && (typeof node.type !== "string" || !schemaTypes.has(node.type)))
    issues.push({
      path: [...path, "type"],
      message: `Unsupported value: ${JSON.stringify(node.type)}: supported values: "array", "boolean", "integer", "number", "object", "string"`,
    });
  if (intOrString && node.type !== undefined && !where.junctor)
    issues.push({
      path: [...path, "type"],
      message: "Invalid value: must be empty if x-kubernetes-int-or-string is true",
    });
  if (node.uniqueItems === true)
    issues.push(
      forbidden(
        [...path, "uniqueItems"],
        "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
      ),
    );
  if (node.additionalProperties === false)
    issues.push(
      forbidden([...path, "additionalProperties"], "additionalProperties cannot be set to false"),
    );
  if (node.properties !== undefined && node.additionalProperties !== undefined)
    issues.push(
      forbidden(
        [...path, "additionalProperties"],
        "additionalProperties and properties are mutual exclusive",
      ),
    );
  const inside = { junctor: where.junctor, intOrString: where.intOrString || intOrString };
  if (node.type === "array" && node.items === undefined && !where.junctor)
    issues.push({ path: [...path, "items"], message: "Required value: must be specified" });
  if (node.items !== undefined) {
    if (Array.isArray(node.items))
      issues.push(forbidden([...path, "items"], "items must be a schema object and not an array"));
    else walkSchema(node.items, [...path, "items"], inside, issues);
  }
  if (node.properties !== undefined) {
    if (!isPlainObject(node.properties))
      issues.push({ path: [...path, "properties"], message: "Invalid value: must be an object" });
    else
      for (const [key, child] of Object.entries(node.properties))
        walkSchema(child, [...path, "properties", key], inside, issues);
  }
  if (isPlainObject(node.additionalProperties))
    walkSchema(node.additionalProperties, [...path, "additionalProperties"], inside, issues);
  for (const junctor of ["allOf", "anyOf", "oneOf"] as const) {
    const branches = node[junctor];
    if (branches === undefined) continue;
    if (!Array.isArray(branches)) {
      issues.push({ path: [...path, junctor], message: "Invalid value: must be a list" });
      continue;
    }
    branches.forEach((branch, i) => {
      walkSchema(branch, [...path, junctor, i], { ...inside, junctor: true }, issues);
    });
  }
  if (node.not !== undefined)
    walkSchema(node.not, [...path, "not"], { ...inside, junctor: true }, issues);
}

/** A CRD as `setpoint serve` reads it to decide whether to serve it. */
export interface CrdShape {
  readonly metadata: { readonly name: string };
  readonly spec: CrdSpecShape;
}

/**
 * What keeps a CRD from being served beside `served`, the kinds a server already has: its name
 * must be `<plural>.<group>`, and it may not take over a served kind's group and plural or
 * group and kind (a built-in such as Namespace or Lease, a kind a module defines, or another
 * CRD's). Paths start at the object.
 */
export function crdServingIssues(crd: CrdShape, served: Iterable<AnyKind>): CrdIssue[] {
  const issues: CrdIssue[] = [];
  const { group, names } = crd.spec;
  const expected = `${names.plural}.${group}`;
  if (crd.metadata.name !== expected)
    issues.push({
      path: ["metadata", "name"],
      message: `Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group (${JSON.stringify(expected)})`,
    });
  for (const kind of served) {
    if (kind.group !== group) continue;
    if (kind.plural === names.plural)
      issues.push(
        forbidden(
          ["spec", "names", "plural"],
          `${JSON.stringify(names.plural)} is already served in ${JSON.stringify(group)} (${kind.kind}); a CRD cannot redefine it`,
        ),
      );
    else if (kind.kind === names.kind)
      issues.push(
        forbidden(
          ["spec", "names", "kind"],
          `${JSON.stringify(names.kind)} is already served in ${JSON.stringify(group)} (${kind.plural}); a CRD cannot redefine it`,
        ),
      );
  }
  return issues;
}
