/**
 * Field sets: which fields of an object a manager owns, as structured-merge-diff
 * (sigs.k8s.io/structured-merge-diff `fieldpath.Set`) keeps them, and their `FieldsV1` JSON
 * encoding (what `metadata.managedFields[].fieldsV1` holds).
 *
 * A path is a list of path elements, each a string in Kubernetes' encoding: `f:<name>` (a member
 * of an object), `k:<json>` (an item of a list keyed by its fields, `k:{"name":"app"}`), `v:<json>`
 * (an item of a set list, `v:"a"`) and `i:<index>` (an item of a list that has no key). A set
 * holds member paths; a path may be a member and have members below it as well (`.` in FieldsV1).
 *
 * Pure: sets are immutable values once built; the operations return new sets, sharing subsets.
 */

/** `metadata.managedFields[].fieldsV1`: each path element maps to what is owned below it. */
export interface FieldsV1 {
  [element: string]: FieldsV1;
}

/** A set of field paths (see the module documentation). */
export class FieldSet {
  /** Path elements that are members themselves. */
  readonly members = new Set<string>();
  /** Path elements with members below them. */
  readonly children = new Map<string, FieldSet>();

  /** Whether the set holds no path. */
  get empty(): boolean {
    return this.members.size === 0 && this.children.size === 0;
  }

  /** The subset below `element`, created if missing (while building a set only). */
  child(element: string): FieldSet {
    let child = this.children.get(element);
    if (child === undefined) {
      child = new FieldSet();
      this.children.set(element, child);
    }
    return child;
  }

  /** Adds the member path `path` (while building a set only). */
  insert(path: readonly string[]): void {
    let set: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) set = set.child(path[i]!);
    if (path.length > 0) set.members.add(path[path.length - 1]!);
  }

  /** Whether `path` is a member. */
  has(path: readonly string[]): boolean {
    let set: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && set !== undefined; i++) set = set.children.get(path[i]!);
    return set !== undefined && path.length > 0 && set.members.has(path[path.length - 1]!);
  }

  /** Every member path, depth first in FieldsV1 order. */
  paths(): string[][] {
    const out: string[][] = [];
    const walk = (set: FieldSet, prefix: string[]) => {
      for (const element of sortedElements(set)) {
        const path = [...prefix, element];
        if (set.members.has(element)) out.push(path);
        const child = set.children.get(element);
        if (child !== undefined) walk(child, path);
      }
    };
    walk(this, []);
    return out;
  }
}

const noFields = new FieldSet();

/** The paths of `a` or `b`. */
export function union(a: FieldSet, b: FieldSet): FieldSet {
  if (b.empty) return a;
  if (a.empty) return b;
  const out = new FieldSet();
  for (const m of a.members) out.members.add(m);
  for (const m of b.members) out.members.add(m);
  for (const [e, child] of a.children) out.children.set(e, child);
  for (const [e, child] of b.children) {
    const mine = out.children.get(e);
    out.children.set(e, mine === undefined ? child : union(mine, child));
  }
  return out;
}

/** The paths of `a` not in `b` (members of `b` only: what lies below them in `a` stays). */
export function difference(a: FieldSet, b: FieldSet): FieldSet {
  if (a.empty || b.empty) return a;
  const out = new FieldSet();
  for (const m of a.members) if (!b.members.has(m)) out.members.add(m);
  for (const [e, child] of a.children) {
    const theirs = b.children.get(e);
    const kept = theirs === undefined ? child : difference(child, theirs);
    if (!kept.empty) out.children.set(e, kept);
  }
  return out;
}

/** The paths of `a` not in `b` nor below any member of `b`. */
export function recursiveDifference(a: FieldSet, b: FieldSet): FieldSet {
  if (a.empty || b.empty) return a;
  const out = new FieldSet();
  for (const m of a.members) if (!b.members.has(m)) out.members.add(m);
  for (const [e, child] of a.children) {
    if (b.members.has(e)) continue;
    const theirs = b.children.get(e);
    const kept = theirs === undefined ? child : recursiveDifference(child, theirs);
    if (!kept.empty) out.children.set(e, kept);
  }
  return out;
}

/** The paths in both `a` and `b`. */
export function intersection(a: FieldSet, b: FieldSet): FieldSet {
  if (a.empty || b.empty) return noFields;
  const out = new FieldSet();
  for (const m of a.members) if (b.members.has(m)) out.members.add(m);
  for (const [e, child] of a.children) {
    const theirs = b.children.get(e);
    if (theirs === undefined) continue;
    const both = intersection(child, theirs);
    if (!both.empty) out.children.set(e, both);
  }
  return out;
}

/** Whether `set` holds `element`'s path or any path below it. */
export function touches(set: FieldSet, element: string): boolean {
  return set.members.has(element) || set.children.has(element);
}

/** The rank of a path element's type in structured-merge-diff's order: fields, keys, values, indexes. */
function rank(element: string): number {
  switch (element.charCodeAt(0)) {
    case 102: // f
      return 0;
    case 107: // k
      return 1;
    case 118: // v
      return 2;
    default:
      return 3;
  }
}

function compareElements(a: string, b: string): number {
  const byRank = rank(a) - rank(b);
  if (byRank !== 0) return byRank;
  if (a.startsWith("i:") && b.startsWith("i:")) return Number(a.slice(2)) - Number(b.slice(2));
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedElements(set: FieldSet): string[] {
  const all = new Set<string>(set.members);
  for (const e of set.children.keys()) all.add(e);
  return [...all].sort(compareElements);
}

/** The FieldsV1 encoding of `set`: `{"f:spec": {"f:replicas": {}}}`, `.` for a member with members below. */
export function toFieldsV1(set: FieldSet): FieldsV1 {
  const out: FieldsV1 = {};
  for (const element of sortedElements(set)) {
    const child = set.children.get(element);
    if (child === undefined) {
      out[element] = {};
      continue;
    }
    const encoded = toFieldsV1(child);
    out[element] = set.members.has(element) ? { ".": {}, ...encoded } : encoded;
  }
  return out;
}

/** The set a FieldsV1 value encodes; anything that is not an object of objects holds nothing. */
export function fromFieldsV1(fields: unknown): FieldSet {
  const set = new FieldSet();
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) return set;
  for (const [element, value] of Object.entries(fields as Record<string, unknown>)) {
    if (element === ".") continue;
    const below =
      value !== null && typeof value === "object" && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : {};
    const keys = Object.keys(below);
    if (keys.length === 0 || Object.hasOwn(below, ".")) set.members.add(element);
    if (keys.some((k) => k !== ".")) {
      const child = fromFieldsV1(below);
      if (!child.empty) set.children.set(element, child);
    }
  }
  return set;
}

/**
 * A path as structured-merge-diff prints it in conflict messages: `.spec.replicas`,
 * `.spec.containers[name="app"].image`, `.metadata.finalizers[="a"]`, `.items[0]`.
 */
export function pathString(path: readonly string[]): string {
  let out = "";
  for (const element of path) {
    const body = element.slice(2);
    switch (element[0]) {
      case "f":
        out += `.${body}`;
        break;
      case "k": {
        let key: Record<string, unknown> = {};
        try {
          key = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // Printed as it is below.
        }
        const parts = Object.keys(key)
          .sort()
          .map((k) => `${k}=${JSON.stringify(key[k])}`);
        out += `[${parts.join(",")}]`;
        break;
      }
      case "v":
        out += `[=${body}]`;
        break;
      default:
        out += `[${body}]`;
    }
  }
  return out;
}
