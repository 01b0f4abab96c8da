/**
 * The simple JSONPath of printer columns: `.spec.replicas`, `.status.conditions[0].type`,
 * `.metadata.labels.app`. Filters and wildcards are not supported; a path that does not resolve
 * (through the object's own members: never an inherited `toString` or `constructor`) gives
 * `undefined`.
 */
export function evaluateJsonPath(object: unknown, path: string): unknown {
  const trimmed = path.trim().replace(/^\{(.*)\}$/, "$1");
  const parts = trimmed.match(/\.([^.[\]]+)|\[(\d+)\]|\['([^']+)'\]/g) ?? [];
  let current: unknown = object;
  for (const part of parts) {
    if (current === null || typeof current !== "object") return undefined;
    let key: string | number;
    if (part.startsWith("[") && part.endsWith("]")) {
      const inner = part.slice(1, -1);
      key = inner.startsWith("'") ? inner.slice(1, -1) : Number(inner);
    } else {
      key = part.slice(1);
    }
    // Own members only: `.spec.constructor` of an object without one is nothing, not Object.
    if (!Object.hasOwn(current, key) || (Array.isArray(current) && typeof key !== "number"))
      return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
