/**
 * `CrdSchema`: a CustomResourceDefinition's OpenAPI v3 schema, compiled once into a tree that
 * prunes, defaults and validates objects as the Kubernetes API server does
 * (`apiextensions-apiserver/pkg/apiserver/schema`: pruning, then structural defaulting, then
 * validation), in time linear in the schema and in the object.
 *
 * Why not a JSON Schema compiler: ajv (which ran CRD schemas before) generates JavaScript for a
 * schema, and on this machine (2 shared cores) costs about 100 µs a schema node to compile plus
 * 12 µs a node on the first validation — 1.3 s for a schema of 11,000 nodes, blocking the event
 * loop; its `enum` is quadratic (20,000 values: 8.7 s); 2,000 `anyOf` branches generated code
 * nested too deep to run (`Maximum call stack size exceeded` on every create); and it read
 * inherited members (`toString`, `constructor`) as fields. This tree has none of that: building
 * it is one walk (an `enum` becomes a `Set`), validation walks the object with the schema, and
 * every read of an object is of its own members.
 *
 * Guarantees:
 * - {@link CrdSchema.compile} is linear in the size of the schema, caches by the schema's
 *   SHA-256 (a CRD is compiled once however often it is read, written or served) and refuses
 *   what Kubernetes refuses in a schema's keywords — a `minimum` that is not a number, a
 *   `pattern` RE2 cannot run, a `default` its own schema does not accept or that has fields the
 *   schema would prune — and what is over {@link crdSchemaLimits}, each with its path.
 * - {@link CrdSchema.apply} never throws and never reads an inherited member: a field named
 *   `toString`, `constructor` or `__proto__` is an ordinary field.
 *
 * Caveats: `format` is not checked (as before); `x-kubernetes-validations` (CEL),
 * `x-kubernetes-list-type` and `x-kubernetes-embedded-resource` are kept but not enforced.
 */
import { createHash } from "node:crypto";
import { RE2JS } from "re2js";
import { setOwn } from "../model/json.js";
import { isPlainObject } from "../model/validation.js";

/** One fault, in a schema or in an object: where (path segments) and why. */
export interface SchemaIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * How large a CRD schema may be. Kubernetes sets no such limits (its API server validates in
 * compiled Go); setpoint validates on the event loop, so each is chosen to keep the work one
 * CRD or one object costs within tens of milliseconds. Measured on this project's 2-core test
 * machine (Node 20, synthetic schemas, best of five):
 *
 * - `nodes`: schema nodes in one version (every schema object: properties, items,
 *   additionalProperties, branches). 20,000 nodes (about 600 KB of JSON even without
 *   descriptions) compile in about 25 ms — ajv took 1.3 s for 11,000. Creating a CRD near the
 *   limit through `setpoint serve` (19,000 properties, 560 KB) holds the event loop about
 *   120 ms, twice what writing any object of that shape costs a store (a CRD is written as a
 *   dry run first); its schema is checked and compiled once, then found by digest.
 * - `enumValues`: the values of every `enum` of a version together. 100,000 values compile
 *   into their sets in about 35 ms (ajv took 8.7 s for 20,000); a value is then checked in
 *   constant time.
 * - `checksPerValue`: the schema nodes that may be checked against one value of an object — a
 *   node, its `allOf`/`anyOf`/`oneOf`/`not` branches and theirs, counted as if every branch's
 *   properties named the same field. Validation costs at most this many checks a value: at the
 *   limit, the costliest object the size limit lets through (150,000 items, 1.2 MB, each
 *   passing only the last of 31 `anyOf` branches) takes about 200 ms, twice what its pruning
 *   and copying cost with no branches and about what parsing, copying and freezing it costs a
 *   store anyway; a typical object takes well under a millisecond (1,111 fields: 0.2 ms).
 *   Kubernetes' own schemas need 3 (int-or-string).
 * - `issues`: the most faults one validation reports; it stops there.
 */
export const crdSchemaLimits = {
  nodes: 20_000,
  enumValues: 100_000,
  checksPerValue: 32,
  issues: 100,
} as const;

