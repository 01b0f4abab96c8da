/**
 * Limits on requests in flight, as kube-apiserver's `--max-requests-inflight` and
 * `--max-mutating-requests-inflight`: reads and writes counted apart, watches not at all.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { API_PREFIX } from "../../dashboard/types.js";
import { ApiError } from "../../model/api-error.js";
import { booleanParam } from "./request-options.js";
import { requestTarget } from "./request-target.js";
import { sendError } from "./responses.js";

/** The limits of {@link InFlightLimits}; `0` for no limit. */
export interface InFlightLimitOptions {
  readonly maxRequestsInFlight: number;
  readonly maxMutatingRequestsInFlight: number;
}

/** Requests being served, reads and writes apart; one over a limit is answered 429. */
export class InFlightLimits {
  private readonly count = { reads: 0, writes: 0 };
  private readonly limit: { readonly reads: number; readonly writes: number };

  constructor(options: InFlightLimitOptions) {
    for (const [name, value] of [
      ["maxRequestsInFlight", options.maxRequestsInFlight],
      ["maxMutatingRequestsInFlight", options.maxMutatingRequestsInFlight],
    ] as const)
      if (!Number.isInteger(value) || value < 0)
        throw new RangeError(`${name} (${value}) must be a non-negative integer (0 for no limit)`);
    this.limit = {
      reads: options.maxRequestsInFlight,
      writes: options.maxMutatingRequestsInFlight,
    };
  }

  /**
   * Counts `req` until its response is sent or its client goes, and says `true`; or, when its
   * limit is reached, answers it 429 `TooManyRequests` with `Retry-After: 1` and says `false`.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const lane = inFlightLane(req);
    if (lane === undefined) return true;
    const limit = this.limit[lane];
    if (limit > 0 && this.count[lane] >= limit) {
      res.setHeader("Retry-After", "1");
      sendError(
        res,
        new ApiError("TooManyRequests", "Too many requests, please try again later.", {
          details: { retryAfterSeconds: 1 },
        }),
      );
      req.resume();
      return false;
    }
    this.count[lane]++;
    res.once("close", () => {
      this.count[lane]--;
    });
    return true;
  }
}

const DASHBOARD_STREAM = `${API_PREFIX}/stream`;

/**
 * Which limit a request counts against: `writes` for a method that changes something, `reads`
 * for the others, none for a watch or the dashboard's stream (long-running, as Kubernetes leaves
 * watches out of its limits; their memory is bounded by waiting for their client to read).
 */
function inFlightLane(req: IncomingMessage): "reads" | "writes" | undefined {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") return "writes";
  try {
    const { pathname, query } = requestTarget(req.url);
    if (pathname === DASHBOARD_STREAM) return undefined;
    return booleanParam(query, "watch") === true ? undefined : "reads";
  } catch {
    return "reads"; // answered 400 soon enough
  }
}
