/**
 * The read API's live views (`GET /setpoint/v1/stream?view=…`, Server-Sent Events), read with
 * `fetch` so the bearer token goes along (EventSource cannot send it). The stream is opened again
 * with backoff whenever it ends or fails; a 429 after its Retry-After. A 401 ends it for good
 * (the app asks for a token), and so does any other 4xx but 410: the view is refused (a
 * controller that does not exist), and asking again cannot help.
 */
import { API_PREFIX } from "../types.js";
import { reportConnection } from "./connection.js";
import { HttpError, isAbort, isRefused, lines, request, sleep, Unauthorized } from "./http.js";

/** What the subscriber hears: each view's answer, and whether the stream is up. */
export interface StreamHandlers<T> {
  data(value: T): void;
  connected?(up: boolean): void;
  /** The server refused the view (a 4xx): the stream has stopped. */
  refused?(error: HttpError): void;
}

/**
 * Subscribes to `view` (`overview`, `controller/{name}`, `key/{name}/{encodedKey}`, the key
 * URL-encoded as one segment) until `signal` aborts. The view is encoded once more as the query
 * parameter's value.
 */
export async function subscribe<T>(
  view: string,
  handlers: StreamHandlers<T>,
  signal: AbortSignal,
): Promise<void> {
  let delay = 500;
  const self = {};
  signal.addEventListener("abort", () => reportConnection(self, true), { once: true });
  while (!signal.aborted) {
    try {
      const response = await request(`${API_PREFIX}/stream?view=${encodeURIComponent(view)}`, {
        accept: "text/event-stream",
        signal,
      });
      handlers.connected?.(true);
      reportConnection(self, true);
      let data: string[] = [];
      let event = "message";
      for await (const line of lines(response)) {
        if (line === "") {
          // An `error` event (a Kubernetes Status) ends the stream: open it again later.
          if (data.length > 0 && event !== "error") {
            handlers.data(JSON.parse(data.join("\n")) as T);
            delay = 500;
          }
          data = [];
          event = "message";
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line[5] === " " ? 6 : 5));
        } else if (line.startsWith("event:")) {
          event = line.slice(6).trim();
        }
        // Comments (`:`) only keep the stream open.
      }
    } catch (error) {
      if (isAbort(error) || signal.aborted || error instanceof Unauthorized) return;
      if (isRefused(error)) {
        reportConnection(self, true);
        handlers.refused?.(error);
        return;
      }
      if (error instanceof HttpError && error.status === 429) {
        // Too many streams: not a lost connection; wait as the server asks.
        await sleep(error.retryAfterMs ?? delay, signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
    }
    handlers.connected?.(false);
    if (!signal.aborted) reportConnection(self, false);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10_000);
  }
}
