/**
 * Composite controllers, after metacontroller and roperator: `sync` is a function from the parent
 * and its observed children to the desired children and the parent's status; the runtime does
 * the creating, updating, deleting and status writing.
 *
 * - Children are tracked by a controlling `ownerReference` to the parent and the label
 *   `setpoint.dev/composite-parent: <parent uid>`: a child's change triggers its parent (through
 *   `owns`), a deleted parent's children are garbage-collected, and objects the runtime did not
 *   create are never touched (a desired child whose name is taken by one is an error).
 * - Desired and observed are compared as a superset match: a child is up to date when every field
 *   `sync` gave is equal in the stored object, so fields the server or others fill in (defaults,
 *   status, annotations) cause no update.
 * - Per child kind, `updateStrategy`: `OnDelete` (never update; create again only once deleted),
 *   `Recreate` (delete; the next sync creates it once gone), `InPlace` (update the object to
 *   the desired labels, annotations and body), `Apply` (merge the desired fields into it).
 * - The parent's status is `sync`'s, with `observedGeneration` stamped and a `Ready` condition
 *   (kstatus), written only when it changed. The parent kind's status schema must keep
 *   `observedGeneration` and `conditions` (a schema that strips unknown keys drops them).
 * - A `sync` that throws, or returns something malformed (an undeclared kind, a duplicate name,
 *   a child in another namespace, a status that is not an object), touches no child: the error
 *   becomes `Ready=False` with its message, and an Event, and the parent is retried with backoff.
 * - With `finalize`, the parent carries a finalizer; while it is being deleted, `finalize` runs
 *   (retried with backoff until it returns `finalized: true`; the `status` it returns meanwhile
 *   is written, with `Ready=False`, reason `Finalizing`), then the finalizer goes.
 */
import type { StoredObject } from "../backend/backend.js";
import type { Client } from "../backend/client.js";
import { deepEqual } from "../model/json.js";
import type { AnyKind, ResourceOf } from "../model/kind.js";
import type { Frozen } from "../model/resource.js";
import { requeueAfter } from "./action.js";
import { type Controller, controller, type ReconcileContext } from "./controller.js";
import { setCondition } from "./status.js";

/** How a child kind's objects are brought to what `sync` wants. */
export type UpdateStrategy = "OnDelete" | "Recreate" | "InPlace" | "Apply";

/** A child kind a composite manages. */
export interface ChildKind {
  readonly kind: AnyKind;
  /** @default "InPlace" */
  readonly updateStrategy?: UpdateStrategy;
}

/** The observed children, by kind. */
export interface ObservedChildren {
  /** The children of `kind` that exist now (created by this composite). */
  of<K extends AnyKind>(kind: K): readonly ResourceOf<K>[];
}

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

/** What `sync` returns. */
export interface SyncResult {
  readonly children: readonly DesiredChild[];
  /** The parent's status (without `observedGeneration` and `conditions`: the runtime sets those). */
  readonly status?: Readonly<Record<string, unknown>>;
  /** Sync again after this long, whatever happens. */
  readonly resyncAfterMs?: number;
}

/** Options of {@link composite}. */
export interface CompositeOptions<P extends AnyKind> {
  readonly name: string;
  readonly children: readonly ChildKind[];
  sync(request: {
    readonly parent: ResourceOf<P>;
    readonly children: ObservedChildren;
    readonly signal: AbortSignal;
  }): Promise<SyncResult> | SyncResult;
  finalize?(request: { readonly parent: ResourceOf<P>; readonly children: ObservedChildren }):
    | Promise<{ finalized: boolean; status?: Record<string, unknown> }>
    | {
        finalized: boolean;
        status?: Record<string, unknown>;
      };
  /** @default 1 */
  readonly concurrency?: number;
}

/** The label every child carries: the uid of its parent. */
export const parentLabel = "setpoint.dev/composite-parent";

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

/** A sync result that cannot be applied: reported on the parent, nothing applied. */
class BadSync extends Error {}

const bodyOf = (object: Record<string, unknown>) => {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...body } = object;
  return body;
};

/**
 * A controller of `ParentKind` whose children `sync` declares (see the module comment).
 *
 * @example
 * ```ts
 * const sites = composite(StaticSite, {
 *   name: "static-sites",
 *   children: [{ kind: Page }, { kind: Server, updateStrategy: "Recreate" }],
 *   sync: ({ parent, children }) => ({
 *     children: parent.spec.pages.map((p) => ({ apiVersion: Page.apiVersion, kind: "Page",
 *       metadata: { name: `${parent.metadata.name}-${p.path}` }, spec: p })),
 *     status: { pages: children.of(Page).length },
 *   }),
 * });
 * ```
 */
