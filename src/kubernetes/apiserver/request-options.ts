/**
 * Query parameters as the Kubernetes API server reads them (`k8s.io/apimachinery`'s parameter
 * codec and `metav1` option validation), so that every client's spelling means what it means to
 * a real cluster: `watch=True` (the Python client) watches, `limit=abc` is a 400, `dryRun=Some`
 * a 422.
 */
import { type ApiError, badRequest, invalid, type StatusCause } from "../../model/api-error.js";

/**
 * A boolean parameter, as Go's `strconv.ParseBool` reads it: `1`, `t`, `T`, `TRUE`, `true` and
 * `True` are true; `0`, `f`, `F`, `FALSE`, `false` and `False` are false; absent is `undefined`;
 * anything else is BadRequest, naming the parameter. So `watch=True` (the official Python
 * client) watches and `watch=False` lists.
 *
 * The API server's own decoder (apimachinery's `Convert_Slice_string_To_bool`) agrees on every
 * spelling clients send, but reads `f` and any unknown value (`yes`, the empty string) as true.
 * We refuse those instead: a typo must not silently turn a list into a watch, or a dry run into
 * a write.
 */
export function booleanParam(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  switch (value) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
  }
  throw badRequest(
    `invalid value for ${name}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`,
  );
}

/**
 * An integer parameter, as Go's `strconv.ParseInt(value, 10, 64)` reads it: an optional sign
 * and decimal digits within 64 bits; anything else is BadRequest, as the API server answers a
 * parameter it cannot decode. Absent is `undefined`.
 */
export function integerParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^[+-]?[0-9]+$/.test(value) || !fitsInt64(value))
    throw badRequest(
      `invalid value for ${name}: strconv.ParseInt: parsing ${JSON.stringify(value)}: ${/^[+-]?[0-9]+$/.test(value) ? "value out of range" : "invalid syntax"}`,
    );
  return Number(value);
}

function fitsInt64(digits: string): boolean {
  const negative = digits.startsWith("-");
  const magnitude = BigInt(digits.replace(/^[+-]/, ""));
  return negative ? magnitude <= 2n ** 63n : magnitude < 2n ** 63n;
}

/** The `metav1` options kinds whose validation errors name them, as Kubernetes' do. */
export type OptionsKind =
  | "ListOptions"
  | "CreateOptions"
  | "UpdateOptions"
  | "PatchOptions"
  | "DeleteOptions";

/** Kubernetes' error for options that do not validate: 422 about `<kind>.meta.k8s.io ""`. */
export function invalidOptions(kind: OptionsKind, causes: readonly StatusCause[]): ApiError {
  return invalid({ group: "meta.k8s.io", kind, name: "" }, causes);
}

