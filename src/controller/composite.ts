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
 * - Every store call goes through the backend behind `ctx.client`: each is a span, a child of the
 *   reconcile's, and, with leader election, carries the term's fence.
 *
 * A sync is three steps: observe (the children in the shared caches), plan (`planChildren` in
 * plan-children.ts, a pure function of the desired and observed children) and write the plan.
 */
import type { Backend, StoredObject } from "../backend/backend.js";
import { ApiError } from "../model/api-error.js";
import type { Condition } from "../model/condition.js";
import { deepEqual } from "../model/json.js";
import type { AnyKind, ResourceOf } from "../model/kind.js";
import type { Frozen, ResourceInput } from "../model/resource.js";
import { requeueAfter } from "./action.js";
import { type Controller, controller, type ReconcileContext } from "./controller.js";
import {
  type ChildOp,
  type DesiredChild,
  type PlannedChild,
  planChildren,
  type UpdateStrategy,
  unobserved,
} from "./plan-children.js";
import { setCondition } from "./status.js";

export { type DesiredChild, isSuperset, type UpdateStrategy } from "./plan-children.js";

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

/** A sync result that cannot be applied: reported on the parent, nothing applied. */
class BadSync extends Error {}

/** The children of the composite, by kind. */
type Observed = Map<AnyKind, StoredObject[]>;

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
  const declared = new Map(
    options.children.map(({ kind }) => [`${kind.apiVersion}/${kind.kind}`, kind]),
  );
  const strategies = new Map(
    options.children.map(({ kind, updateStrategy }) => [kind, updateStrategy ?? "InPlace"]),
  );
  const taken = (kind: AnyKind, name: string) =>
    new BadSync(
      `${kind.kind} ${name} exists and was not created by this ${parentKind.kind}: it is left alone`,
    );

  /** The children of `parent` in the shared caches, by kind: no store round trip per sync. */
  function observe(ctx: ReconcileContext<P>, parent: ResourceOf<P>): Observed {
    const observed: Observed = new Map();
    for (const { kind } of options.children) {
      const items: readonly StoredObject[] = ctx.cacheOf(kind).byOwner(parent.metadata.uid);
      // Ours only: a controlling reference to this parent, not just any reference.
      observed.set(
        kind,
        items.filter((item) => isOurs(item, parent.metadata.uid)),
      );
    }
    return observed;
  }

  const view = (observed: Observed): ObservedChildren => ({
    of: <K extends AnyKind>(kind: K) => {
      const found = observed.get(kind);
      if (found === undefined)
        throw new BadSync(`${kind.kind} is not one of this composite's child kinds`);
      // The cache of `kind` holds its objects.
      return found as readonly unknown[] as readonly ResourceOf<K>[];
    },
  });

  /** Checks `result` and makes each desired child a full object of ours. */
  function prepare(parent: ResourceOf<P>, result: SyncResult): PlannedChild[] {
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
      const kind = declared.get(`${child?.apiVersion}/${child?.kind}`);
      if (kind === undefined)
        throw new BadSync(
          `sync returned a child of kind ${child?.apiVersion}/${child?.kind}, which is not declared in children`,
        );
      const name = child.metadata?.name;
      if (typeof name !== "string" || name === "")
        throw new BadSync(`sync returned a ${child.kind} without metadata.name`);
      const id = `${child.kind}/${name}`;
      if (seen.has(id)) throw new BadSync(`sync returned two ${child.kind} children named ${name}`);
      seen.add(id);
      const namespaced = kind.scope === "Namespaced";
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
      const object: DesiredChild = {
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
      return { kind, object, key: { namespace, name } };
    });
  }

  /**
   * Brings the children to `desired`. First, every name a new child needs must be free (or ours,
   * and the cache behind): nothing is written when one is taken by someone else. Then the plan,
   * one write at a time, in order.
   */
  async function apply(
    store: Backend,
    parentUid: string,
    desired: readonly PlannedChild[],
    observed: Observed,
  ): Promise<void> {
    for (const { kind, key } of unobserved(desired, observed)) {
      const found = await store.get(kind, key).catch(() => undefined);
      if (found === undefined) continue;
      if (!isOurs(found, parentUid)) throw taken(kind, key.name);
      observed.get(kind)!.push(found);
    }
    for (const op of planChildren(desired, observed, strategies)) await write(store, op);
  }

  /** One write of a plan. */
  async function write(store: Backend, op: ChildOp): Promise<void> {
    switch (op.type) {
      case "create":
        try {
          await store.create(op.kind, asInput(op.object));
        } catch (error) {
          if (ApiError.is(error, "AlreadyExists")) throw taken(op.kind, op.key.name);
          throw error;
        }
        return;
      case "update":
        await store.update(op.kind, asInput(op.object));
        return;
      case "patch":
        await store.patch(op.kind, op.key, { type: "merge", patch: op.patch });
        return;
      case "delete":
        try {
          await store.delete(op.kind, op.key, { preconditions: { uid: op.uid } });
        } catch (error) {
          // Already gone (the cache was behind): what was wanted.
          if (!op.missingOk || (error as { reason?: string }).reason !== "NotFound") throw error;
        }
        return;
    }
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
              const observed = observe(ctx, parent);
              const done = await options.finalize!({ parent, children: view(observed) });
              // Progress goes to status while finalizing; once finalized, the parent goes (a
              // status write then would only make the finalizer's removal conflict).
              if (!done.finalized && done.status !== undefined)
                await writeParentStatus(ctx, parent, done.status, {
                  status: "False",
                  reason: "Finalizing",
                  message: "finalizing",
                }).catch(() => {});
              if (!done.finalized) throw new Error(`${options.name}: finalize is not done yet`);
            },
          },
        }),
    reconcile: async (parent, ctx) => {
      const observed = observe(ctx, parent);
      let result: SyncResult;
      try {
        result = await options.sync({ parent, children: view(observed), signal: ctx.signal });
        await apply(ctx.client.backend, parent.metadata.uid, prepare(parent, result), observed);
      } catch (error) {
        const message = (error as Error)?.message ?? String(error);
        const reason = error instanceof BadSync ? "InvalidSync" : "SyncFailed";
        await writeParentStatus(ctx, parent, statusWithoutRuntimeFields(parent), {
          status: "False",
          reason,
          message,
        }).catch(() => {});
        await ctx.events.record({ type: "Warning", reason, message });
        throw error;
      }
      await writeParentStatus(ctx, parent, result.status ?? {}, {
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

/**
 * Writes the parent's status — `status` with `observedGeneration` stamped and the `Ready`
 * condition set — unless it is what is stored.
 */
async function writeParentStatus<P extends AnyKind>(
  ctx: ReconcileContext<P>,
  parent: ResourceOf<P>,
  status: Readonly<Record<string, unknown>>,
  ready: { status: "True" | "False"; reason: string; message: string },
): Promise<void> {
  const current = (parent.status ?? {}) as Readonly<Record<string, unknown>>;
  const next = setCondition(
    { ...status, conditions: current.conditions as readonly Condition[] | undefined },
    { type: "Ready", ...ready, observedGeneration: parent.metadata.generation },
  );
  const stamped = { ...next, observedGeneration: parent.metadata.generation };
  if (deepEqual(stamped, current)) return;
  await ctx.client.backend.updateStatus(ctx.client.kind, { ...parent, status: stamped });
}

/** A planned object as the store takes it; the store checks it against its kind. */
function asInput(object: DesiredChild): Frozen<ResourceInput> {
  return object as unknown as Frozen<ResourceInput>;
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
