/**
 * The read API's view of one object ({@link ObjectView}): the object as served, its conditions,
 * the events about it, its owners, the objects it owns as a tree (two levels), and each
 * controller's view of its key.
 *
 * Children are found by listing every served kind that has objects, in the owner's namespace
 * (every namespace for a cluster-scoped owner), and keeping those whose ownerReferences name the
 * owner's uid: a page view costs a list of each such kind, nothing while nobody looks.
 */
import type { Backend, StoredObject } from "../backend/backend.js";
import { Event } from "../controller/events.js";
import type { Manager } from "../controller/manager.js";
import type { ServedKind } from "../kubernetes/apiserver/served-kind.js";
import { ApiError } from "../model/api-error.js";
import { keyString } from "../model/resource.js";
import { keyView } from "./controller-views.js";
import { eventSummary, type KindCounts, readyStatus } from "./kind-counts.js";
import type { ChildView, ConditionView, ObjectRef, ObjectView, ServerInfo } from "./types.js";

/** The most children (and grandchildren) listed under one object. */
const MAX_CHILDREN = 200;

/** What object views read: the store, the served kinds, the counts kept, the manager. */
export interface ObjectViewContext {
  readonly backend: Backend;
  readonly counts: KindCounts;
  readonly manager: Manager | undefined;
  /** The kinds with objects of their own (not views such as core v1 Events). */
  servedKinds(): ServedKind[];
  /** The plural of a served kind, by group and kind. */
  pluralOf(group: string, kind: string): string | undefined;
  info(): ServerInfo;
}

/** Object views of one server. */
export class ObjectViews {
  constructor(private readonly context: ObjectViewContext) {}

  refOf(object: StoredObject, served: ServedKind): ObjectRef {
    const { kind } = served;
    return {
      group: kind.group,
      version: kind.version,
      kind: kind.kind,
      plural: kind.plural,
      ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      name: object.metadata.name,
      ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
    };
  }

  /** `GET /setpoint/v1/objects/{group}/{version}/{plural}/{namespace}/{name}`. */
  async view(
    group: string,
    version: string,
    plural: string,
    namespace: string,
    name: string,
  ): Promise<ObjectView> {
    const served = this.context
      .servedKinds()
      .find(
        (s) =>
          s.kind.group === (group === "core" ? "" : group) &&
          s.kind.version === version &&
          s.kind.plural === plural,
      );
    if (served === undefined)
      throw new ApiError(
        "NotFound",
        `the server serves no resource ${plural} in ${group}/${version}`,
      );
    const namespaced = served.kind.scope === "Namespaced";
    const stored = await this.context.backend.get(served.storage, {
      ...(namespaced ? { namespace } : {}),
      name,
    });
    const object = served.toServed(stored);
    const metadata = stored.metadata;
    const conditions = conditionsOf(stored);
    const events = (await this.context.backend.list(Event, namespaced ? { namespace } : {})).items
      .filter((event) => {
        const regarding = (event as unknown as { regarding?: Record<string, string> }).regarding;
        return (
          regarding !== undefined &&
          (regarding.uid === metadata.uid ||
            (regarding.uid === undefined &&
              regarding.kind === served.kind.kind &&
              regarding.name === name &&
              (regarding.namespace ?? "") === (metadata.namespace ?? "")))
        );
      })
      .map((event) => eventSummary(event, this.context.pluralOf))
      .sort((a, b) => b.time - a.time)
      .slice(0, 50);
    const owners: ObjectRef[] = (metadata.ownerReferences ?? []).map((ref) => {
      const slash = ref.apiVersion.indexOf("/");
      const ownerGroup = slash < 0 ? "" : ref.apiVersion.slice(0, slash);
      const ownerPlural = this.context.pluralOf(ownerGroup, ref.kind);
      const ownerServed = this.context
        .servedKinds()
        .find((s) => s.kind.group === ownerGroup && s.kind.kind === ref.kind);
      return {
        group: ownerGroup,
        version: slash < 0 ? ref.apiVersion : ref.apiVersion.slice(slash + 1),
        kind: ref.kind,
        ...(ownerPlural === undefined ? {} : { plural: ownerPlural }),
        ...(metadata.namespace && ownerServed?.kind.scope === "Namespaced"
          ? { namespace: metadata.namespace }
          : {}),
        name: ref.name,
        uid: ref.uid,
      };
    });
    const children = await this.childrenOf(stored, namespaced ? namespace : undefined);
    const key = keyString(metadata);
    const { manager } = this.context;
    const controllers =
      manager === undefined
        ? []
        : manager.controllerList
            .filter(
              (c) =>
                c.kind !== undefined &&
                c.kind.group === served.kind.group &&
                c.kind.kind === served.kind.kind,
            )
            .map((c) => keyView(manager, c.name, key)!);
    return {
      ref: this.refOf(stored, served),
      object: object as unknown as Record<string, unknown>,
      conditions,
      events,
      owners,
      children,
      controllers,
      server: this.context.info(),
    };
  }

