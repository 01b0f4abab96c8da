/**
 * Store revisions as callers name them: a `resourceVersion` is one decimal revision of the
 * store's global counter (etcd's), and one beyond the store's is answered as kube-apiserver does.
 */
import { ApiError, badRequest } from "../model/api-error.js";

/** A store revision as `resourceVersion` gives it; `BadRequest` unless a decimal number. */
export function parseRevision(value: string): number {
  if (!/^[0-9]+$/.test(value))
    throw badRequest(`invalid resourceVersion "${value}": must be a decimal revision`);
  return Number(value);
}

/**
 * What kube-apiserver answers a request for a revision the store has not reached: `Timeout`
 * (504) with the cause client-go looks for (`ResourceVersionTooLarge`, "Too large resource
 * version"), on which its reflector relists from the current state. A store answers it to a
 * watch from beyond its revision — a client resuming from before a restart of a store whose
 * revisions started again, or from another store — which would otherwise wait for revisions that
 * mean something else when they come.
 */
export function tooLargeResourceVersion(asked: string | number, current: number): ApiError {
  return new ApiError("Timeout", `Too large resource version: ${asked}, current: ${current}`, {
    details: {
      causes: [
        { reason: "ResourceVersionTooLarge", message: "Too large resource version", field: "" },
      ],
      retryAfterSeconds: 1,
    },
  });
}
