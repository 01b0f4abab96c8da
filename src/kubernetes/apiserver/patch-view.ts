/**
 * Patching a view of a stored object (a Scale, a core v1 Event) as the API server patches one:
 * the patch applies to the view, and what the view then says is written back.
 */
import type { Backend, Patch, StoredObject } from "../../backend/backend.js";
import { ApiError, badRequest } from "../../model/api-error.js";
import { applyJsonPatch, applyMergePatch } from "../../model/json.js";
import type { AnyKind } from "../../model/kind.js";
import type { ObjectKey } from "../../model/resource.js";
import { isPlainObject } from "../../model/validation.js";
import { applyStrategicMergePatch } from "../strategic-merge-patch.js";
import { builtinPatchSchemaOf, strategicPatchUnsupported } from "../strategic-patch-schema.js";

/** How a view is made from a stored object and turned back into one. */
export interface ObjectView {
  toView(object: StoredObject): unknown;
  fromView(
    view: Record<string, unknown>,
    current: StoredObject,
  ): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** The stored object an apply patch of a missing object creates; none: NotFound stands. */
  create: ((view: Record<string, unknown>) => Promise<Record<string, unknown>>) | undefined;
}

/**
 * Patches a view of a stored object: reads the object, applies the patch to its view, writes
 * back what the view then says, preconditioned on the version read (or the one the patch
 * names). A conflict with a write in between is tried again, five times at most, unless the
 * patch named the version. An apply patch of a missing object creates it.
 */
export async function patchView(
  backend: Backend,
  kind: AnyKind,
  key: ObjectKey,
  patch: Patch,
  {
    dryRun,
    fieldManager,
  }: { readonly dryRun: boolean; readonly fieldManager?: string | undefined },
  view: ObjectView,
): Promise<StoredObject> {
  // The writer's field manager owns what it changes (an apply's too: a view is written back).
  const write = fieldManager === undefined ? { dryRun } : { dryRun, fieldManager };
  const named =
    patch.type !== "json" &&
    typeof (patch.patch.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion ===
      "string";
  for (let attempt = 0; ; attempt++) {
    let current: StoredObject;
    try {
      current = await backend.get(kind, key);
    } catch (err) {
      if (!ApiError.is(err, "NotFound") || view.create === undefined) throw err;
      const body = await view.create(patch.patch as Record<string, unknown>);
      return backend.create(kind, body as never, write);
    }
    const before = view.toView(current);
    const after =
      patch.type === "json"
        ? applyJsonPatch(before, patch.patch)
        : patch.type === "strategic"
          ? strategicPatchOfView(before, patch.patch)
          : applyMergePatch(before, patch.patch);
    if (!isPlainObject(after)) throw badRequest("the patched object is not a JSON object");
    const metadata = isPlainObject(after.metadata) ? after.metadata : {};
    const body = await view.fromView(
      {
        ...after,
        metadata: {
          ...metadata,
          name: current.metadata.name,
          ...(current.metadata.namespace === undefined
            ? {}
            : { namespace: current.metadata.namespace }),
          resourceVersion: named ? metadata.resourceVersion : current.metadata.resourceVersion,
        },
      },
      current,
    );
    try {
      return await backend.update(kind, body as never, write);
    } catch (err) {
      if (!ApiError.is(err, "Conflict") || named || attempt >= 4) throw err;
    }
  }
}

/** A strategic merge patch of a view, by the view's own kind (a Scale, a core v1 Event). */
function strategicPatchOfView(view: unknown, patch: Readonly<Record<string, unknown>>): unknown {
  const object = isPlainObject(view) ? view : {};
  const schema = builtinPatchSchemaOf(object.apiVersion, object.kind);
  if (schema === undefined) throw strategicPatchUnsupported();
  return applyStrategicMergePatch(object, patch, schema);
}
