import { describe, expect, it } from "vitest";
import type { StoredObject } from "../backend/backend.js";
import type { AnyKind } from "../model/kind.js";
import { Gear, Widget } from "../testing/fixtures.js";
import {
  type PlannedChild,
  planChildren,
  type UpdateStrategy,
  unobserved,
} from "./plan-children.js";

const label = { "setpoint.dev/composite-parent": "parent-uid" };

function desired(kind: AnyKind, name: string, spec: Record<string, unknown>): PlannedChild {
  return {
    kind,
    key: { namespace: "shop", name },
    object: {
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata: { name, namespace: "shop", labels: label },
      spec,
    },
  };
}

function stored(
  kind: AnyKind,
  name: string,
  spec: Record<string, unknown>,
  more: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): StoredObject {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: {
      name,
      namespace: "shop",
      uid: `uid-${name}`,
      resourceVersion: "7",
      generation: 1,
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { ...label, ...more.labels },
      ...(more.annotations ? { annotations: more.annotations } : {}),
    },
    spec,
  };
}

const observedOf = (...objects: [AnyKind, StoredObject[]][]) => new Map(objects);
const strategy = (s: UpdateStrategy) => new Map<AnyKind, UpdateStrategy>([[Gear, s]]);

describe("planChildren", () => {
  it("creates every desired child none is observed of", () => {
    const want = [desired(Gear, "a", { teeth: 1 }), desired(Gear, "b", { teeth: 2 })];
    expect(planChildren(want, observedOf([Gear, []]), new Map())).toEqual([
      { type: "create", kind: Gear, key: want[0]!.key, object: want[0]!.object },
      { type: "create", kind: Gear, key: want[1]!.key, object: want[1]!.object },
    ]);
  });

  it("writes nothing for a child that is a superset of what is desired, whatever others filled in", () => {
    const current = stored(
      Gear,
      "a",
      { teeth: 1, defaulted: true },
      { labels: { other: "x" }, annotations: { note: "theirs" } },
    );
    for (const s of ["InPlace", "Apply", "Recreate", "OnDelete"] as const)
      expect(
        planChildren(
          [desired(Gear, "a", { teeth: 1 })],
          observedOf([Gear, [current]]),
          strategy(s),
        ),
      ).toEqual([]);
  });

  it("updates a changed child in place by default: the desired body, with labels and annotations merged", () => {
    const current = {
      ...stored(Gear, "a", { teeth: 1, extra: "theirs" }, { annotations: { note: "theirs" } }),
      status: { ready: true },
    };
    const [op] = planChildren(
      [desired(Gear, "a", { teeth: 2 })],
      observedOf([Gear, [current]]),
      new Map(),
    );
    expect(op).toEqual({
      type: "update",
      kind: Gear,
      key: { namespace: "shop", name: "a" },
      object: {
        apiVersion: Gear.apiVersion,
        kind: "Gear",
        spec: { teeth: 2 },
        status: { ready: true },
        metadata: { ...current.metadata, labels: label, annotations: { note: "theirs" } },
      },
    });
  });

  const key = { namespace: "shop", name: "a" };
  it.each([
    [
      "Apply",
      "merges the desired fields into the child, preconditioned on its resourceVersion",
      [
        {
          type: "patch",
          kind: Gear,
          key,
          patch: { spec: { teeth: 2 }, metadata: { resourceVersion: "7", labels: label } },
        },
      ],
    ],
    [
      "Recreate",
      "deletes the changed child (its uid the precondition), to be created again",
      [{ type: "delete", kind: Gear, key, uid: "uid-a", missingOk: false }],
    ],
    ["OnDelete", "leaves a changed child alone", []],
  ] as const)("with %s, %s", (s, _what, ops) => {
    const current = stored(Gear, "a", { teeth: 1, extra: "theirs" });
    expect(
      planChildren([desired(Gear, "a", { teeth: 2 })], observedOf([Gear, [current]]), strategy(s)),
    ).toEqual(ops);
  });

  it("deletes observed children no longer desired, after the desired ones' writes, gone already being fine", () => {
    const kept = stored(Gear, "kept", { teeth: 1 });
    const old = stored(Gear, "old", { teeth: 1 });
    const widget = stored(Widget, "w", { replicas: 1 });
    const ops = planChildren(
      [desired(Gear, "kept", { teeth: 1 }), desired(Gear, "new", { teeth: 3 })],
      observedOf([Gear, [kept, old]], [Widget, [widget]]),
      new Map(),
    );
    expect(ops.map((op) => [op.type, op.kind.kind, op.key.name])).toEqual([
      ["create", "Gear", "new"],
      ["delete", "Gear", "old"],
      ["delete", "Widget", "w"],
    ]);
    expect(ops[1]).toMatchObject({ uid: "uid-old", missingOk: true });
  });

  it("matches children by kind and name: a desired Gear is not an observed Widget of its name", () => {
    const widget = stored(Widget, "same", { replicas: 1 });
    const want = [desired(Gear, "same", { teeth: 1 })];
    expect(
      planChildren(want, observedOf([Gear, []], [Widget, [widget]]), new Map()).map(
        (op) => op.type,
      ),
    ).toEqual(["create", "delete"]);
    expect(unobserved(want, observedOf([Gear, []], [Widget, [widget]]))).toEqual(want);
  });
});
