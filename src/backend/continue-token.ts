/**
 * The `continue` token of a paginated list: where the next page starts, and the revision of the
 * snapshot every page of the list reads. Opaque to callers: base64url JSON.
 */
import { ApiError, badRequest } from "../model/api-error.js";

/**
 * Where a paginated list goes on: the revision of its first page's snapshot and the last key
 * handed out (`ns` absent for cluster-scoped objects).
 */
export interface ContinueToken {
  readonly rv: number;
  readonly ns?: string;
  readonly name: string;
}

export function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

/** What a store answers a `continue` token it cannot serve: 410, start a new list. */
export function continueExpired(): ApiError {
  return new ApiError(
    "Expired",
    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
  );
}

/** The token in a `continue` value; `BadRequest` for a garbled one. */
export function decodeContinue(value: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(value, "base64url").toString());
    if (
      Number.isSafeInteger(token.rv) &&
      typeof token.name === "string" &&
      (token.ns === undefined || typeof token.ns === "string")
    )
      return token;
  } catch {}
  throw badRequest(`invalid continue token "${value}"`);
}