  /**
   * The objects `owner` owns, two levels down. One list of each kind that has objects (in the
   * owner's namespace; every namespace for a cluster-scoped owner) is indexed by the owner uids
   * its objects name, and the tree is read from that index: a page costs one list per kind,
   * however many children there are.
   */
  private async childrenOf(
    owner: StoredObject,
    namespace: string | undefined,
  ): Promise<ChildView[]> {
    const uid = owner.metadata.uid;
    if (uid === undefined) return [];
    const owned = new Map<string, { item: StoredObject; served: ServedKind }[]>();
    for (const served of this.context.servedKinds()) {
      const known = this.context.counts.peek(served.storage);
      if (known?.synced && known.total === 0) continue;
      if (namespace !== undefined && served.kind.scope !== "Namespaced") continue;
      const { items } = await this.context.backend.list(
        served.storage,
        namespace === undefined ? {} : { namespace },
      );
      for (const item of items)
        for (const ref of item.metadata.ownerReferences ?? []) {
          let siblings = owned.get(ref.uid);
          if (siblings === undefined) {
            siblings = [];
            owned.set(ref.uid, siblings);
          }
          siblings.push({ item, served });
        }
    }
    let left = MAX_CHILDREN;
    const tree = (of: string, depth: number): ChildView[] => {
      const views: ChildView[] = [];
      for (const { item, served } of owned.get(of) ?? []) {
        if (left-- <= 0) break;
        const ready = readyStatus(item);
        const readyCondition = conditionsOf(item).find((c) => c.type === "Ready");
        views.push({
          ref: this.refOf(item, served),
          ...(ready === "True" || ready === "False" || ready === "Unknown" ? { ready } : {}),
          ...(readyCondition?.reason === undefined ? {} : { reason: readyCondition.reason }),
          ...(readyCondition?.message === undefined ? {} : { message: readyCondition.message }),
          terminating: item.metadata.deletionTimestamp !== undefined,
          children: depth > 1 && item.metadata.uid ? tree(item.metadata.uid, depth - 1) : [],
        });
      }
      return views;
    };
    return tree(uid, 2);
  }
}

/** An object's conditions, as the dashboard shows them. */
function conditionsOf(object: StoredObject): ConditionView[] {
  const status = (object as { status?: { conditions?: unknown } }).status;
  if (!Array.isArray(status?.conditions)) return [];
  return (status.conditions as Record<string, unknown>[])
    .filter((c) => typeof c?.type === "string")
    .map((c) => ({
      type: String(c.type),
      status: String(c.status ?? "Unknown"),
      ...(typeof c.reason === "string" ? { reason: c.reason } : {}),
      ...(typeof c.message === "string" ? { message: c.message } : {}),
      ...(typeof c.lastTransitionTime === "string"
        ? { lastTransitionTime: c.lastTransitionTime }
        : {}),
      ...(typeof c.observedGeneration === "number"
        ? { observedGeneration: c.observedGeneration }
        : {}),
    }));
}
