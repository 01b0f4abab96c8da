/**
 * An object as a client sent it: placed where its URL says (namespace and name), its metadata
 * kept to the fields Kubernetes defines, and — for `fieldValidation=Strict` — checked for fields
 * the kind does not know.
 */
import type { StoredObject } from "../../backend/backend.js";
import { badRequest } from "../../model/api-error.js";
import type { AnyKind } from "../../model/kind.js";
import { isPlainObject } from "../../model/validation.js";
import type { ResourcePath } from "./request-target.js";

const metadataFields = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

/**
 * `body` with its metadata placed at `path`: the namespace and name of the URL filled in, and
 * BadRequest where the object names others; metadata fields Kubernetes does not define (and
 * `managedFields`, `selfLink`) dropped.
 */
export function placed(
  body: Record<string, unknown>,
  kind: AnyKind,
  path: Pick<ResourcePath, "namespace" | "name">,
): Record<string, unknown> {
  const metadata = isPlainObject(body.metadata) ? { ...body.metadata } : {};
  for (const field of Object.keys(metadata)) if (!metadataFields.has(field)) delete metadata[field];
  delete metadata.managedFields;
  delete metadata.selfLink;
  if (kind.scope === "Namespaced") {
    if (
      metadata.namespace !== undefined &&
      path.namespace !== undefined &&
      metadata.namespace !== path.namespace
    ) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    metadata.namespace ??= path.namespace;
  }
  if (path.name !== undefined && metadata.name !== undefined && metadata.name !== path.name) {
    throw badRequest(
      `the name of the object (${String(metadata.name)}) does not match the name on the URL (${path.name})`,
    );
  }
  if (path.name !== undefined) metadata.name ??= path.name;
  return { ...body, metadata };
}

/**
 * `fieldValidation=Strict`: BadRequest naming every field of `sent` that `kept` (the result of
 * the write, as served) does not have. The main resource is checked on everything but status,
 * the status subresource on status alone.
 */
export function checkStrict(
  sent: Record<string, unknown>,
  kept: StoredObject,
  subresource: string | undefined,
  alsoUnknown: readonly string[] = [],
): void {
  const unknown: string[] = [...alsoUnknown];
  // Status is a known field of every kind; the main resource ignores it, and the status
  // subresource ignores everything else.
  const { metadata: _m, apiVersion: _a, kind: _k, status: sentStatus, ...body } = sent;
  const {
    metadata: _km,
    apiVersion: _ka,
    kind: _kk,
    status: keptStatus,
    ...keptBody
  } = kept as unknown as Record<string, unknown>;
  // A core Secret's stringData is known but never kept: the server folds it into data.
  if (kept.apiVersion === "v1" && kept.kind === "Secret") delete body.stringData;
  if (subresource === "status")
    unknownFields({ status: sentStatus }, { status: keptStatus }, "", unknown);
  else unknownFields(body, keptBody, "", unknown);
  if (unknown.length > 0) {
    const fields = [...new Set(unknown)];
    throw badRequest(
      `strict decoding error: ${fields.map((f) => `unknown field "${f}"`).join(", ")}`,
    );
  }
}

/**
 * Fields of `sent` that `kept` (the validated result) dropped: unknown to the schema. A field
 * sent as `null` is unset, not unknown, even when the store keeps no trace of it (kubectl 1.29–1.31
 * send `spec.template.metadata.creationTimestamp: null`).
 */
function unknownFields(sent: unknown, kept: unknown, path: string, out: string[]): void {
  if (!isPlainObject(sent)) {
    if (Array.isArray(sent) && Array.isArray(kept))
      for (const [i, item] of sent.entries()) unknownFields(item, kept[i], `${path}[${i}]`, out);
    return;
  }
  if (!isPlainObject(kept)) return;
  for (const key of Object.keys(sent)) {
    const field = path === "" ? key : `${path}.${key}`;
    if (!Object.hasOwn(kept, key)) {
      if (sent[key] !== null) out.push(field);
    } else unknownFields(sent[key], kept[key], field, out);
  }
}