/** A cause for a value outside `supported`, worded as Kubernetes' `field.NotSupported`. */
export function notSupported(
  field: string,
  value: unknown,
  supported: readonly string[],
): StatusCause {
  return {
    field,
    reason: "FieldValueNotSupported",
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(", ")}`,
  };
}

/** A cause for a combination Kubernetes forbids (`field.Forbidden`). */
export function forbidden(field: string, message: string): StatusCause {
  return { field, reason: "FieldValueForbidden", message: `Forbidden: ${message}` };
}

/**
 * Whether `dryRun` values ask for a dry run: none is a real write; each value must be `All`
 * (the only one Kubernetes defines), else the options are Invalid.
 */
export function isDryRun(values: readonly unknown[], kind: OptionsKind): boolean {
  if (values.length === 0) return false;
  if (values.some((v) => v !== "All"))
    throw invalidOptions(kind, [notSupported("dryRun", values, ["All"])]);
  return true;
}

/** What `fieldValidation` asks for unknown and duplicate fields. */
export type FieldValidation = "Ignore" | "Warn" | "Strict";

/** The `fieldValidation` parameter: `Ignore`, `Warn` (the default) or `Strict`; else Invalid. */
export function fieldValidationParam(query: URLSearchParams, kind: OptionsKind): FieldValidation {
  const value = query.get("fieldValidation");
  if (value === null || value === "") return "Warn";
  if (value === "Ignore" || value === "Warn" || value === "Strict") return value;
  throw invalidOptions(kind, [
    notSupported("fieldValidation", value, ["", "Ignore", "Strict", "Warn"]),
  ]);
}

/** What a DELETE asks for, from its `DeleteOptions` body and its query. */
export interface DeleteRequest {
  readonly dryRun: boolean;
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
}

const propagationPolicies = ["Background", "Foreground", "Orphan"] as const;

/**
 * The options of a DELETE: the query's (`dryRun`, `propagationPolicy`, `orphanDependents`,
 * `gracePeriodSeconds`), then the `DeleteOptions` body's over them. A body that is not a
 * DeleteOptions object, or a field of the wrong type, is BadRequest; values Kubernetes does not
 * define are Invalid. A dry run is asked for by either. Stores delete dependents in the
 * background: `Foreground` is taken as that (the owner goes first rather than last, the
 * dependents go all the same); `Orphan` (or `orphanDependents`), which would keep them, is
 * refused as not supported rather than ignored.
 */
export function deleteOptionsOf(body: unknown, query: URLSearchParams): DeleteRequest {
  const causes: StatusCause[] = [];
  let dryRunValues: unknown[] = query.getAll("dryRun");
  let policy: unknown = query.get("propagationPolicy") ?? undefined;
  let orphan: boolean | undefined = booleanParam(query, "orphanDependents");
  integerParam(query, "gracePeriodSeconds");
  let preconditions: DeleteRequest["preconditions"];
  if (body !== undefined) {
    if (body === null || typeof body !== "object" || Array.isArray(body))
      throw badRequest("the body of a DELETE must be a DeleteOptions object");
    const options = body as Record<string, unknown>;
    if (options.kind !== undefined && options.kind !== "DeleteOptions")
      throw badRequest(
        `the body of a DELETE must be a DeleteOptions object, not ${JSON.stringify(options.kind)}`,
      );
    const wrongType = (field: string, type: string) =>
      badRequest(`DeleteOptions.${field} must be ${type}`);
    if (options.dryRun !== undefined) {
      if (!Array.isArray(options.dryRun) || options.dryRun.some((v) => typeof v !== "string"))
        throw wrongType("dryRun", "a list of strings");
      dryRunValues = [...dryRunValues, ...options.dryRun];
    }
    if (options.propagationPolicy !== undefined && options.propagationPolicy !== null) {
      if (typeof options.propagationPolicy !== "string")
        throw wrongType("propagationPolicy", "a string");
      policy = options.propagationPolicy;
    }
    if (options.orphanDependents !== undefined && options.orphanDependents !== null) {
      if (typeof options.orphanDependents !== "boolean")
        throw wrongType("orphanDependents", "a boolean");
      orphan = options.orphanDependents;
    }
    if (
      options.gracePeriodSeconds !== undefined &&
      options.gracePeriodSeconds !== null &&
      !Number.isInteger(options.gracePeriodSeconds)
    )
      throw wrongType("gracePeriodSeconds", "an integer");
    const given = options.preconditions;
    if (given !== undefined && given !== null) {
      if (typeof given !== "object" || Array.isArray(given))
        throw wrongType("preconditions", "an object");
      const { uid, resourceVersion } = given as Record<string, unknown>;
      for (const [field, value] of [
        ["uid", uid],
        ["resourceVersion", resourceVersion],
      ] as const)
        if (value !== undefined && value !== null && typeof value !== "string")
          throw wrongType(`preconditions.${field}`, "a string");
      preconditions = {
        ...(typeof uid === "string" ? { uid } : {}),
        ...(typeof resourceVersion === "string" ? { resourceVersion } : {}),
      };
    }
  }
  const dryRun = isDryRun(dryRunValues, "DeleteOptions");
  if (policy !== undefined) {
    if (!(propagationPolicies as readonly unknown[]).includes(policy))
      causes.push(notSupported("propagationPolicy", policy, [...propagationPolicies, "nil"]));
    else if (orphan !== undefined)
      causes.push({
        field: "propagationPolicy",
        reason: "FieldValueInvalid",
        message: `Invalid value: ${JSON.stringify(policy)}: orphanDependents and deletionPropagation cannot be both set`,
      });
  }
  if (causes.length === 0 && (policy === "Orphan" || (policy === undefined && orphan === true)))
    causes.push(
      notSupported(
        policy === "Orphan" ? "propagationPolicy" : "orphanDependents",
        policy ?? orphan,
        ["Background", "Foreground"],
      ),
    );
  if (causes.length > 0) throw invalidOptions("DeleteOptions", causes);
  return { dryRun, ...(preconditions === undefined ? {} : { preconditions }) };
}