/**
 * A linear-time regular expression from a schema's `pattern`, as Kubernetes runs them (Go's
 * RE2 syntax, matched anywhere in the value). Throws `RE2JSException` for a pattern RE2 cannot
 * compile (lookarounds, backreferences, repeat counts over 1000).
 */
export function compilePattern(pattern: string): { test(value: string): boolean } {
  return RE2JS.compile(pattern);
}

type Path = (string | number)[];
type SchemaType = "object" | "array" | "string" | "integer" | "number" | "boolean";
const schemaTypes: ReadonlySet<string> = new Set([
  "object",
  "array",
  "string",
  "integer",
  "number",
  "boolean",
]);

/** One schema object, compiled. Every map is a `Map`: no schema name meets an inherited member. */
interface Node {
  readonly type: SchemaType | undefined;
  readonly intOrString: boolean;
  readonly nullable: boolean;
  readonly preserveUnknown: boolean;
  readonly properties: ReadonlyMap<string, Node> | undefined;
  /** `true`: any value, kept whole. */
  readonly additional: Node | true | undefined;
  readonly items: Node | undefined;
  /** The default as JSON text (so that every use gets a fresh copy), if there is one. */
  readonly defaultJson: string | undefined;
  readonly maximum: number | undefined;
  readonly exclusiveMaximum: boolean;
  readonly minimum: number | undefined;
  readonly exclusiveMinimum: boolean;
  readonly multipleOf: number | undefined;
  readonly maxLength: number | undefined;
  readonly minLength: number | undefined;
  readonly pattern: { readonly source: string; test(value: string): boolean } | undefined;
  readonly maxItems: number | undefined;
  readonly minItems: number | undefined;
  readonly maxProperties: number | undefined;
  readonly minProperties: number | undefined;
  readonly required: readonly string[] | undefined;
  /** The allowed values as canonical JSON, and how to list them in a message. */
  readonly enum: { readonly values: ReadonlySet<string>; readonly shown: string } | undefined;
  readonly allOf: readonly Node[] | undefined;
  readonly anyOf: readonly Node[] | undefined;
  readonly oneOf: readonly Node[] | undefined;
  readonly not: Node | undefined;
}

/** The own member `key` of `object`, never an inherited one. */
function own(object: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/**
 * JSON text of `value` with object keys sorted, so that equal values have equal text: how an
 * `enum` compares values (as Kubernetes compares them: by value, whatever the key order).
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

/** A value as a message shows it: JSON, cut short. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Counts and limits while a schema is compiled. */
interface Build {
  readonly issues: SchemaIssue[];
  nodes: number;
  enumValues: number;
  /** Whether a limit was reported (each is reported once, where it was first crossed). */
  readonly reported: Set<string>;
}

/** A compiled node and what checking one value against it may cost (see `checksPerValue`). */
interface Built {
  readonly node: Node;
  /** Nodes checked against the value this node is checked against: it and its branches. */
  readonly width: number;
  /** The most nodes checked against any one value at or below this node's. */
  readonly reach: number;
  /** `reach` of the children, summed over this node and its branches. */
  readonly below: number;
}

function overLimit(build: Build, limit: string, path: Path, message: string): void {
  if (build.reported.has(limit)) return;
  build.reported.add(limit);
  build.issues.push({ path, message });
}

function numberKeyword(
  build: Build,
  raw: Readonly<Record<string, unknown>>,
  key: string,
  path: Path,
  check: "number" | "count" | "positive",
): number | undefined {
  const value = own(raw, key);
  if (value === undefined) return undefined;
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (check === "number" ||
      (check === "count" && Number.isInteger(value) && value >= 0) ||
      (check === "positive" && value > 0));
  if (!ok) {
    build.issues.push({
      path: [...path, key],
      message: `Invalid value: ${shown(value)}: must be ${check === "number" ? "a number" : check === "count" ? "a non-negative integer" : "a number greater than zero"}`,
    });
    return undefined;
  }
  return value as number;
}

function booleanKeyword(
  build: Build,
  raw: Readonly<Record<string, unknown>>,
  key: string,
  path: Path,
): boolean {
  const value = own(raw, key);
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    build.issues.push({
      path: [...path, key],
      message: `Invalid value: ${shown(value)}: must be a boolean`,
    });
    return false;
  }
  return value;
}

