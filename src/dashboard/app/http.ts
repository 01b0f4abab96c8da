/**
 * Requests to the server that serves the app: the bearer token kept in sessionStorage on every
 * request, a 401 reported once to whoever shows the login form, and Kubernetes `Status` errors
 * turned into messages.
 */

/** Where the token is kept between reloads of the tab. */
export const TOKEN_KEY = "setpoint-token";

/** The server refused the token (or wants one). */
export class Unauthorized extends Error {
  override readonly name = "Unauthorized";
}

/** Any other answer that is not 2xx. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    /** A 429's or 503's `Retry-After`, in milliseconds, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Whether asking again cannot help: a 4xx other than 401 (sign in), 410 (list again) and 429
 * (wait and retry). A bad label selector is one; asking again only fills the console with 400s.
 */
export function isRefused(error: unknown): error is HttpError {
  return (
    error instanceof HttpError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 401 &&
    error.status !== 410 &&
    error.status !== 429
  );
}

/**
 * What a failure says to a person: the server's Status message, or that it is unreachable (and
 * whether the page is `retrying` on its own).
 */
export function failureText(error: unknown, retrying = true): string {
  // fetch rejects with a TypeError ("Failed to fetch") when the server cannot be reached.
  if (error instanceof TypeError) {
    return retrying ? "Cannot reach the server (retrying…)" : "Cannot reach the server";
  }
  return error instanceof Error ? error.message : String(error);
}

let unauthorized: () => void = () => {};

/** Sets what happens on a 401: the app shows its login form. */
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** The headers of a request, with the token when one is kept. */
export function headers(extra: Record<string, string> = {}, token = storedToken()): Headers {
  const all = new Headers(extra);
  if (token) all.set("Authorization", `Bearer ${token}`);
  return all;
}

async function errorOf(response: Response): Promise<HttpError> {
  let message = `${response.status} ${response.statusText}`;
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === "string" && body.message !== "") message = body.message;
  } catch {
    // Not JSON: keep the status line.
  }
  return new HttpError(
    response.status,
    message,
    Number.isNaN(retryAfter) ? undefined : retryAfter * 1000,
  );
}

/**
 * Fetches `path` with the token. Throws {@link Unauthorized} on a 401 (after telling the app) and
 * {@link HttpError} on any other failure status.
 */
export async function request(
  path: string,
  init: { method?: string; accept?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  const response = await fetch(path, {
    method: init.method ?? "GET",
    headers: headers({ Accept: init.accept ?? "application/json" }),
    signal: init.signal ?? null,
    cache: "no-store",
  });
  if (response.status === 401) {
    await response.body?.cancel().catch(() => {});
    unauthorized();
    throw new Unauthorized("the token was refused");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson<T>(
  path: string,
  signal?: AbortSignal,
  accept = "application/json",
): Promise<T> {
  const response = await request(path, { accept, ...(signal ? { signal } : {}) });
  return (await response.json()) as T;
}

export async function postJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await request(path, { method: "POST", ...(signal ? { signal } : {}) });
  return (await response.json()) as T;
}

/** The lines of a streamed body, as they arrive. */
export async function* lines(response: Response): AsyncGenerator<string> {
  if (response.body === null) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        yield buffered.slice(0, newline).replace(/\r$/, "");
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
    }
    if (buffered !== "") yield buffered;
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Whether an error only says the request was cancelled on purpose. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
