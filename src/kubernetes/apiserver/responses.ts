/**
 * Writing responses: JSON bodies, `Status` errors, and lists written a chunk at a time as fast as
 * their client reads them.
 */
import type { ServerResponse } from "node:http";
import type { Clock } from "../../model/clock.js";
import { asApiError, statusOf } from "./status.js";

/** Sends `body` as JSON with status `code`. */
export function send(res: ServerResponse, code: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(json),
  });
  res.end(json);
}

/** Sends any thrown value as a `Status`; a response already begun is ended instead. */
export function sendError(res: ServerResponse, error: unknown): void {
  const apiError = asApiError(error);
  if (res.headersSent) {
    res.end();
    return;
  }
  send(res, apiError.code, statusOf(apiError));
}

/** How much of a list is put together before it is written. */
const listChunkBytes = 64 * 1024;

/**
 * Sends a list (`head` and its `items`) as it is serialized, a chunk at a time, waiting for the
 * client to read whenever the socket's buffer is full: a client that never reads holds a chunk
 * of the list, not the whole of it (a hundred 1 MB objects, five such clients: 500 MB).
 */
export async function sendList(
  res: ServerResponse,
  head: Record<string, unknown>,
  items: readonly unknown[],
): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once("close", onClose);
  try {
    res.writeHead(200, { "Content-Type": "application/json" });
    // `{…,"items":[]}` without its closing `]}`.
    let chunk = JSON.stringify({ ...head, items: [] }).slice(0, -2);
    for (let i = 0; i < items.length; i++) {
      chunk += (i === 0 ? "" : ",") + JSON.stringify(items[i]);
      if (chunk.length < listChunkBytes) continue;
      res.write(chunk);
      chunk = "";
      if (res.writableNeedDrain) await drained(res, gone.signal);
      if (gone.signal.aborted) return;
    }
    res.end(`${chunk}]}`);
  } finally {
    res.off("close", onClose);
  }
}

/**
 * Resolves when `res` can take more, or when `signal` aborts (the client went away): `true`.
 * With `stall`, resolves `false` if neither happened within `stall.ms` on `stall.clock` — the
 * client read nothing for that long.
 */
export function drained(
  res: ServerResponse,
  signal: AbortSignal,
  stall?: { readonly clock: Clock; readonly ms: number },
): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(true);
    const finish = (moved: boolean) => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      timer?.cancel();
      resolve(moved);
    };
    const done = () => finish(true);
    const timer = stall?.clock.setTimer(stall.ms, () => finish(false));
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
