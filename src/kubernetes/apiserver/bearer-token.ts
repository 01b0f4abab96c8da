/** Bearer token authentication, as Kubernetes' bearer token authenticator reads the header. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ApiError } from "../../model/api-error.js";

/**
 * The token of an `Authorization: Bearer <token>` header, read as Kubernetes' bearer token
 * authenticator reads it: spaces around trimmed, the scheme in any case (`bearer`, `BEARER`),
 * the token up to the next space; `undefined` for another scheme or an empty token.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const parts = (header ?? "").trim().split(" ");
  if (parts.length < 2 || parts[0]!.toLowerCase() !== "bearer") return undefined;
  return parts[1] === "" ? undefined : parts[1];
}

/**
 * What checks each request's token against `token`: a request without it is Unauthorized (401);
 * without a `token`, every request passes. The token is compared in constant time, as digests
 * of equal length, so that how long a refusal takes tells nothing about how much of a guess was
 * right.
 */
export function tokenCheck(token: string | undefined): (req: IncomingMessage) => void {
  if (token === undefined) return () => {};
  const expected = digest(token);
  return (req) => {
    const sent = bearerToken(req.headers.authorization);
    if (sent === undefined || !timingSafeEqual(digest(sent), expected))
      throw new ApiError("Unauthorized", "Unauthorized");
  };
}

/** A digest to compare secrets by: equal lengths for `timingSafeEqual`, whatever was sent. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