function branchesOf(
  build: Build,
  raw: Readonly<Record<string, unknown>>,
  key: "allOf" | "anyOf" | "oneOf",
  path: Path,
): Built[] | undefined {
  const value = own(raw, key);
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    build.issues.push({ path: [...path, key], message: "Invalid value: must be a list" });
    return undefined;
  }
  if (value.length >= crdSchemaLimits.checksPerValue)
    overLimit(
      build,
      "checksPerValue",
      [...path, key],
      `Too many: ${value.length}: must have at most ${crdSchemaLimits.checksPerValue - 1} schemas (at most ${crdSchemaLimits.checksPerValue} may apply to one value)`,
    );
  return value.map((branch, i) => compileNode(build, branch, [...path, key, i]));
}

/** Compiles one schema object; faults go to `build.issues`, and a faulty keyword is left out. */
function compileNode(build: Build, raw: unknown, path: Path): Built {
  // Over the limit, the rest is only counted toward nothing: the schema is refused anyway.
  if (build.nodes >= crdSchemaLimits.nodes && build.reported.has("nodes"))
    return { node: emptyNode, width: 1, reach: 1, below: 0 };
  build.nodes++;
  if (build.nodes > crdSchemaLimits.nodes)
    overLimit(
      build,
      "nodes",
      [],
      `Too many: more than ${crdSchemaLimits.nodes} schemas: a version's schema may have at most ${crdSchemaLimits.nodes} (properties, items and branches, at every level)`,
    );
  if (!isPlainObject(raw)) {
    build.issues.push({ path, message: "Invalid value: a schema must be an object" });
    return { node: emptyNode, width: 1, reach: 1, below: 0 };
  }
  const typeValue = own(raw, "type");
  let type: SchemaType | undefined;
  if (typeValue !== undefined) {
    if (typeof typeValue === "string" && schemaTypes.has(typeValue)) type = typeValue as SchemaType;
    else
      build.issues.push({
        path: [...path, "type"],
        message: `Unsupported value: ${shown(typeValue)}: supported values: "array", "boolean", "integer", "number", "object", "string"`,
      });
  }

  let properties: Map<string, Node> | undefined;
  let below = 0;
  const propertiesValue = own(raw, "properties");
  if (propertiesValue !== undefined) {
    if (!isPlainObject(propertiesValue))
      build.issues.push({
        path: [...path, "properties"],
        message: "Invalid value: must be an object",
      });
    else {
      properties = new Map();
      for (const name of Object.keys(propertiesValue)) {
        const child = compileNode(build, propertiesValue[name], [...path, "properties", name]);
        properties.set(name, child.node);
        below = Math.max(below, child.reach);
      }
    }
  }
  let additional: Node | true | undefined;
  const additionalValue = own(raw, "additionalProperties");
  if (additionalValue === true) additional = true;
  else if (isPlainObject(additionalValue)) {
    const child = compileNode(build, additionalValue, [...path, "additionalProperties"]);
    additional = child.node;
    below = Math.max(below, child.reach);
  } else if (additionalValue !== undefined && additionalValue !== false)
    build.issues.push({
      path: [...path, "additionalProperties"],
      message: "Invalid value: must be a schema or a boolean",
    });
  let items: Node | undefined;
  const itemsValue = own(raw, "items");
  if (itemsValue !== undefined) {
    const child = compileNode(build, itemsValue, [...path, "items"]);
    items = child.node;
    below = Math.max(below, child.reach);
  }

  const allOf = branchesOf(build, raw, "allOf", path);
  const anyOf = branchesOf(build, raw, "anyOf", path);
  const oneOf = branchesOf(build, raw, "oneOf", path);
  const notValue = own(raw, "not");
  const not = notValue === undefined ? undefined : compileNode(build, notValue, [...path, "not"]);
  let width = 1;
  for (const branch of [
    ...(allOf ?? []),
    ...(anyOf ?? []),
    ...(oneOf ?? []),
    ...(not ? [not] : []),
  ]) {
    width += branch.width;
    below += branch.below;
  }
  const reach = Math.max(width, below);
  if (reach > crdSchemaLimits.checksPerValue)
    overLimit(
      build,
      "checksPerValue",
      path,
      `Too many: ${reach}: at most ${crdSchemaLimits.checksPerValue} schemas (a schema, its allOf, anyOf, oneOf and not, and theirs) may apply to one value`,
    );

  const patternValue = own(raw, "pattern");
  let pattern: Node["pattern"];
  if (patternValue !== undefined) {
    if (typeof patternValue !== "string")
      build.issues.push({ path: [...path, "pattern"], message: "Invalid value: must be a string" });
    else
      try {
        const compiled = compilePattern(patternValue);
        pattern = { source: patternValue, test: (value) => compiled.test(value) };
      } catch (err) {
        build.issues.push({
          path: [...path, "pattern"],
          message: `Invalid value: ${JSON.stringify(patternValue)}: must be a valid regular expression, but isn't: ${(err as Error).message}`,
        });
      }
  }
  const enumValue = own(raw, "enum");
  let enumeration: Node["enum"];
  if (enumValue !== undefined) {
    if (!Array.isArray(enumValue))
      build.issues.push({ path: [...path, "enum"], message: "Invalid value: must be a list" });
    else if (enumValue.length > 0) {
      build.enumValues += enumValue.length;
      if (build.enumValues > crdSchemaLimits.enumValues)
        overLimit(
          build,
          "enumValues",
          [...path, "enum"],
          `Too many: more than ${crdSchemaLimits.enumValues} enum values in this version's schema: it may have at most ${crdSchemaLimits.enumValues}`,
        );
      else
        enumeration = {
          values: new Set(enumValue.map(canonicalJson)),
          shown: `${enumValue
            .slice(0, 10)
            .map((v) => shown(v))
            .join(", ")}${enumValue.length > 10 ? `, … (${enumValue.length} in all)` : ""}`,
        };
    }
  }
  const requiredValue = own(raw, "required");
  let required: string[] | undefined;
  if (requiredValue !== undefined) {
    if (!Array.isArray(requiredValue) || requiredValue.some((r) => typeof r !== "string"))
      build.issues.push({
        path: [...path, "required"],
        message: "Invalid value: must be a list of strings",
      });
    else if (requiredValue.length > 0) required = requiredValue as string[];
  }
  const intOrString = booleanKeyword(build, raw, "x-kubernetes-int-or-string", path);
  const defaultValue = own(raw, "default");
  return {
    node: {
      type,
      intOrString,
      nullable: booleanKeyword(build, raw, "nullable", path),
      preserveUnknown: own(raw, "x-kubernetes-preserve-unknown-fields") === true,
      properties,
      additional,
      items,
      defaultJson: defaultValue === undefined ? undefined : JSON.stringify(defaultValue),
      maximum: numberKeyword(build, raw, "maximum", path, "number"),
      exclusiveMaximum: booleanKeyword(build, raw, "exclusiveMaximum", path),
      minimum: numberKeyword(build, raw, "minimum", path, "number"),
      exclusiveMinimum: booleanKeyword(build, raw, "exclusiveMinimum", path),
      multipleOf: numberKeyword(build, raw, "multipleOf", path, "positive"),
      maxLength: numberKeyword(build, raw, "maxLength", path, "count"),
      minLength: numberKeyword(build, raw, "minLength", path, "count"),
      pattern,
      maxItems: numberKeyword(build, raw, "maxItems", path, "count"),
      minItems: numberKeyword(build, raw, "minItems", path, "count"),
      maxProperties: numberKeyword(build, raw, "maxProperties", path, "count"),
      minProperties: numberKeyword(build, raw, "minProperties", path, "count"),
      required,
      enum: enumeration,
      allOf: allOf?.map((b) => b.node),
      anyOf: anyOf?.map((b) => b.node),
      oneOf: oneOf?.map((b) => b.node),
      not: not?.node,
    },
    width,
    reach,
    below,
  };
}

