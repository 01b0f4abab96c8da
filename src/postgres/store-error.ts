/** PostgreSQL's and its driver's errors, as the Backend contract's. */
import { ApiError } from "../model/api-error.js";

/**
 * PostgreSQL's errors as the Backend contract's: connection trouble is retryable
 * (ServiceUnavailable) — the driver's own errors (no code: a connection terminated, a client not
 * queryable), the socket's (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, `ETIMEDOUT`…), and PostgreSQL's
 * classes 08 (connection exception), 53 (insufficient resources: too many connections, disk
 * full) and 57 (operator intervention: the server shutting down or starting, a terminated
 * backend). Client input is kept from reaching PostgreSQL in forms it refuses (`storableJson`,
 * `text`), so anything else is InternalError.
 */
export function asStoreError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: string }).code;
  if (
    code === undefined ||
    /^E(?!RR_)[A-Z_]+$/.test(code) ||
    code.startsWith("08") ||
    code.startsWith("53") ||
    code.startsWith("57")
  )
    return new ApiError(
      "ServiceUnavailable",
      `PostgreSQL is unreachable: ${(error as Error).message}`,
      { cause: error },
    );
  if (code === "40001" || code === "40P01")
    return new ApiError(
      "Conflict",
      `PostgreSQL aborted the transaction: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  return new ApiError("InternalError", `PostgreSQL: ${(error as Error).message}`, { cause: error });
}
