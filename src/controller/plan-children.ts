/**
 * A composite's plan: the writes that bring its observed children to the desired ones, as a pure
 * function of the two — no store, no clock, unit-tested as the watcher's state machine is
 * (plan-children.test.ts). `composite.ts` observes, plans, and writes the plan.
 *
 * - A desired child no observed child of its kind has the name of is created.
 * - One that exists is left alone while it is a superset of what is desired ({@link isSuperset}:
 *   every desired field equal in the stored object, labels and annotations included), so fields
 *   the server or others fill in cause no write; otherwise its kind's {@link UpdateStrategy}
 *   says what to do.
 * - An observed child no longer desired is deleted (preconditioned on its uid; already gone is
 *   fine).
 *
 * The writes come in that order: desired children in the order given, then the deletions, by
 * child kind in the order observed.
 */
import type { StoredObject } from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import { keyOf, type ObjectKey } from "../model/resource.js";

/**
 * How a child kind's objects are brought to what `sync` wants: `OnDelete` (never update; create
 * again only once deleted), `Recreate` (delete; the next sync creates it once gone), `InPlace`
 * (update the object to the desired labels, annotations and body), `Apply` (merge the desired
 * fields into it).
 */
export type UpdateStrategy = "OnDelete" | "Recreate" | "InPlace" | "Apply";

/** A desired child: an object of a declared kind (apiVersion and kind say which). */
export interface DesiredChild {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/**
 * A desired child as planned: a full object of the composite's, with its namespace, owner
 * reference and parent label set.
 */
export interface PlannedChild {
  readonly kind: AnyKind;
  readonly key: ObjectKey;
  readonly object: DesiredChild;
}

/** One write of a plan. */
export type ChildOp =
  /** Create the desired object. */
  | {
      readonly type: "create";
      readonly kind: AnyKind;
      readonly key: ObjectKey;
      readonly object: DesiredChild;
    }
  /** `InPlace`: replace the stored object's body, merging in the desired labels and annotations. */
  | {
      readonly type: "update";
      readonly kind: AnyKind;
      readonly key: ObjectKey;
      readonly object: DesiredChild;
    }
  /** `Apply`: merge the desired fields into the stored object, preconditioned on its resourceVersion. */
  | {
      readonly type: "patch";
      readonly kind: AnyKind;
      readonly key: ObjectKey;
      readonly patch: Readonly<Record<string, unknown>>;
    }
  /**
   * Delete the object with `uid`: `Recreate` (`missingOk: false`), or a child no longer desired
   * (`missingOk: true`: gone already is what was wanted).
   */
  | {
      readonly type: "delete";
      readonly kind: AnyKind;
      readonly key: ObjectKey;
      readonly uid: string;
      readonly missingOk: boolean;
    };

/** Whether every field of `desired` is equal in `observed` (arrays element by element). */
export function isSuperset(desired: unknown, observed: unknown): boolean {
  if (desired === observed) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      desired.length === observed.length &&
      desired.every((item, i) => isSuperset(item, observed[i]))
    );
  }
  if (desired !== null && typeof desired === "object") {
    if (observed === null || typeof observed !== "object" || Array.isArray(observed)) return false;
    return Object.entries(desired).every(([key, value]) =>
      isSuperset(value, (observed as Record<string, unknown>)[key]),
    );
  }
  return false;
}

/** An object without `apiVersion`, `kind`, `metadata` and `status`: what a child's spec is. */
export function bodyOf(object: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...body } = object;
  return body;
}

/** The desired children none of `observed` (by kind) has the name of: the ones to create. */
export function unobserved(
  desired: readonly PlannedChild[],
  observed: ReadonlyMap<AnyKind, readonly StoredObject[]>,
): PlannedChild[] {
  return desired.filter(
    (child) => !observed.get(child.kind)?.some((o) => o.metadata.name === child.key.name),
  );
}

/**
 * The writes that bring `observed` (the composite's children, by kind) to `desired`, each child
 * kind updated by its strategy in `strategies` (`InPlace` when missing).
 */
export function planChildren(
  desired: readonly PlannedChild[],
  observed: ReadonlyMap<AnyKind, readonly StoredObject[]>,
  strategies: ReadonlyMap<AnyKind, UpdateStrategy>,
): ChildOp[] {
  const ops: ChildOp[] = [];
  const wanted = new Set<StoredObject>();
  for (const { kind, key, object } of desired) {
    const current = observed.get(kind)?.find((o) => o.metadata.name === key.name);
    if (current === undefined) {
      ops.push({ type: "create", kind, key, object });
      continue;
    }
    wanted.add(current);
    // The desired body keeps a `status` that sync gave (the stored one's is left out).
    const { apiVersion: _a, kind: _k, metadata: _m, ...body } = object;
    const upToDate =
      isSuperset(body, bodyOf(current)) &&
      isSuperset(object.metadata.labels, current.metadata.labels ?? {}) &&
      isSuperset(object.metadata.annotations ?? {}, current.metadata.annotations ?? {});
    if (upToDate) continue;
    switch (strategies.get(kind) ?? "InPlace") {
      case "OnDelete":
        break;
      case "Recreate":
        ops.push({ type: "delete", kind, key, uid: current.metadata.uid, missingOk: false });
        break;
      case "InPlace":
        ops.push({
          type: "update",
          kind,
          key,
          object: {
            ...body,
            apiVersion: current.apiVersion,
            kind: current.kind,
            ...(current.status === undefined ? {} : { status: current.status }),
            metadata: {
              ...current.metadata,
              labels: { ...current.metadata.labels, ...object.metadata.labels },
              annotations: { ...current.metadata.annotations, ...object.metadata.annotations },
            },
          },
        });
        break;
      case "Apply":
        ops.push({
          type: "patch",
          kind,
          key,
          patch: {
            ...body,
            metadata: {
              resourceVersion: current.metadata.resourceVersion,
              labels: object.metadata.labels,
              ...(object.metadata.annotations ? { annotations: object.metadata.annotations } : {}),
            },
          },
        });
        break;
    }
  }
  // Children of ours no longer desired go.
  for (const [kind, children] of observed)
    for (const child of children)
      if (
        !wanted.has(child) &&
        !desired.some((d) => d.kind === kind && d.key.name === child.metadata.name)
      )
        ops.push({
          type: "delete",
          kind,
          key: keyOf(child),
          uid: child.metadata.uid,
          missingOk: true,
        });
  return ops;
}
