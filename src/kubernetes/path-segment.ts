/**
 * Names that travel in a URL path. Kubernetes refuses, on both ends (client-go's request builder
 * and the API server's `path.IsValidPathSegmentName`), a namespace or name that is `.` or `..`
 * or holds `/` or `%`: in a path those would mean another resource, once anything on the way
 * resolves dot segments (a WHATWG `URL` does, `%2e%2e` included).
 */
import { badRequest } from "../model/api-error.js";

/**
 * `value` if it can stand for a namespace or an object's name in a path; BadRequest
 * (`Name parameter invalid: "..": may not be '..'`) otherwise.
 */
export function checkPathSegmentName(what: "namespace" | "name", value: string): string {
  const faults = [
    ...(value === "." || value === ".." ? [`may not be '${value}'`] : []),
    ...(value.includes("/") ? ["may not contain '/'"] : []),
    ...(value.includes("%") ? ["may not contain '%'"] : []),
  ];
  if (faults.length > 0)
    throw badRequest(
      `${what === "name" ? "Name" : "Namespace"} parameter invalid: ${JSON.stringify(value)}: ${faults.join(";")}`,
    );
  return value;
}