const emptyNode: Node = {
  type: undefined,
  intOrString: false,
  nullable: false,
  preserveUnknown: true,
  properties: undefined,
  additional: undefined,
  items: undefined,
  defaultJson: undefined,
  maximum: undefined,
  exclusiveMaximum: false,
  minimum: undefined,
  exclusiveMinimum: false,
  multipleOf: undefined,
  maxLength: undefined,
  minLength: undefined,
  pattern: undefined,
  maxItems: undefined,
  minItems: undefined,
  maxProperties: undefined,
  minProperties: undefined,
  required: undefined,
  enum: undefined,
  allOf: undefined,
  anyOf: undefined,
  oneOf: undefined,
  not: undefined,
};

/** A deep copy of JSON `value`; `__proto__` stays an ordinary key. */
function copyJson(value: unknown): unknown {
  return value === null || typeof value !== "object" ? value : structuredClone(value);
}

/**
 * A pruned copy of `value`: fields its schema does not name are dropped, unless the schema
 * keeps unknown fields (`x-kubernetes-preserve-unknown-fields`), in which case they are kept
 * whole and the fields it names are still pruned — Kubernetes' pruning algorithm. The copy
 * shares nothing with `value`.
 */
function prune(value: unknown, node: Node | undefined): unknown {
  if (node?.preserveUnknown === true) return keepUnknown(value, node);
  if (Array.isArray(value)) return value.map((item) => prune(item, node?.items));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  if (node === undefined) return out;
  for (const key of Object.keys(value)) {
    const property = node.properties?.get(key);
    if (property !== undefined) setOwn(out, key, prune(value[key], property));
    else if (node.additional === true) setOwn(out, key, copyJson(value[key]));
    else if (node.additional !== undefined) setOwn(out, key, prune(value[key], node.additional));
  }
  return out;
}

