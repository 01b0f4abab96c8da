/** The subject of a store's errors about an object: its kind, and its name when known. */
import type { ErrorSubject } from "../model/api-error.js";
import type { AnyKind } from "../model/kind.js";

/** The subject of errors about an object of `kind` named `name`. */
export function subjectOf(kind: AnyKind, name?: string): ErrorSubject {
  return name === undefined
    ? { group: kind.group, kind: kind.kind }
    : { group: kind.group, kind: kind.kind, name };
}
