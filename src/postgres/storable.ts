/**
 * Values as PostgreSQL takes them: `text` and `jsonb` cannot hold U+0000, so what a caller looks
 * up is made harmless and what a writer stores is refused as `Invalid`, naming the field, instead
 * of failing inside PostgreSQL as an InternalError (500).
 */
import type { StoredObject } from "../backend/backend.js";
import { subjectOf } from "../backend/error-subject.js";
import { invalid } from "../model/api-error.js";
import type { AnyKind } from "../model/kind.js";
import { deepFreeze } from "../model/resource.js";

/** A row's object, as stores hand objects out: frozen. */
export function frozen(object: unknown): StoredObject {
  return deepFreeze(object as StoredObject);
}

/**
 * `value` as a parameter PostgreSQL's `text` takes: U+0000, which it cannot hold, becomes
 * U+FFFD. Used for names and namespaces a caller looks up — no stored one holds either
 * character (they are DNS names), so such a lookup finds nothing, as on the other stores,
 * instead of failing with PostgreSQL's "invalid byte sequence" (500).
 */
export function text(value: string): string {
  return value.includes("\u0000") ? value.replaceAll("\u0000", "\ufffd") : value;
}

/** `\u0000` in JSON text from `JSON.stringify` (not the text `\u0000` itself: `\\u0000`). */
const nulEscape = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * The JSON PostgreSQL stores for `object`, which must hold no U+0000: `jsonb` (text in
 * PostgreSQL) cannot. Kubernetes and setpoint's other stores accept the character; here it is
 * `Invalid` (422), naming the field, rather than PostgreSQL's "unsupported Unicode escape
 * sequence" as an InternalError (500). Lone surrogates, which `jsonb` refuses too, never get
 * here: `seal` made them U+FFFD, as Kubernetes' JSON decoder does.
 */
export function storableJson(kind: AnyKind, object: StoredObject): string {
  const json = JSON.stringify(object);
  if (json.includes("\\u0000") && nulEscape.test(json)) {
    throw invalid(subjectOf(kind, object.metadata.name), [
      {
        field: pathOfNul(object, "") ?? "<root>",
        reason: "FieldValueInvalid",
        message:
          "Invalid value: PostgreSQL cannot store U+0000 (NUL) in a string or key (setpoint's other stores and Kubernetes accept it; this one cannot)",
      },
    ]);
  }
  return json;
}

/** The field path of the first string or key holding U+0000 in `value`, if any. */
function pathOfNul(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path || "<root>" : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOfNul(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = /^[A-Za-z_$][\w$-]*$/.test(key)
      ? path === ""
        ? key
        : `${path}.${key}`
      : `${path}[${JSON.stringify(key)}]`;
    if (key.includes("\u0000")) return at;
    const found = pathOfNul(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}