/** Kubernetes' `skipPrune`: unknown fields kept whole, named ones pruned by their schema. */
function keepUnknown(value: unknown, node: Node): unknown {
  if (Array.isArray(value))
    return value.map((item) =>
      node.items === undefined ? copyJson(item) : keepUnknown(item, node.items),
    );
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const property = node.properties?.get(key);
    if (property !== undefined) setOwn(out, key, prune(value[key], property));
    else if (node.additional !== undefined && node.additional !== true)
      setOwn(out, key, prune(value[key], node.additional));
    else setOwn(out, key, copyJson(value[key]));
  }
  return out;
}

/**
 * Sets defaults in `value` (a pruned copy, changed in place), as Kubernetes' structural
 * defaulting does: a field that is absent, or `null` where the schema is not nullable, gets a
 * copy of its default; then every field is defaulted by its own schema, defaults included.
 */
function applyDefaults(value: unknown, node: Node | undefined): void {
  if (node === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) applyDefaults(item, node.items);
    return;
  }
  if (!isPlainObject(value)) return;
  if (node.properties !== undefined)
    for (const [key, property] of node.properties) {
      if (property.defaultJson === undefined) continue;
      const present = Object.hasOwn(value, key);
      if (!present || (value[key] === null && !property.nullable))
        setOwn(value, key, JSON.parse(property.defaultJson));
    }
  for (const key of Object.keys(value)) {
    const property = node.properties?.get(key);
    if (property !== undefined) applyDefaults(value[key], property);
    else if (node.additional !== undefined && node.additional !== true)
      applyDefaults(value[key], node.additional);
  }
}

/** Where faults of a validation go. */
interface Sink {
  /** Set once no more faults are wanted: validation stops. */
  stop: boolean;
  report(path: Path, message: string): void;
}

/** Collects up to `limit` faults. */
class Issues implements Sink {
  stop = false;
  readonly list: SchemaIssue[] = [];
  constructor(private readonly limit: number) {}
  report(path: Path, message: string): void {
    this.list.push({ path: [...path], message });
    if (this.list.length >= this.limit) this.stop = true;
  }
}

