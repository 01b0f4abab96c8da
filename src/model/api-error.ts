/**
 * The one error class every backend, client and controller throws for API failures.
 *
 * Reasons and codes follow Kubernetes' `metav1.StatusReason` so that an error crosses the
 * Kubernetes REST API unchanged in both directions.
 */

/** A Kubernetes `StatusReason`, with the HTTP code each one travels with. */
export const statusCodes = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
} as const;

/** Why a request failed; see {@link statusCodes} for the HTTP code of each. */
export type StatusReason = keyof typeof statusCodes;

/** One field-level problem inside an `Invalid` error (Kubernetes' `StatusCause`). */
export interface StatusCause {
  /** The field at fault as a path, e.g. `spec.ports[0].port` or `metadata.labels`. */
  readonly field: string;
  /** What is wrong with it, for people. */
  readonly message: string;
  /** A machine-readable category, e.g. `FieldValueInvalid`, `FieldValueRequired`. */
  readonly reason: string;
}

/** Which object an error is about, when it is about one. */
export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: readonly StatusCause[];
  /** Seconds a client should wait before retrying (`TooManyRequests`, `ServiceUnavailable`). */
  readonly retryAfterSeconds?: number;
}

const retryableReasons: ReadonlySet<StatusReason> = new Set<StatusReason>([
  "Conflict",
  "TooManyRequests",
  "InternalError",
  "ServiceUnavailable",
  "Timeout",
]);

/**
 * A failed API request: `reason` says why, `code` is its HTTP status, `details.causes` name the
 * fields at fault for `Invalid`.
 *
 * `retryable` is true for failures that may succeed if the same request is sent again later
 * (`Conflict` after re-reading the object, `TooManyRequests`, `InternalError`,
 * `ServiceUnavailable`, `Timeout`), false for the rest.
 *
 * @example
 * ```ts
 * try {
 *   await widgets.update(stale);
 * } catch (err) {
 *   if (ApiError.is(err, "Conflict")) {
 *     // re-read and try again
 *   }
 * }
 * ```
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly reason: StatusReason;
  readonly code: number;
  readonly details: StatusDetails | undefined;

  constructor(
    reason: StatusReason,
    message: string,
    options: { details?: StatusDetails; cause?: unknown; code?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.code = options.code ?? statusCodes[reason];
    this.details = options.details;
  }

  /** Whether sending the same request again later may succeed. */
  get retryable(): boolean {
    return retryableReasons.has(this.reason);
  }

  /** Whether `err` is an {@link ApiError}, optionally with the given reason. */
  static is(err: unknown, reason?: StatusReason): err is ApiError {
    return err instanceof ApiError && (reason === undefined || err.reason === reason);
  }

  /** Whether `err` is a 410: a resume point or continue token older than the kept history. */
  static isGone(err: unknown): err is ApiError {
    return err instanceof ApiError && err.code === 410;
  }

  /**
   * Whether `err` is kube-apiserver's "Too large resource version" (504, cause
   * `ResourceVersionTooLarge`): the revision asked for is ahead of the store's, as after a store
   * whose revisions began again (a restart of one in memory). client-go relists on it.
   */
  static isTooLargeResourceVersion(err: unknown): boolean {
    return (
      err instanceof ApiError &&
      err.code === 504 &&
      (err.details?.causes?.some((c) => c.reason === "ResourceVersionTooLarge") === true ||
        err.message.includes("Too large resource version"))
    );
  }
}

/** What an error is about, for the `details` of the common constructors below. */
export interface ErrorSubject {
  readonly group: string;
  readonly kind: string;
  readonly name?: string;
}

function subjectName(subject: ErrorSubject): string {
  const resource = subject.group ? `${subject.kind}.${subject.group}` : subject.kind;
  return subject.name === undefined ? resource : `${resource} "${subject.name}"`;
}

export function notFound(subject: ErrorSubject): ApiError {
  return new ApiError("NotFound", `${subjectName(subject)} not found`, { details: subject });
}

export function alreadyExists(subject: ErrorSubject): ApiError {
  return new ApiError("AlreadyExists", `${subjectName(subject)} already exists`, {
    details: subject,
  });
}

export function conflict(subject: ErrorSubject, why: string): ApiError {
  return new ApiError(
    "Conflict",
    `Operation cannot be fulfilled on ${subjectName(subject)}: ${why}`,
    { details: subject },
  );
}

export function invalid(subject: ErrorSubject, causes: readonly StatusCause[]): ApiError {
  const list = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  return new ApiError("Invalid", `${subjectName(subject)} is invalid: ${list}`, {
    details: { ...subject, causes },
  });
}

export function expired(message: string): ApiError {
  return new ApiError("Expired", message);
}

export function badRequest(message: string): ApiError {
  return new ApiError("BadRequest", message);
}
