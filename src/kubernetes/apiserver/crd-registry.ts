/**
 * The kinds `setpoint serve` serves, and the CustomResourceDefinitions behind them: the plane's
 * kinds (built-in and the modules'), core v1 Events (a view), and the kinds of stored CRDs, kept
 * in step by an informer. The kinds the plane's modules define are served as read-only CRDs
 * (`kubectl get crd` lists them), never stored.
 *
 * Guarantees: a stored CRD is served only if it keeps Kubernetes' rules for CRDs and takes over
 * no kind already served, however it was stored (through a typed client, or by an older version
 * into a durable store); one that is not served is marked `NamesAccepted=False` and
 * `Established=False` with the reasons, one that is, `Established`. A CRD written a moment ago
 * is found even before the informer has seen it.
 */
import type { StoredObject } from "../../backend/backend.js";
import type { ControlPlane } from "../../backend/control-plane.js";
import { timestamp } from "../../backend/object-rules.js";
import { Informer } from "../../cache/informer.js";
import { ApiError, invalid } from "../../model/api-error.js";
import type { Clock } from "../../model/clock.js";
import { type AnyKind, kindId } from "../../model/kind.js";
import { fieldPath } from "../../model/validation.js";
import { builtinKinds, CustomResourceDefinition } from "../builtin-kinds.js";
import { kindFromCrd } from "../crd.js";
import {
  type CrdIssue,
  type CrdShape,
  crdServingIssues,
  crdSpecIssues,
} from "../crd-validation.js";
import {
  coreEvents,
  moduleCrdAnnotation,
  moduleCrdOf,
  type ServedKind,
  servedKindOf,
} from "./served-kind.js";

/** The served kinds and the CRDs behind them; see the module documentation. */
export class CrdRegistry {
  /** Kinds defined at runtime by stored CRDs, by CRD name. */
  private readonly defined = new Map<string, AnyKind>();
  private readonly informer: Informer;
  /** When the kinds of the plane's modules were first served as CRDs. */
  private readonly startedAt: string;
  /** Kubernetes' own kinds, never served as a module's CRD, whether served or not. */
  private readonly builtinIds: ReadonlySet<string>;

  /**
   * @param builtin Kubernetes' kinds beyond the {@link builtinKinds} (the catalogue): a module
   * that uses one (a controller owning ConfigMaps) does not define it. @default []
   */
  constructor(
    private readonly plane: ControlPlane,
    private readonly clock: Clock,
    builtin: readonly AnyKind[] = [],
  ) {
    this.builtinIds = new Set([...builtinKinds, ...builtin].map(kindId));
    this.startedAt = timestamp(clock.wallNow());
    this.informer = new Informer(plane.backend, CustomResourceDefinition, { clock });
    this.informer.writer.subscribe((change) => {
      if (change.type === "deleted") {
        this.defined.delete(change.object.metadata.name);
        return;
      }
      const defined = this.define(change.object);
      if (Array.isArray(defined)) void this.markNotAccepted(change.object, defined);
      else void this.markEstablished(change.object);
    });
  }

  /** Keeps the kinds of stored CRDs in step until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return this.informer.run(signal);
  }

  /** Resolves once every stored CRD has been seen. */
  ready(): Promise<void> {
    return this.informer.cache.ready();
  }

  /** Every kind served, as served: the plane's, core v1 Events (a view), the CRDs'. */
  served(): ServedKind[] {
    const defined = [...this.defined.values()];
    const ids = new Set(defined.map(kindId));
    return [
      ...[...this.plane.kinds.values()].filter((k) => !ids.has(kindId(k))).map(servedKindOf),
      coreEvents,
      ...defined.map(servedKindOf),
    ];
  }

  /** Whether `kind` is one of Kubernetes' own (the built-in kinds and the catalogue's). */
  isBuiltin(kind: AnyKind): boolean {
    return this.builtinIds.has(kindId(kind));
  }

  /** Every kind served, as clients see it (discovery, OpenAPI). */
  kinds(): AnyKind[] {
    return this.served().map((s) => s.kind);
  }

  /** The kind served at `group`/`version`/`plural`; NotFound if none is. */
  async find(group: string, version: string, plural: string): Promise<ServedKind> {
    const match = (kind: AnyKind) =>
      kind.group === group && kind.version === version && kind.plural === plural;
    const known = this.served().find((s) => match(s.kind));
    if (known !== undefined) return known;
    // A CRD applied a moment ago may not have reached the informer yet.
    try {
      const crd = await this.plane.backend.get(CustomResourceDefinition, {
        name: `${plural}.${group}`,
      });
      const kind = this.define(crd);
      if (!Array.isArray(kind) && match(kind as AnyKind)) return servedKindOf(kind as AnyKind);
    } catch {}
    throw new ApiError(
      "NotFound",
      `the server could not find the requested resource (${group === "" ? "" : `${group}/`}${version} ${plural})`,
      {
        details: { group, kind: plural },
      },
    );
  }

  /** The CRDs of the kinds the plane's modules define, by name: served, never stored. */
  moduleCrds(): Map<string, StoredObject> {
    return new Map(
      [...this.plane.kinds.values()]
        .filter((kind) => !this.builtinIds.has(kindId(kind)))
        .map((kind) => {
          const crd = moduleCrdOf(kind, this.startedAt);
          return [crd.metadata.name, crd] as const;
        }),
    );
  }

