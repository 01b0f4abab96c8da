/**
 * Kubernetes' validation of names, label keys and values, annotations and finalizers
 * (`k8s.io/apimachinery/pkg/util/validation`), collecting every fault as a {@link StatusCause}
 * with its field path.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { type ErrorSubject, invalid, type StatusCause } from "./api-error.js";

const dns1123LabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123SubdomainPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePattern = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The most a DNS-1123 label (namespace names, label name parts) may hold. */
export const dns1123LabelMaxLength = 63;
/** The most a DNS-1123 subdomain (object names, label prefixes) may hold. */
export const dns1123SubdomainMaxLength = 253;
/** The most all annotations of one object may hold together, keys plus values, in bytes. */
export const totalAnnotationSizeLimit = 256 * 1024;

/** Collects field errors; empty when everything was valid. */
export class FieldErrors {
  readonly causes: StatusCause[] = [];

  invalid(field: string, value: unknown, message: string): void {
    this.causes.push({
      field,
      reason: "FieldValueInvalid",
      message: `Invalid value: ${JSON.stringify(value)}: ${message}`,
    });
  }

  required(field: string, message = "Required value"): void {
    this.causes.push({ field, reason: "FieldValueRequired", message });
  }

  forbidden(field: string, message: string): void {
    this.causes.push({ field, reason: "FieldValueForbidden", message: `Forbidden: ${message}` });
  }

  tooLong(field: string, max: number): void {
    this.causes.push({
      field,
      reason: "FieldValueTooLong",
      message: `Too long: must have at most ${max} bytes`,
    });
  }

  get empty(): boolean {
    return this.causes.length === 0;
  }
}

/** Checks a DNS-1123 label (namespace names): at most 63 lower-case alphanumerics and '-'. */
export function checkDns1123Label(errors: FieldErrors, field: string, value: string): void {
  if (value.length > dns1123LabelMaxLength) {
    errors.invalid(field, value, `must be no more than ${dns1123LabelMaxLength} characters`);
  } else if (!dns1123LabelPattern.test(value)) {
    errors.invalid(
      field,
      value,
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc')",
    );
  }
}

/** Checks a DNS-1123 subdomain (object names): at most 253 characters, labels joined by '.'. */
export function checkDns1123Subdomain(errors: FieldErrors, field: string, value: string): void {
  if (value.length > dns1123SubdomainMaxLength) {
    errors.invalid(field, value, `must be no more than ${dns1123SubdomainMaxLength} characters`);
  } else if (!dns1123SubdomainPattern.test(value)) {
    errors.invalid(
      field,
      value,
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
    );
  }
}

/**
 * Names and values seen valid before: label keys and values repeat across objects, and a set
 * lookup costs less than the regular expressions. Bounded; cleared when full.
 */
const knownValid = new Set<string>();

function remember(kind: "q" | "v", value: string): void {
  if (knownValid.size >= 20_000) knownValid.clear();
  knownValid.add(kind + value);
}

/** Checks a qualified name (label and annotation keys, finalizers): `[prefix/]name`. */
export function checkQualifiedName(errors: FieldErrors, field: string, value: string): void {
  if (knownValid.has(`q${value}`)) return;
  const before = errors.causes.length;
  checkQualifiedNameUncached(errors, field, value);
  if (errors.causes.length === before) remember("q", value);
}

function checkQualifiedNameUncached(errors: FieldErrors, field: string, value: string): void {
  const parts = value.split("/");
  let name = value;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) {
      errors.invalid(field, value, "prefix part must be non-empty");
      return;
    }
    const prefixErrors = new FieldErrors();
    checkDns1123Subdomain(prefixErrors, field, prefix);
    if (!prefixErrors.empty) {
      errors.invalid(
        field,
        value,
        "prefix part must be a lowercase RFC 1123 subdomain (e.g. 'example.com')",
      );
      return;
    }
  } else if (parts.length > 2) {
    errors.invalid(
      field,
      value,
      "a qualified name must consist of an optional DNS subdomain prefix and '/' followed by a name",
    );
    return;
  }
  if (name.length === 0) {
    errors.invalid(field, value, "name part must be non-empty");
  } else if (name.length > dns1123LabelMaxLength) {
    errors.invalid(
      field,
      value,
      `name part must be no more than ${dns1123LabelMaxLength} characters`,
    );
  } else if (!qualifiedNamePattern.test(name)) {
    errors.invalid(
      field,
      value,
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')",
    );
  }
}

/** Checks a label value: empty, or at most 63 alphanumerics, '-', '_' and '.'. */
export function checkLabelValue(errors: FieldErrors, field: string, value: string): void {
  if (knownValid.has(`v${value}`)) return;
  if (value.length <= dns1123LabelMaxLength && labelValuePattern.test(value)) {
    remember("v", value);
    return;
  }
  if (value.length > dns1123LabelMaxLength) {
    errors.invalid(field, value, `must be no more than ${dns1123LabelMaxLength} characters`);
  } else if (!labelValuePattern.test(value)) {
    errors.invalid(
      field,
      value,
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345')",
    );
  }
}