/** Whether a value passes a branch: stops at the first fault. */
class FirstFault implements Sink {
  stop = false;
  report(): void {
    this.stop = true;
  }
}

function passes(value: unknown, node: Node, path: Path): boolean {
  const probe = new FirstFault();
  check(value, node, path, probe);
  return !probe.stop;
}

/** A string's length in code points, as Kubernetes counts it (runes). */
function codePoints(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

function hasType(value: unknown, type: SchemaType): boolean {
  switch (type) {
    case "object":
      return isPlainObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
  }
}

function isMultiple(value: number, of: number): boolean {
  const quotient = value / of;
  return Number.isInteger(quotient) || Math.abs(quotient - Math.round(quotient)) < 1e-9;
}

/**
 * Checks `value` against `node`, reporting each fault to `sink` with its path (`path` is the
 * value's; it is changed while children are checked and restored).
 */
function check(value: unknown, node: Node, path: Path, sink: Sink): void {
  if (value === null && node.nullable) return;
  if (node.intOrString) {
    if (!(typeof value === "string" || (typeof value === "number" && Number.isInteger(value)))) {
      sink.report(
        path,
        `Invalid value: ${JSON.stringify(typeOf(value))}: must be an integer or a string`,
      );
      return;
    }
  } else if (node.type !== undefined && !hasType(value, node.type)) {
    sink.report(
      path,
      `Invalid value: ${JSON.stringify(typeOf(value))}: must be of type ${node.type}`,
    );
    return;
  }
  if (node.enum !== undefined && !node.enum.values.has(canonicalJson(value))) {
    sink.report(path, `Unsupported value: ${shown(value)}: supported values: ${node.enum.shown}`);
    if (sink.stop) return;
  }
  if (typeof value === "number") checkNumber(value, node, path, sink);
  else if (typeof value === "string") checkString(value, node, path, sink);
  else if (Array.isArray(value)) checkArray(value, node, path, sink);
  else if (isPlainObject(value)) checkObject(value, node, path, sink);
  if (sink.stop) return;
  checkJunctors(value, node, path, sink);
}

function checkNumber(value: number, node: Node, path: Path, sink: Sink): void {
  const { maximum, minimum, multipleOf } = node;
  if (maximum !== undefined && (node.exclusiveMaximum ? value >= maximum : value > maximum))
    sink.report(
      path,
      `Invalid value: ${value}: should be less than ${node.exclusiveMaximum ? "" : "or equal to "}${maximum}`,
    );
  if (minimum !== undefined && (node.exclusiveMinimum ? value <= minimum : value < minimum))
    sink.report(
      path,
      `Invalid value: ${value}: should be greater than ${node.exclusiveMinimum ? "" : "or equal to "}${minimum}`,
    );
  if (multipleOf !== undefined && !isMultiple(value, multipleOf))
    sink.report(path, `Invalid value: ${value}: should be a multiple of ${multipleOf}`);
}

function checkString(value: string, node: Node, path: Path, sink: Sink): void {
  const { maxLength, minLength, pattern } = node;
  // A string has at most as many code points as UTF-16 units: count them only when it matters.
  if (maxLength !== undefined && value.length > maxLength && codePoints(value) > maxLength)
    sink.report(path, `Too long: may not be longer than ${maxLength}`);
  if (minLength !== undefined && (value.length < minLength || codePoints(value) < minLength))
    sink.report(path, `Invalid value: ${shown(value)}: should be at least ${minLength} chars long`);
  if (pattern !== undefined && !pattern.test(value))
    sink.report(path, `Invalid value: ${shown(value)}: should match '${pattern.source}'`);
}

function checkArray(value: readonly unknown[], node: Node, path: Path, sink: Sink): void {
  if (node.maxItems !== undefined && value.length > node.maxItems)
    sink.report(path, `Too many: ${value.length}: must have at most ${node.maxItems} items`);
  if (node.minItems !== undefined && value.length < node.minItems)
    sink.report(
      path,
      `Invalid value: ${value.length}: should have at least ${node.minItems} items`,
    );
  const items = node.items;
  if (items === undefined) return;
  for (let i = 0; i < value.length && !sink.stop; i++) {
    path.push(i);
    check(value[i], items, path, sink);
    path.pop();
  }
}

function checkObject(
  value: Readonly<Record<string, unknown>>,
  node: Node,
  path: Path,
  sink: Sink,
): void {
  if (node.maxProperties !== undefined || node.minProperties !== undefined) {
    const count = Object.keys(value).length;
    if (node.maxProperties !== undefined && count > node.maxProperties)
      sink.report(path, `Too many: ${count}: must have at most ${node.maxProperties} properties`);
    if (node.minProperties !== undefined && count < node.minProperties)
      sink.report(
        path,
        `Invalid value: ${count}: should have at least ${node.minProperties} properties`,
      );
  }
  if (node.required !== undefined)
    for (const key of node.required) {
      if (sink.stop) return;
      if (!Object.hasOwn(value, key)) {
        path.push(key);
        sink.report(path, "Required value");
        path.pop();
      }
    }
  if (node.properties === undefined && (node.additional === undefined || node.additional === true))
    return;
  for (const key of Object.keys(value)) {
    if (sink.stop) return;
    const child =
      node.properties?.get(key) ?? (node.additional === true ? undefined : node.additional);
    if (child === undefined) continue;
    path.push(key);
    check(value[key], child, path, sink);
    path.pop();
  }
}

function checkJunctors(value: unknown, node: Node, path: Path, sink: Sink): void {
  if (node.allOf !== undefined)
    for (const branch of node.allOf) {
      check(value, branch, path, sink);
      if (sink.stop) return;
    }
  if (node.anyOf !== undefined && !node.anyOf.some((branch) => passes(value, branch, path)))
    sink.report(path, `Invalid value: ${shown(value)}: must validate at least one schema (anyOf)`);
  if (node.oneOf !== undefined) {
    let passing = 0;
    for (const branch of node.oneOf) if (passes(value, branch, path) && ++passing > 1) break;
    if (passing !== 1)
      sink.report(
        path,
        `Invalid value: ${shown(value)}: must validate one and only one schema (oneOf)`,
      );
  }
  if (node.not !== undefined && passes(value, node.not, path))
    sink.report(path, `Invalid value: ${shown(value)}: must not validate the schema (not)`);
}

/** Checks each default against its own schema, and that the schema would prune none of it. */
function checkDefaults(node: Node, path: Path, issues: SchemaIssue[]): void {
  if (node.defaultJson !== undefined) {
    const value: unknown = JSON.parse(node.defaultJson);
    if (canonicalJson(prune(value, node)) !== canonicalJson(value))
      issues.push({
        path: [...path, "default"],
        message: `Invalid value: ${shown(value)}: must not have unknown fields`,
      });
    const sink = new Issues(crdSchemaLimits.issues);
    check(value, node, [...path, "default"], sink);
    issues.push(...sink.list);
  }
  for (const [name, child] of node.properties ?? [])
    checkDefaults(child, [...path, "properties", name], issues);
  if (node.additional !== undefined && node.additional !== true)
    checkDefaults(node.additional, [...path, "additionalProperties"], issues);
  if (node.items !== undefined) checkDefaults(node.items, [...path, "items"], issues);
}

/** What {@link CrdSchema.compile} gives: the schema, or why there is none. */
export type CrdSchemaResult =
  | { readonly schema: CrdSchema; readonly issues?: undefined }
  | { readonly schema?: undefined; readonly issues: readonly SchemaIssue[] };

/**
 * What schemas are cached by: the SHA-256 of their JSON (equal schemas, however they arrive,
 * share it), and the JSON's length; `undefined` for a value that is not JSON.
 */
export function schemaDigest(schema: unknown): { key: string; bytes: number } | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(schema);
  } catch {
    return undefined;
  }
  if (json === undefined) return undefined;
  return { key: createHash("sha256").update(json).digest("base64"), bytes: json.length };
}

