/**
 * The `/scale` subresource: an `autoscaling/v1` Scale view of an object whose kind declares
 * `scale` paths, read and written as the API server does it for custom resources
 * (apiextensions-apiserver's `ScaleREST`): `spec.replicas` from and to the spec path,
 * `status.replicas` and `status.selector` from the status and selector paths.
 */
import type { StoredObject } from "../../backend/backend.js";
import { badRequest, invalid } from "../../model/api-error.js";
import type { ScaleSubresource } from "../../model/kind.js";

/** An `autoscaling/v1` Scale. */
export interface Scale {
  readonly kind: "Scale";
  readonly apiVersion: "autoscaling/v1";
  readonly metadata: Record<string, unknown>;
  readonly spec: { readonly replicas: number };
  readonly status: { readonly replicas: number; readonly selector?: string };
}

function parts(path: string): string[] {
  return path.split(".").filter((p) => p !== "");
}

function read(object: unknown, path: string): unknown {
  let current = object;
  for (const part of parts(path)) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part))
      return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** A copy of `object` with `value` at `path`, objects made on the way. */
function written(
  object: Record<string, unknown>,
  path: string,
  value: unknown,
): Record<string, unknown> {
  const [head, ...rest] = parts(path);
  if (head === undefined) return object;
  const child = Object.hasOwn(object, head) ? object[head] : undefined;
  const next =
    rest.length === 0
      ? value
      : written(
          child !== null && typeof child === "object" && !Array.isArray(child)
            ? (child as Record<string, unknown>)
            : {},
          `.${rest.join(".")}`,
          value,
        );
  return { ...object, [head]: next };
}

/** The Scale of `object`; a replica count it lacks reads as 0. */
export function scaleOf(scale: ScaleSubresource, object: StoredObject): Scale {
  const specReplicas = read(object, scale.specReplicasPath);
  const statusReplicas = read(object, scale.statusReplicasPath);
  const selector =
    scale.labelSelectorPath === undefined ? undefined : read(object, scale.labelSelectorPath);
  const { name, namespace, uid, resourceVersion, creationTimestamp } = object.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name,
      ...(namespace === undefined ? {} : { namespace }),
      uid,
      resourceVersion,
      creationTimestamp,
    },
    spec: { replicas: typeof specReplicas === "number" ? specReplicas : 0 },
    status: {
      replicas: typeof statusReplicas === "number" ? statusReplicas : 0,
      ...(typeof selector === "string" ? { selector } : {}),
    },
  };
}

/**
 * `object` with the desired replicas of `sent` (a Scale as a client sent it) written to the spec
 * path, and the Scale's `resourceVersion`, when it has one, as the write's precondition.
 * A malformed Scale is BadRequest; negative replicas are Invalid, as Kubernetes answers them.
 */
export function scaledObject(
  scale: ScaleSubresource,
  object: StoredObject,
  sent: unknown,
): Record<string, unknown> {
  if (sent === null || typeof sent !== "object" || Array.isArray(sent))
    throw badRequest("the request body must be an autoscaling/v1 Scale");
  const body = sent as { kind?: unknown; apiVersion?: unknown; metadata?: unknown; spec?: unknown };
  if (body.kind !== undefined && body.kind !== "Scale")
    throw badRequest(`the body is a ${String(body.kind)}, not an autoscaling/v1 Scale`);
  const name = (body.metadata as { name?: unknown } | undefined)?.name;
  if (name !== undefined && name !== object.metadata.name)
    throw badRequest(
      `the name of the object (${String(name)}) does not match the name on the URL (${object.metadata.name})`,
    );
  const replicas = (body.spec as { replicas?: unknown } | undefined)?.replicas;
  if (replicas === undefined || replicas === null)
    throw badRequest(`the spec replicas field "${scale.specReplicasPath}" cannot be empty`);
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas > 2_147_483_647)
    throw badRequest(`spec.replicas must be a 32-bit integer, not ${JSON.stringify(replicas)}`);
  if (replicas < 0)
    throw invalid({ group: "autoscaling", kind: "Scale", name: object.metadata.name }, [
      {
        field: "spec.replicas",
        reason: "FieldValueInvalid",
        message: `Invalid value: ${replicas}: must be greater than or equal to 0`,
      },
    ]);
  const resourceVersion = (body.metadata as { resourceVersion?: unknown } | undefined)
    ?.resourceVersion;
  const updated = written(
    object as unknown as Record<string, unknown>,
    scale.specReplicasPath,
    replicas,
  );
  return {
    ...updated,
    metadata: {
      ...object.metadata,
      ...(typeof resourceVersion === "string" && resourceVersion !== "" ? { resourceVersion } : {}),
    },
  };
}