export function composite<P extends AnyKind>(
  parentKind: P,
  options: CompositeOptions<P>,
): Controller<ResourceOf<P>> {
  const kinds = new Map(
    options.children.map((child) => [`${child.kind.apiVersion}/${child.kind.kind}`, child]),
  );

  async function observe(
    ctx: ReconcileContext<P>,
    parent: ResourceOf<P>,
  ): Promise<Map<AnyKind, StoredObject[]>> {
    const observed = new Map<AnyKind, StoredObject[]>();
    for (const { kind } of options.children) {
      // From the shared cache of the child kind, by owner: no store round trip per sync.
      const items = ctx.cacheOf(kind).byOwner(parent.metadata.uid) as StoredObject[];
      // Ours only: a controlling reference to this parent, not just any reference.
      observed.set(
        kind,
        items.filter((item) => isOurs(item, parent.metadata.uid)),
      );
    }
    return observed;
  }

  const view = (observed: Map<AnyKind, StoredObject[]>): ObservedChildren => ({
    of: (kind) => {
      const found = observed.get(kind);
      if (found === undefined)
        throw new BadSync(`${kind.kind} is not one of this composite's child kinds`);
      return found as never;
    },
  });

  /** Checks the result and makes each desired child a full object of ours. */
  function prepare(parent: ResourceOf<P>, result: SyncResult) {
    if (result === null || typeof result !== "object" || !Array.isArray(result.children))
      throw new BadSync("sync must return { children: [...], status? }");
    if (
      result.status !== undefined &&
      (result.status === null || typeof result.status !== "object" || Array.isArray(result.status))
    )
      throw new BadSync(
        `sync returned a malformed status (${JSON.stringify(result.status)}): it must be an object`,
      );
    const seen = new Set<string>();
    return result.children.map((child) => {
      const declared = kinds.get(`${child?.apiVersion}/${child?.kind}`);
      if (declared === undefined)
        throw new BadSync(
          `sync returned a child of kind ${child?.apiVersion}/${child?.kind}, which is not declared in children`,
        );
      const name = child.metadata?.name;
      if (typeof name !== "string" || name === "")
        throw new BadSync(`sync returned a ${child.kind} without metadata.name`);
      const id = `${child.kind}/${name}`;
      if (seen.has(id)) throw new BadSync(`sync returned two ${child.kind} children named ${name}`);
      seen.add(id);
      const namespaced = declared.kind.scope === "Namespaced";
      const namespace = namespaced
        ? (child.metadata.namespace ?? parent.metadata.namespace)
        : undefined;
      if (
        namespaced &&
        parent.metadata.namespace !== undefined &&
        namespace !== parent.metadata.namespace
      )
        throw new BadSync(
          `sync returned ${child.kind} ${name} in namespace ${namespace}; children live in the parent's namespace ${parent.metadata.namespace}`,
        );
      const object = {
        ...child,
        metadata: {
          ...child.metadata,
          ...(namespace === undefined ? {} : { namespace }),
          labels: { ...child.metadata.labels, [parentLabel]: parent.metadata.uid },
          ownerReferences: [
            {
              apiVersion: parentKind.apiVersion,
              kind: parentKind.kind,
              name: parent.metadata.name,
              uid: parent.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
      };
      return { declared, object, key: { namespace, name } };
    });
  }

  async function apply(
    ctx: ReconcileContext<P>,
    parentUid: string,
    desired: ReturnType<typeof prepare>,
    observed: Map<AnyKind, StoredObject[]>,
  ): Promise<number> {
    const backend = ctx.plane.backend;
    let writes = 0;
    const wanted = new Set<StoredObject>();
    // First, every name a new child needs must be free (or ours, and the cache behind): nothing
    // is applied when one is taken by someone else.
    for (const { declared, key } of desired) {
      const ours = observed.get(declared.kind)!;
      if (ours.some((o) => o.metadata.name === key.name)) continue;
      const taken = await backend.get(declared.kind, key as never).catch(() => undefined);
      if (taken === undefined) continue;
      if (!isOurs(taken, parentUid))
        throw new BadSync(
          `${declared.kind.kind} ${key.name} exists and was not created by this ${parentKind.kind}: it is left alone`,
        );
      ours.push(taken);
    }
    for (const { declared, object, key } of desired) {
      const current = observed.get(declared.kind)!.find((o) => o.metadata.name === key.name);
      if (current === undefined) {
        try {
          await backend.create(declared.kind, object as never);
          writes++;
        } catch (error) {
          if ((error as { reason?: string }).reason === "AlreadyExists")
            throw new BadSync(
              `${declared.kind.kind} ${key.name} exists and was not created by this ${parentKind.kind}: it is left alone`,
            );
          throw error;
        }
        continue;
      }
      wanted.add(current);
      const { metadata: _metadata, apiVersion: _a, kind: _k, ...body } = object;
      const upToDate =
        isSuperset(body, bodyOf(current as never)) &&
        isSuperset(object.metadata.labels, current.metadata.labels ?? {}) &&
        isSuperset(object.metadata.annotations ?? {}, current.metadata.annotations ?? {});
      if (upToDate) continue;
      switch (declared.updateStrategy ?? "InPlace") {
        case "OnDelete":
          break;
        case "Recreate":
          await backend.delete(declared.kind, key, {
            preconditions: { uid: current.metadata.uid },
          });
          writes++;
          break;
        case "InPlace":
          await backend.update(declared.kind, {
            ...body,
            apiVersion: current.apiVersion,
            kind: current.kind,
            ...(current.status === undefined ? {} : { status: current.status }),
            metadata: {
              ...current.metadata,
              labels: { ...current.metadata.labels, ...object.metadata.labels },
              annotations: { ...current.metadata.annotations, ...object.metadata.annotations },
            },
          } as never);
          writes++;
          break;
        case "Apply":
          await backend.patch(declared.kind, key, {
            type: "merge",
            patch: {
              ...body,
              metadata: {
                resourceVersion: current.metadata.resourceVersion,
                labels: object.metadata.labels,
                ...(object.metadata.annotations
                  ? { annotations: object.metadata.annotations }
                  : {}),
              },
            },
          });
          writes++;
          break;
      }
    }
    // Children of ours no longer desired go.
    for (const [kind, children] of observed)
      for (const child of children)
        if (
          !wanted.has(child) &&
          !desired.some((d) => d.declared.kind === kind && d.key.name === child.metadata.name)
        ) {
          try {
            await backend.delete(kind, child.metadata as never, {
              preconditions: { uid: child.metadata.uid },
            });
            writes++;
          } catch (error) {
            // Already gone (the cache was behind): what was wanted.
            if ((error as { reason?: string }).reason !== "NotFound") throw error;
          }
        }
    return writes;
  }

  async function writeParentStatus(
    client: Client<P>,
    parent: ResourceOf<P>,
    status: Readonly<Record<string, unknown>>,
    ready: { status: "True" | "False"; reason: string; message: string },
  ): Promise<void> {
    const current = (parent.status ?? {}) as Record<string, unknown>;
    const next = setCondition({ ...status, conditions: current.conditions as never }, {
      type: "Ready",
      ...ready,
      observedGeneration: parent.metadata.generation,
    } as never);
    const stamped = { ...next, observedGeneration: parent.metadata.generation };
    if (deepEqual(stamped, current)) return;
    await client.updateStatus({ ...parent, status: stamped } as never);
  }

  const built = controller(parentKind, {
    name: options.name,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.finalize === undefined
      ? {}
      : {
          finalizer: {
            name: `setpoint.dev/composite-${options.name}`,
            cleanup: async (parent: ResourceOf<P>, ctx: ReconcileContext<P>) => {
              const observed = await observe(ctx, parent);
              const done = await options.finalize!({ parent, children: view(observed) });
              // Progress goes to status while finalizing; once finalized, the parent goes (a
              // status write then would only make the finalizer's removal conflict).
              if (!done.finalized && done.status !== undefined)
                await writeParentStatus(ctx.client, parent, done.status, {
                  status: "False",
                  reason: "Finalizing",
                  message: "finalizing",
                }).catch(() => {});
              if (!done.finalized) throw new Error(`${options.name}: finalize is not done yet`);
            },
          },
        }),
    reconcile: async (parent, ctx) => {
      const observed = await observe(ctx, parent);
      let result: SyncResult;
      let desired: ReturnType<typeof prepare>;
      try {
        result = await options.sync({ parent, children: view(observed), signal: ctx.signal });
        desired = prepare(parent, result);
        await apply(ctx, parent.metadata.uid, desired, observed);
      } catch (error) {
        const message = (error as Error)?.message ?? String(error);
        await writeParentStatus(ctx.client, parent, statusWithoutRuntimeFields(parent), {
          status: "False",
          reason: error instanceof BadSync ? "InvalidSync" : "SyncFailed",
          message,
        }).catch(() => {});
        await ctx.events.record({
          type: "Warning",
          reason: error instanceof BadSync ? "InvalidSync" : "SyncFailed",
          message,
        });
        throw error;
      }
      await writeParentStatus(ctx.client, parent, result.status ?? {}, {
        status: "True",
        reason: "Synced",
        message: "children are as desired",
      });
      return result.resyncAfterMs === undefined ? undefined : requeueAfter(result.resyncAfterMs);
    },
  });
  for (const child of options.children) built.owns(child.kind);
  return built;
}

/** Whether `object` has a controlling reference to the parent with `uid`. */
function isOurs(object: StoredObject, uid: string): boolean {
  return (
    object.metadata.ownerReferences?.some((ref) => ref.controller === true && ref.uid === uid) ??
    false
  );
}

/** The parent's current status without what the runtime stamps. */
function statusWithoutRuntimeFields(parent: Frozen<StoredObject>): Record<string, unknown> {
  const {
    conditions: _c,
    observedGeneration: _o,
    ...rest
  } = (parent.status ?? {}) as Record<string, unknown>;
  return rest;
}