/** Compiled schemas by the SHA-256 of their JSON, the most recently used last. */
const compiled = new Map<string, { result: CrdSchemaResult; bytes: number }>();
let compiledBytes = 0;
/** How much schema JSON the cache may hold: every CRD a server serves, whatever their number. */
const cacheBytes = 64 * 1024 * 1024;

/**
 * A CRD version's compiled OpenAPI v3 schema: prunes, defaults and validates objects as the
 * Kubernetes API server does. See the module's doc for its guarantees.
 *
 * @example
 * ```ts
 * const compiled = CrdSchema.compile(crd.spec.versions[0].schema.openAPIV3Schema);
 * if (compiled.schema) compiled.schema.property("spec")?.apply({ replicas: 1 });
 * ```
 */
export class CrdSchema {
  private constructor(private readonly node: Node) {}

  /**
   * Compiles `schema` (once: the result is cached by the schema's SHA-256), or gives the faults
   * that keep it from being compiled, with paths from the schema: keyword values of the wrong
   * type, patterns RE2 cannot run, defaults their schema refuses or would prune, and schemas
   * over {@link crdSchemaLimits}. Paths of faults are from the schema's root.
   */
  static compile(schema: unknown): CrdSchemaResult {
    const digest = schemaDigest(schema);
    if (digest === undefined) return { issues: [{ path: [], message: "Invalid value: not JSON" }] };
    const cached = compiled.get(digest.key);
    if (cached !== undefined) {
      compiled.delete(digest.key);
      compiled.set(digest.key, cached);
      return cached.result;
    }
    const result = CrdSchema.build(schema);
    compiled.set(digest.key, { result, bytes: digest.bytes });
    compiledBytes += digest.bytes;
    for (const [oldest, entry] of compiled) {
      if (compiledBytes <= cacheBytes || oldest === digest.key) break;
      compiled.delete(oldest);
      compiledBytes -= entry.bytes;
    }
    return result;
  }

