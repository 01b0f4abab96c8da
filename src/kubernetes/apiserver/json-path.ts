/**
 * The simple JSONPath of printer columns: `.spec.replicas`, `.status.conditions[0].type`,
 * `.metadata.labels.app`. Filters and wildcards are not supported; a path that does not resolve
 * gives `undefined`.
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
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
