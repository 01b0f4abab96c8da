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
      checkOperationName(op);
      jsonPatch.validator(op, index);
      checkPointers(op, document, index);
      if (isPlainObject(op) && typeof op.path === "string" && typeof op.from === "string") {
        if (op.op === "move" && op.path.startsWith(`${op.from}/`))
          throw new PatchFault("a value cannot be moved into its own child");
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

const operationNames: ReadonlySet<unknown> = new Set([
  "add",
  "remove",
  "replace",
  "move",
  "copy",
  "test",
]);

/**
 * Refuses an `op` RFC 6902 does not define. fast-json-patch looks operations up in an object,
 * so it would run its internal `_get`, or an inherited `toString` or `constructor`.
 */
function checkOperationName(op: unknown): void {
  if (isPlainObject(op) && !operationNames.has(op.op))
    throw new PatchFault(
      "Operation `op` property is not one of operations defined in RFC-6902 (add, remove, replace, move, copy, test)",
      true,
    );
}

/**
 * Checks an operation's JSON pointers as RFC 6901 and 6902 read them, where fast-json-patch is
 * lenient: `~` only as `~0` or `~1` (malformed otherwise); array indexes without leading zeros
 * and `-` only as the end of an array an `add` (or a move or copy) adds to; and every member on
 * the way one of the document's own — not an inherited `toString` or `constructor` — as must be
 * the value a remove, replace or test names (Invalid otherwise, naming the path).
 */
function checkPointers(op: jsonPatch.Operation, document: unknown, index: number): void {
  const pointers = op as { path?: unknown; from?: unknown };
  if (typeof pointers.from === "string" && pointers.from !== "" && !pointers.from.startsWith("/"))
    throw new PatchFault('Operation `from` property must start with "/"', true);
  for (const pointer of [pointers.path, pointers.from])
    if (typeof pointer === "string" && /~(?![01])/.test(pointer))
      throw new PatchFault(
        `the JSON pointer ${JSON.stringify(pointer)} is malformed: "~" must be followed by 0 or 1`,
        true,
      );
  const path = op.path;
  const missing = (
    pointer: string,
    name: "OPERATION_PATH_UNRESOLVABLE" | "OPERATION_FROM_UNRESOLVABLE",
  ) =>
    new jsonPatch.JsonPatchError(
      `the path ${JSON.stringify(pointer)} does not exist`,
      name,
      index,
      op,
      document,
    );
  if ((op.op === "move" || op.op === "copy") && !hasMember(document, op.from))
    throw missing(op.from, "OPERATION_FROM_UNRESOLVABLE");
  if (op.op === "remove" || op.op === "replace" || op.op === "test") {
    if (!hasMember(document, path)) throw missing(path, "OPERATION_PATH_UNRESOLVABLE");
    return;
  }
  // add, move, copy: the parent must exist, and an array takes an index up to its length or `-`.
  if (path === "") return;
  const cut = path.lastIndexOf("/");
  const parent = path.slice(0, cut);
  if (!hasMember(document, parent)) throw missing(path, "OPERATION_PATH_UNRESOLVABLE");
  const container = valueAt(document, parent);
  const last = path.slice(cut + 1);
  if (
    Array.isArray(container)
      ? last !== "-" && !(/^(0|[1-9][0-9]*)$/.test(last) && Number(last) <= container.length)
      : !isPlainObject(container)
  )
    throw missing(path, "OPERATION_PATH_UNRESOLVABLE");
}

/** The value the JSON pointer `pointer` names, which {@link hasMember} found. */
function valueAt(document: unknown, pointer: string): unknown {
  if (pointer === "") return document;
  let current = document;
  for (const token of pointer.slice(1).split("/")) {
    const key = token.replace(/~1/g, "/").replace(/~0/g, "~");
    current = Array.isArray(current)
      ? current[Number(key)]
      : (current as Record<string, unknown>)[key];
  }
  return current;
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