  /**
   * Refuses (Invalid) a CRD write whose result could not be served beside what is served: a
   * name that is not `<plural>.<group>`, or names a served kind has.
   */
  checkServable(crd: StoredObject): void {
    const issues = crdServingIssues(
      crd as unknown as CrdShape,
      this.servedBesides(crd.metadata.name),
    );
    if (issues.length > 0) throw crdInvalid(crd, issues);
  }

  /** What a CRD named `name` may not take over: the plane's kinds (built-in, modules'), other CRDs'. */
  private servedBesides(name: string): AnyKind[] {
    return [
      ...this.plane.kinds.values(),
      ...[...this.defined].filter(([other]) => other !== name).map(([, kind]) => kind),
    ];
  }

  /** The kind a CRD defines, now served; or, if it may not be served, why. */
  private define(crd: StoredObject): AnyKind | readonly CrdIssue[] {
    const name = crd.metadata.name;
    const issues = servingIssues(crd, this.servedBesides(name));
    if (issues.length === 0) {
      try {
        const kind = kindFromCrd(crd);
        this.defined.set(name, kind);
        return kind;
      } catch (err) {
        issues.push({ path: ["spec"], message: (err as Error).message });
      }
    }
    this.defined.delete(name);
    return issues;
  }

  /**
   * Marks a CRD that is not served NamesAccepted=False and Established=False with the reasons,
   * as the real API server marks a CRD whose names conflict; writes only when that changes
   * something.
   */
  private async markNotAccepted(crd: StoredObject, issues: readonly CrdIssue[]): Promise<void> {
    const message = issues.map((i) => `${fieldPath("", i.path)}: ${i.message}`).join("; ");
    const conditions =
      (
        crd.status as
          | { conditions?: { type: string; status: string; message?: string }[] }
          | undefined
      )?.conditions ?? [];
    if (
      conditions.some(
        (c) => c.type === "NamesAccepted" && c.status === "False" && c.message === message,
      )
    )
      return;
    const now = timestamp(this.clock.wallNow());
    try {
      await this.plane.backend.updateStatus(CustomResourceDefinition, {
        ...crd,
        status: {
          conditions: [
            {
              type: "NamesAccepted",
              status: "False",
              reason: "NotAccepted",
              message,
              lastTransitionTime: now,
            },
            {
              type: "Established",
              status: "False",
              reason: "NotAccepted",
              message: "not served: see NamesAccepted",
              lastTransitionTime: now,
            },
          ],
        },
      } as never);
    } catch {
      // A newer version of the CRD arrives as its own change and is marked then.
    }
  }

  /** Marks a CRD Established and NamesAccepted, as the real API server does once it serves it. */
  private async markEstablished(crd: StoredObject): Promise<void> {
    const conditions =
      (crd.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
      [];
    if (conditions.some((c) => c.type === "Established" && c.status === "True")) return;
    const now = timestamp(this.clock.wallNow());
    const spec = crd.spec as { names?: unknown };
    try {
      await this.plane.backend.updateStatus(CustomResourceDefinition, {
        ...crd,
        status: {
          acceptedNames: spec.names,
          storedVersions: [
            (crd.spec as { versions: { name: string; storage: boolean }[] }).versions.find(
              (v) => v.storage,
            )?.name,
          ],
          conditions: [
            {
              type: "NamesAccepted",
              status: "True",
              reason: "NoConflicts",
              message: "no conflicts found",
              lastTransitionTime: now,
            },
            {
              type: "Established",
              status: "True",
              reason: "InitialNamesAccepted",
              message: "the initial names have been accepted",
              lastTransitionTime: now,
            },
          ],
        },
      } as never);
    } catch {
      // A newer version of the CRD arrives as its own change and is marked then.
    }
  }
}

/** What a write to the CRD of a module's kind gets: 403, for it is not stored but defined in code. */
export function moduleCrdReadOnly(crd: StoredObject): ApiError {
  const name = crd.metadata.name;
  return new ApiError(
    "Forbidden",
    `customresourcedefinitions.apiextensions.k8s.io "${name}" is forbidden: the kind is defined by a module this server runs (annotation ${moduleCrdAnnotation}); its CustomResourceDefinition is read-only — change the module instead`,
    {
      details: {
        name,
        group: CustomResourceDefinition.group,
        kind: "customresourcedefinitions",
      },
    },
  );
}

/** Everything that keeps a stored CRD from being served beside `served`, with paths from the object. */
function servingIssues(crd: StoredObject, served: readonly AnyKind[]): CrdIssue[] {
  try {
    return [
      ...crdSpecIssues((crd as unknown as CrdShape).spec).map((issue) => ({
        ...issue,
        path: ["spec", ...issue.path],
      })),
      ...crdServingIssues(crd as unknown as CrdShape, served),
    ];
  } catch (err) {
    return [{ path: ["spec"], message: `malformed: ${(err as Error).message}` }];
  }
}

/** The `Invalid` error of a CRD write that would break the rules of serving. */
function crdInvalid(crd: StoredObject, issues: readonly CrdIssue[]): ApiError {
  return invalid(
    {
      group: CustomResourceDefinition.group,
      kind: CustomResourceDefinition.kind,
      name: crd.metadata.name,
    },
    issues.map((issue) => ({
      field: fieldPath("", issue.path),
      reason: issue.reason ?? "FieldValueInvalid",
      message: issue.message,
    })),
  );
}
