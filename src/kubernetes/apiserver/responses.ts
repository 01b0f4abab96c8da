/**
 * Writing responses: JSON bodies, `Status` errors, and lists written a chunk at a time as fast as
 * their client reads them.
 */
import type { ServerResponse } from "node:http";
import type { Clock, Timer } from "../../model/clock.js";
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

/** How long a client may take nothing of a response, on which clock. */
export interface Stall {
  readonly clock: Clock;
  readonly ms: number;
}

/**
 * How many bytes of `res` the kernel has taken so far: what the socket handed its handle, less
 * what the handle still queues (a large write is taken part by part as the client reads). From
 * Node's socket internals (`_bytesDispatched`, the handle's `writeQueueSize`, both in Node 20 to
 * 24); without them, `undefined`, and only the time counts.
 */
function taken(res: ServerResponse): number | undefined {
  const socket = res.socket as
    | (NonNullable<ServerResponse["socket"]> & {
        _bytesDispatched?: number;
        _handle?: { writeQueueSize?: number } | null;
      })
    | null;
  const dispatched = socket?._bytesDispatched;
  const queued = socket?._handle?.writeQueueSize;
  return dispatched === undefined || queued === undefined ? undefined : dispatched - queued;
}

/**
 * Calls `stalled` once the client of `res` has taken nothing of it for `stall.ms`: checked every
 * `stall.ms`, and any byte taken since the last check starts the time again — a client that
 * reads slowly but reads is not stalled.
 */
export function onStall(res: ServerResponse, stall: Stall, stalled: () => void): Timer {
  let before = taken(res);
  let timer: Timer;
  const check = () => {
    const now = taken(res);
    if (now === undefined || before === undefined || now <= before) return stalled();
    before = now;
    timer = stall.clock.setTimer(stall.ms, check);
  };
  timer = stall.clock.setTimer(stall.ms, check);
  return { cancel: () => timer.cancel() };
}

/**
 * Resolves when `res` can take more, or when `signal` aborts (the client went away): `true`.
 * With `stall`, resolves `false` if the client took nothing for `stall.ms` ({@link onStall}).
 */
export function drained(res: ServerResponse, signal: AbortSignal, stall?: Stall): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(true);
    const finish = (moved: boolean) => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      timer?.cancel();
      resolve(moved);
    };
    const done = () => finish(true);
    const timer = stall === undefined ? undefined : onStall(res, stall, () => finish(false));
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