  private static build(schema: unknown): CrdSchemaResult {
    const build: Build = { issues: [], nodes: 0, enumValues: 0, reported: new Set() };
    const { node } = compileNode(build, schema, []);
    if (build.issues.length > 0) return { issues: build.issues };
    const issues: SchemaIssue[] = [];
    checkDefaults(node, [], issues);
    if (issues.length > 0) return { issues };
    return { schema: new CrdSchema(node) };
  }

  /** The schema of a field of the root object (`spec`, `status`), if it names one. */
  property(name: string): CrdSchema | undefined {
    const node = this.node.properties?.get(name);
    return node === undefined ? undefined : new CrdSchema(node);
  }

  /** Whether the schema has a default: what an absent value becomes. */
  get hasDefault(): boolean {
    return this.node.defaultJson !== undefined;
  }

  /**
   * `value` pruned, defaulted and validated, as the Kubernetes API server treats a custom
   * resource: a new value (sharing nothing with `value`), or the faults found, with paths from
   * the value's root, at most {@link crdSchemaLimits}`.issues` of them. `undefined` is an absent
   * value: it becomes the schema's default, if it has one, and stays absent otherwise. Never
   * throws.
   */
  apply(value: unknown): CrdSchemaOutput {
    try {
      const node = this.node;
      let input = value;
      if (
        node.defaultJson !== undefined &&
        (input === undefined || (input === null && !node.nullable))
      )
        input = JSON.parse(node.defaultJson);
      if (input === undefined) return { value: undefined };
      const pruned = prune(input, node);
      applyDefaults(pruned, node);
      const sink = new Issues(crdSchemaLimits.issues);
      check(pruned, node, [], sink);
      return sink.list.length === 0 ? { value: pruned } : { issues: sink.list };
    } catch (err) {
      // Not expected (every walk is bounded by the object's nesting, which stores limit), but a
      // validator that throws must not turn into a 500.
      return {
        issues: [
          {
            path: [],
            message: `Invalid value: the object could not be validated: ${(err as Error).message}`,
          },
        ],
      };
    }
  }
}

/** What {@link CrdSchema.apply} gives: the value as it is to be stored, or its faults. */
export type CrdSchemaOutput =
  | { readonly value: unknown; readonly issues?: undefined }
  | { readonly value?: undefined; readonly issues: readonly SchemaIssue[] };
