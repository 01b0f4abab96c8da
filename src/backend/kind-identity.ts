/**
 * A kind's identity as stores keep it, and a stand-in kind made from it: what a store needs to
 * act for a kind (garbage collection, messages) before the kind itself is used in this process.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { AnyKind } from "../model/kind.js";

/** What a kind is, as stored: enough to stand in for it until the kind itself is used. */
export interface KindIdentity {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly scope: AnyKind["scope"];
  readonly layout: AnyKind["layout"];
}

const anything: StandardSchemaV1 = {
  "~standard": { version: 1, vendor: "setpoint", validate: (value) => ({ value }) },
};

export function standIn(identity: KindIdentity): AnyKind {
  return {
    ...identity,
    apiVersion: identity.group === "" ? identity.version : `${identity.group}/${identity.version}`,
    spec: anything,
    status: anything,
    printerColumns: [],
    shortNames: [],
    categories: [],
  };
}

export function identityOf(kind: AnyKind): KindIdentity {
  const { group, version, kind: name, plural, singular, scope, layout } = kind;
  return { group, version, kind: name, plural, singular, scope, layout };
}
