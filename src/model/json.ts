/** JSON helpers the stores share: equality and the two patch formats. */
import jsonPatch from "fast-json-patch";
import { ApiError } from "./api-error.js";
import { fieldPath, isPlainObject, maxNestingDepth, tooDeepAt } from "./validation.js";

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
 * Objects merge recursively, `null` removes a member, anything else replaces. Every member name
 * is an ordinary key, `__proto__` included: the patch can never reach a prototype. A patch
 * nested deeper than {@link maxNestingDepth} is `Invalid`, before anything walks it.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  refuseDeepPatch(patch, maxNestingDepth, "the merge patch");
  return mergePatch(target, patch);
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete result[key];
    else
      setOwn(result, key, mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

/** `object[key] = value` as a plain data property, even for `__proto__`. */
export function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else object[key] = value;
}

function refuseDeepPatch(patch: unknown, limit: number, what: string): void {
  const path = tooDeepAt(patch, limit);
  if (path === undefined) return;
  const field = fieldPath("", path) || "<root>";
  throw new ApiError(
    "Invalid",
    `${what} nests deeper than ${maxNestingDepth} levels (at ${field}); objects may nest at most ${maxNestingDepth} levels deep`,
    {
      details: {
        causes: [
          {
            field,
            reason: "FieldValueInvalid",
            message: `Invalid value: objects may nest at most ${maxNestingDepth} levels deep`,
          },
        ],
      },
    },
  );
}

/** One operation of a JSON patch (RFC 6902). */
export type JsonPatchOperation =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; path: string; from: string };

/** The most operations one JSON patch may have, as Kubernetes allows. */
export const maxJsonPatchOperations = 10_000;

/**
 * The most bytes the `copy` operations of one JSON patch may add together, as Kubernetes limits
 * them (its request body limit): without it, a few hundred bytes of copies doubling a value
 * would fill the memory.
 */
export const maxJsonPatchCopyBytes = 3 * 1024 * 1024;

/**
 * Applies a JSON patch (RFC 6902, `test` included) and returns a new value; `target` is not
 * changed. A malformed operation is `BadRequest`; one that cannot apply — a `test` that fails, a
 * path that does not exist, a `move` into its own child, a path through `__proto__` or
 * `constructor/prototype`, copies over {@link maxJsonPatchCopyBytes} — is `Invalid`, naming the
 * operation; more than {@link maxJsonPatchOperations} operations are `RequestEntityTooLarge`.
 */
export function applyJsonPatch(
  target: unknown,
  operations: readonly JsonPatchOperation[],
): unknown {
  if (!Array.isArray(operations))
    throw new ApiError("BadRequest", "a JSON patch must be an array of operations");
  if (operations.length > maxJsonPatchOperations)
    throw new ApiError(
      "RequestEntityTooLarge",
      `The allowed maximum operations in a JSON patch is ${maxJsonPatchOperations}, got ${operations.length}`,
    );
  // An operation's value sits two levels down (the list, the operation).
  refuseDeepPatch(operations, maxNestingDepth + 2, "the JSON patch");
  let document: unknown;
  let copied = 0;
  let index = 0;
  try {
    // Copies of the operations: their values go into the document, which later operations change.
    const ops = structuredClone(operations) as jsonPatch.Operation[];
    document = structuredClone(target);
    for (; index < ops.length; index++) {
      const op = ops[index]!;
      jsonPatch.validator(op, index);
      if (isPlainObject(op) && typeof op.path === "string" && typeof op.from === "string") {
        if (op.from !== "" && !op.from.startsWith("/"))
          throw new PatchFault('Operation `from` property must start with "/"', true);
        if (op.op === "move" && op.path.startsWith(`${op.from}/`))
          throw new PatchFault("a value cannot be moved into its own child");
        // fast-json-patch finds inherited members (`/spec/constructor`); RFC 6902 only members.
        if (!hasMember(document, op.from))
          throw new jsonPatch.JsonPatchError(
            "the from path does not exist",
            "OPERATION_FROM_UNRESOLVABLE",
            index,
            op,
            document,
          );
        if (op.op === "copy") {
          copied += jsonLength(jsonPatch.getValueByPointer(document, op.from));
          if (copied > maxJsonPatchCopyBytes)
            throw new PatchFault(
              `the copies of this patch add more than ${maxJsonPatchCopyBytes} bytes`,
            );
        }
      }
      document = jsonPatch.applyOperation(document, op, true, true, true, index).newDocument;
    }
  } catch (err) {
    throw patchError(err, operations, index);
  }
  return document;
}

/** What is wrong with an operation, found before fast-json-patch would try it. */
class PatchFault extends Error {
  constructor(
    message: string,
    readonly malformed = false,
  ) {
    super(message);
  }
}

/** Whether the JSON pointer `pointer` names a value of `document`, through own members only. */
function hasMember(document: unknown, pointer: string): boolean {
  if (pointer === "") return true;
  let current = document;
  for (const token of pointer.slice(1).split("/")) {
    const key = token.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) >= current.length) return false;
      current = current[Number(key)];
    } else if (isPlainObject(current) && Object.hasOwn(current, key)) current = current[key];
    else return false;
  }
  return true;
}

function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

function patchError(
  err: unknown,
  operations: readonly JsonPatchOperation[],
  failed: number,
): ApiError {
  const index = err instanceof jsonPatch.JsonPatchError ? (err.index ?? failed) : failed;
  const op = operations[index];
  const what = `JSON patch operation ${index} (${JSON.stringify(op)?.slice(0, 1024)})`;
  const cannotApply = (message: string, reason = "FieldValueInvalid") =>
    new ApiError("Invalid", `${what} cannot apply: ${message}`, {
      details: {
        causes: [{ field: typeof op?.path === "string" ? op.path : "", reason, message }],
      },
    });
  if (err instanceof jsonPatch.JsonPatchError) {
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
      case "OPERATION_PATH_CANNOT_ADD":
      case "OPERATION_VALUE_OUT_OF_BOUNDS":
        return cannotApply("its path does not exist", "FieldValueNotFound");
      default:
        return new ApiError("BadRequest", `${what} is malformed: ${err.message.split("\n")[0]}`);
    }
  }
  if (err instanceof PatchFault)
    return err.malformed
      ? new ApiError("BadRequest", `${what} is malformed: ${err.message}`)
      : cannotApply(err.message);
  // What else applying throws is an operation the document cannot take (fast-json-patch's
  // refusal of prototype paths, a value of the wrong type on the way): Kubernetes answers a patch
  // that cannot apply with 422.
  if (err instanceof TypeError && /__proto__|prototype/.test(err.message))
    return cannotApply("a path through __proto__ or constructor/prototype is not allowed");
  return cannotApply(err instanceof Error ? err.message : String(err));
}
