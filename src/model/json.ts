/** JSON helpers the stores share: equality and the two patch formats. */
import jsonPatch from "fast-json-patch";
import { ApiError } from "./api-error.js";
import { isPlainObject } from "./validation.js";

/** Structural equality of two JSON values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

/**
 * Applies a JSON merge patch (RFC 7386) and returns a new value; `target` is not changed.
 * Objects merge recursively, `null` removes a member, anything else replaces.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** One operation of a JSON patch (RFC 6902). */
export type JsonPatchOperation =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; path: string; from: string };

/**
 * Applies a JSON patch (RFC 6902, `test` included) and returns a new value; `target` is not
 * changed. A malformed operation is `BadRequest`; a `test` that fails or a path that does not
 * exist is `Invalid`, naming the operation.
 */
export function applyJsonPatch(
  target: unknown,
  operations: readonly JsonPatchOperation[],
): unknown {
  if (!Array.isArray(operations))
    throw new ApiError("BadRequest", "a JSON patch must be an array of operations");
  const error = jsonPatch.validate(operations as jsonPatch.Operation[], target);
  if (error) throw patchError(error, operations);
  try {
    return jsonPatch.applyPatch(
      structuredClone(target),
      operations as jsonPatch.Operation[],
      false,
      true,
      true,
    ).newDocument;
  } catch (err) {
    throw patchError(err, operations);
  }
}

function patchError(err: unknown, operations: readonly JsonPatchOperation[]): ApiError {
  if (err instanceof jsonPatch.JsonPatchError) {
    const index = err.index ?? 0;
    const op = operations[index];
    const what = `JSON patch operation ${index} (${JSON.stringify(op)})`;
    switch (err.name) {
      case "TEST_OPERATION_FAILED":
        return new ApiError("Invalid", `${what} failed: the test did not match`, {
          details: {
            causes: [
              {
                field: op?.path ?? "",
                reason: "FieldValueInvalid",
                message: "test operation failed",
              },
            ],
          },
        });
      case "OPERATION_PATH_UNRESOLVABLE":
      case "OPERATION_FROM_UNRESOLVABLE":
        return new ApiError("Invalid", `${what} cannot apply: its path does not exist`, {
          details: {
            causes: [
              {
                field: op?.path ?? "",
                reason: "FieldValueNotFound",
                message: "path does not exist",
              },
            ],
          },
        });
      default:
        return new ApiError("BadRequest", `${what} is malformed: ${err.message.split("\n")[0]}`);
    }
  }
  return new ApiError("BadRequest", `JSON patch failed: ${String(err)}`);
}
