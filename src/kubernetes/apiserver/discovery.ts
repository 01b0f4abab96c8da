/**
 * API discovery, both ways kubectl asks for it: the legacy documents (`APIVersions`,
 * `APIGroupList`, `APIResourceList`) and the aggregated `apidiscovery.k8s.io/v2` ones that
 * spare it a request per group-version. Every kind with a `status` has a `status` subresource
 * (flat kinds such as ConfigMap have neither, as in Kubernetes); kinds that declare `scale`
 * have a `scale` one (`autoscaling/v1` Scale), which `kubectl scale` looks for.
 */
import type { AnyKind } from "../../model/kind.js";

const verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];

function resourceOf(kind: AnyKind) {
  return {
    name: kind.plural,
    singularName: kind.singular,
    namespaced: kind.scope === "Namespaced",
    kind: kind.kind,
    verbs,
    ...(kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}),
    ...(kind.categories.length > 0 ? { categories: [...kind.categories] } : {}),
  };
}

/** `GET /api/v1` or `/apis/<group>/<version>`: the resources of one group-version. */
export function apiResourceList(groupVersion: string, kinds: readonly AnyKind[]) {
  const resources = [];
  for (const kind of kinds) {
    resources.push(resourceOf(kind));
    if (kind.layout !== "flat")
      resources.push({
        name: `${kind.plural}/status`,
        singularName: "",
        namespaced: kind.scope === "Namespaced",
        kind: kind.kind,
        verbs: ["get", "patch", "update"],
      });
    if (kind.scale !== undefined)
      resources.push({
        name: `${kind.plural}/scale`,
        singularName: "",
        namespaced: kind.scope === "Namespaced",
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      });
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources };
}

/** `GET /api`: the core group's versions. */
export function apiVersions() {
  return {
    kind: "APIVersions",
    apiVersion: "v1",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "" }],
  };
}

function groupsOf(kinds: readonly AnyKind[]): Map<string, Map<string, AnyKind[]>> {
  const groups = new Map<string, Map<string, AnyKind[]>>();
  for (const kind of kinds) {
    let versions = groups.get(kind.group);
    if (versions === undefined) {
      versions = new Map();
      groups.set(kind.group, versions);
    }
    const list = versions.get(kind.version) ?? [];
    list.push(kind);
    versions.set(kind.version, list);
  }
  return groups;
}

/** `GET /apis`: every named group and its versions. */
export function apiGroupList(kinds: readonly AnyKind[]) {
  const groups = [];
  for (const [group, versions] of groupsOf(kinds)) {
    if (group === "") continue;
    const list = [...versions.keys()].map((version) => ({
      groupVersion: `${group}/${version}`,
      version,
    }));
    groups.push({ name: group, versions: list, preferredVersion: list[0] });
  }
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/** The aggregated discovery document of the core group (`/api`) or the named groups (`/apis`). */
export function aggregatedDiscovery(kinds: readonly AnyKind[], core: boolean) {
  const items = [];
  for (const [group, versions] of groupsOf(kinds)) {
    if ((group === "") !== core) continue;
    items.push({
      metadata: { name: group, creationTimestamp: null },
      versions: [...versions].map(([version, list]) => ({
        version,
        freshness: "Current",
        resources: list.map((kind) => ({
          resource: kind.plural,
          responseKind: { group, version, kind: kind.kind },
          scope: kind.scope,
          singularResource: kind.singular,
          verbs,
          ...(kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}),
          ...(kind.categories.length > 0 ? { categories: [...kind.categories] } : {}),
          subresources: [
            ...(kind.layout === "flat"
              ? []
              : [
                  {
                    subresource: "status",
                    responseKind: { group, version, kind: kind.kind },
                    verbs: ["get", "patch", "update"],
                  },
                ]),
            ...(kind.scale === undefined
              ? []
              : [
                  {
                    subresource: "scale",
                    responseKind: { group: "autoscaling", version: "v1", kind: "Scale" },
                    verbs: ["get", "patch", "update"],
                  },
                ]),
          ],
        })),
      })),
    });
  }
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: "apidiscovery.k8s.io/v2",
    metadata: {},
    items,
  };
}

/** Whether an `Accept` header asks for aggregated discovery, and of which version. */
export function wantsAggregated(accept: string | undefined): "v2" | "v2beta1" | undefined {
  if (accept === undefined || !accept.includes("as=APIGroupDiscoveryList")) return undefined;
  for (const part of accept.split(",")) {
    if (!part.includes("as=APIGroupDiscoveryList")) continue;
    if (/v=v2(;|$)/.test(part)) return "v2";
    if (/v=v2beta1/.test(part)) return "v2beta1";
  }
  return undefined;
}
