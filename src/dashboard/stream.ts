/**
 * The read API's live stream, `GET /setpoint/v1/stream?view=…`: Server-Sent Events carrying a
 * view's answer at once, then whenever it changes (looked at every {@link STREAM_INTERVAL_MS}),
 * and a comment every {@link STREAM_HEARTBEAT_MS} of quiet so that proxies keep it open. A client
 * that does not read gets no more than one view at a time; closing the server ends every stream.
 */
import type { RequestContext } from "../kubernetes/apiserver/request-context.js";
import { ApiError } from "../model/api-error.js";
import type { Clock, Timer } from "../model/clock.js";

/** How often a stream looks for a change of its view. */
export const STREAM_INTERVAL_MS = 1_000;
/** How often a quiet stream sends a comment, so that proxies keep it open. */
export const STREAM_HEARTBEAT_MS = 15_000;

/** One answer of a stream: the event's type (the view's kind) and its data. */
export interface StreamView {
  readonly type: string;
  readonly body: unknown;
  /** `body` as JSON, when whoever made the view serialized it (once for every stream of it). */
  readonly json?: string;
}

/**
 * `GET /setpoint/v1/stream?view=…`: Server-Sent Events. The view's answer at once, then
 * whenever it changes (looked at every {@link STREAM_INTERVAL_MS}); an error ends the stream
 * with an `error` event holding a Kubernetes Status.
 */
export async function serveStream(
  request: RequestContext,
  view: (spec: string, query: URLSearchParams) => Promise<StreamView>,
  clock: Clock,
  onClose: () => void = () => {},
): Promise<void> {
  const { res, query, server } = request;
  const spec = query.get("view") ?? "overview";
  // Refuse a bad view before the stream begins, as a plain error.
  const first = await view(spec, query);
  res.writeHead(200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
  });
  if (request.method === "HEAD") {
    res.end();
    onClose();
    return;
  }
  let last = "";
  let quietSince = clock.now();
  let timer: Timer | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    timer?.cancel();
    server.openWatches.delete(close);
    res.end();
    onClose();
  };
  server.openWatches.add(close);
  res.once("close", close);
  const write = (view: StreamView) => {
    const json = view.json ?? JSON.stringify(view.body);
    if (json !== last) {
      last = json;
      quietSince = clock.now();
      res.write(`event: ${view.type}\ndata: ${json}\n\n`);
    } else if (clock.now() - quietSince >= STREAM_HEARTBEAT_MS) {
      quietSince = clock.now();
      res.write(": still here\n\n");
    }
  };
  const tick = async () => {
    if (closed) return;
    try {
      // A client that does not read gets no more than one view at a time.
      if (!res.writableNeedDrain) write(await view(spec, query));
    } catch (error) {
      const status = ApiError.is(error)
        ? { code: error.code, reason: error.reason, message: error.message }
        : { code: 500, reason: "InternalError", message: String(error) };
      res.write(`event: error\ndata: ${JSON.stringify(status)}\n\n`);
      close();
      return;
    }
    if (!closed) timer = clock.setTimer(STREAM_INTERVAL_MS, () => void tick());
  };
  write(first);
  timer = clock.setTimer(STREAM_INTERVAL_MS, () => void tick());
}
