/** Kubernetes `Status` objects: how the API server reports errors (and successful deletes). */
import { ApiError } from "../../model/api-error.js";

/** The `Status` body of an error, as `kubectl` and client libraries read it. */
export function statusOf(error: ApiError): Record<string, unknown> {
  const details = error.details;
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: error.message,
    reason: error.reason,
    ...(details === undefined
      ? {}
      : {
          details: {
            ...(details.name === undefined ? {} : { name: details.name }),
            ...(details.group === undefined ? {} : { group: details.group }),
            ...(details.kind === undefined ? {} : { kind: details.kind }),
            ...(details.causes === undefined ? {} : { causes: details.causes }),
            ...(details.retryAfterSeconds === undefined
              ? {}
              : { retryAfterSeconds: details.retryAfterSeconds }),
          },
        }),
    code: error.code,
  };
}

/** Any thrown value as an ApiError; unknown failures become InternalError. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(
    "InternalError",
    `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