/** Whether `value` is a plain object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Checks a `map[string]string` of labels. */
export function checkLabels(errors: FieldErrors, field: string, labels: unknown): void {
  if (labels === undefined) return;
  if (!isPlainObject(labels)) {
    errors.invalid(field, labels, "must be an object of string keys to string values");
    return;
  }
  for (const [key, value] of Object.entries(labels)) {
    checkQualifiedName(errors, field, key);
    if (typeof value !== "string") errors.invalid(`${field}[${key}]`, value, "must be a string");
    else checkLabelValue(errors, `${field}[${key}]`, value);
  }
}

/** Checks annotations: qualified-name keys, string values, 256 KiB in all. */
export function checkAnnotations(errors: FieldErrors, field: string, annotations: unknown): void {
  if (annotations === undefined) return;
  if (!isPlainObject(annotations)) {
    errors.invalid(field, annotations, "must be an object of string keys to string values");
    return;
  }
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    checkQualifiedName(errors, field, key.toLowerCase());
    if (typeof value !== "string") {
      errors.invalid(`${field}[${key}]`, value, "must be a string");
      continue;
    }
    size += key.length + value.length;
  }
  // Characters are 1 to 3 UTF-8 bytes: count bytes only when the characters come near the limit.
  if (size * 3 > totalAnnotationSizeLimit) {
    let bytes = 0;
    for (const [key, value] of Object.entries(annotations))
      bytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
    if (bytes > totalAnnotationSizeLimit) errors.tooLong(field, totalAnnotationSizeLimit);
  }
}

/** A field path in Kubernetes' notation from a Standard Schema issue path under `root`. */
export function fieldPath(root: string, path: StandardSchemaV1.Issue["path"]): string {
  let out = root;
  for (const segment of path ?? []) {
    const key = typeof segment === "object" ? segment.key : segment;
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Runs a Standard Schema validator on `value` and returns its output, or records each issue
 * under `root` and returns `undefined`. Synchronous validators stay synchronous.
 */
export function validateWith(
  schema: StandardSchemaV1,
  value: unknown,
  root: string,
  errors: FieldErrors,
): { value: unknown } | undefined | Promise<{ value: unknown } | undefined> {
  const settle = (result: StandardSchemaV1.Result<unknown>) => {
    if (result.issues === undefined) return { value: result.value };
    for (const issue of result.issues) {
      errors.causes.push({
        field: fieldPath(root, issue.path),
        reason: "FieldValueInvalid",
        message: issue.message,
      });
    }
    return undefined;
  };
  const result = schema["~standard"].validate(value);
  return result instanceof Promise ? result.then(settle) : settle(result);
}

/**
 * The deepest an object may nest objects and arrays, the object itself counting as the first
 * level. Kubernetes' JSON decoder stops at 10,000 levels; setpoint stops far earlier, so that no
 * stored object is too deep for the recursive code that reads it later (`JSON.stringify`,
 * validators, patches, deep freezing): an object accepted once can always be served again.
 * A CustomResourceDefinition nests its schema about two levels per field level, so this leaves
 * room for schemas some 45 fields deep.
 */
export const maxNestingDepth = 100;

/**
 * The path (segments from the root) of the first object or array in `value` that is nested
 * deeper than `limit` levels, or `undefined` when none is. The walk stops at `limit + 1` levels,
 * so it is safe on any input, cycles included (a cycle is infinitely deep).
 */
export function tooDeepAt(
  value: unknown,
  limit: number = maxNestingDepth,
): (string | number)[] | undefined {
  return deeper(value, 1, limit);
}

function deeper(value: unknown, depth: number, limit: number): (string | number)[] | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (depth > limit) return [];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item === null || typeof item !== "object") continue;
      const path = deeper(item, depth + 1, limit);
      if (path !== undefined) {
        path.unshift(i);
        return path;
      }
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item === null || typeof item !== "object") continue;
    const path = deeper(item, depth + 1, limit);
    if (path !== undefined) {
      path.unshift(key);
      return path;
    }
  }
  return undefined;
}

/**
 * Refuses an object nested deeper than {@link maxNestingDepth}: `Invalid` naming the first
 * field too deep. Every store calls it on what a writer sends before anything else reads it
 * recursively, so nothing it stores can break a later read.
 */
export function checkNestingDepth(subject: ErrorSubject, value: unknown): void {
  const path = tooDeepAt(value);
  if (path === undefined) return;
  throw invalid(subject, [
    {
      field: fieldPath("", path) || "<root>",
      reason: "FieldValueInvalid",
      message: `Invalid value: objects may nest at most ${maxNestingDepth} levels deep`,
    },
  ]);
}
