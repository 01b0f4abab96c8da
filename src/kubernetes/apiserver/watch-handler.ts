/**
 * Watches, as the Kubernetes API server serves them: chunked JSON lines, one `{type, object}`
 * a line; initial events for a watch from no revision (or `sendInitialEvents=true`, ending in a
 * bookmark), resume from a revision, bookmarks when allowed, `timeoutSeconds` (the server's
 * default when none), and an error (410 `Expired`) as an `ERROR` event.
 *
 * Guarantees: everything a watch could fail on is checked before its 200 goes out
 * ({@link watchRequestOf}); a client that reads slower than changes come is written to only as
 * fast as it reads, and one that reads nothing for `watchStallTimeoutMs` while there is more to
 * send is closed (as kube-apiserver closes a watcher that cannot keep up); the watch ends when
 * its client goes, its time is up, or the server closes.
 */
import type { ServerResponse } from "node:http";
import type { ListOptions, StoredObject, WatchEvent } from "../../backend/backend.js";
import { badRequest } from "../../model/api-error.js";
import { keyOf, keyString } from "../../model/resource.js";
import {
  type FieldSelector,
  parseFieldSelector,
  parseLabelSelector,
} from "../../model/selector.js";
import { listPages } from "../list-pages.js";
import type { ResourceRequest } from "./request-context.js";
import {
  booleanParam,
  forbidden,
  integerParam,
  invalidOptions,
  notSupported,
} from "./request-options.js";
import { drained, onStall } from "./responses.js";
import { asApiError, statusOf } from "./status.js";
import { wantsTable } from "./table.js";

/** What a watch asks for, checked. */
export interface WatchRequest {
  readonly resourceVersion: string;
  readonly timeoutSeconds: number | undefined;
  readonly allowWatchBookmarks: boolean;
  readonly sendInitialEvents: boolean | undefined;
}

/** Which objects a watch sends. */
export interface WatchScope {
  /** What the store selects on. */
  readonly listOptions: ListOptions;
  /**
   * The part of a field selector the store cannot check (an Event's `reason`): the server
   * checks it on each object as served, and — as Kubernetes does for a selector — an object
   * that stops matching arrives as DELETED, one that starts matching as ADDED.
   */
  readonly filter: ((object: StoredObject) => boolean) | undefined;
  /**
   * Objects served beside the stored ones (the modules' CRDs): sent as ADDED with the initial
   * events, and stored objects of their names are not sent.
   */
  readonly alsoServed?: ReadonlyMap<string, StoredObject>;
}

/** The longest a timer can wait (about 24.8 days); longer ones would fire at once. */
const maxTimerSeconds = 2_147_483;

/**
 * The options of a watch, checked as Kubernetes checks them before it starts the stream: a
 * malformed `resourceVersion`, selector or `timeoutSeconds` is BadRequest; `sendInitialEvents`
 * needs `resourceVersionMatch=NotOlderThan`, which is allowed with nothing else (Invalid).
 */
export function watchRequestOf(
  query: URLSearchParams,
  selectable: readonly string[],
): WatchRequest {
  const sendInitialEvents = booleanParam(query, "sendInitialEvents");
  const match = query.get("resourceVersionMatch") ?? "";
  const causes = [];
  if (sendInitialEvents !== undefined && match !== "NotOlderThan")
    causes.push(
      forbidden(
        "resourceVersionMatch",
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
      ),
    );
  if (match !== "") {
    if (sendInitialEvents === undefined)
      causes.push(
        forbidden(
          "resourceVersionMatch",
          "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
      );
    if (match !== "NotOlderThan")
      causes.push(notSupported("resourceVersionMatch", match, ["NotOlderThan"]));
  }
  if (causes.length > 0) throw invalidOptions("ListOptions", causes);
  const resourceVersion = query.get("resourceVersion") ?? "";
  if (resourceVersion !== "" && !/^[0-9]+$/.test(resourceVersion))
    throw badRequest(
      `invalid resourceVersion ${JSON.stringify(resourceVersion)}: must be a decimal revision`,
    );
  const labelSelector = query.get("labelSelector");
  if (labelSelector) parseLabelSelector(labelSelector);
  const fieldSelector = query.get("fieldSelector");
  if (fieldSelector) parseFieldSelector(fieldSelector, selectable);
  return {
    resourceVersion,
    timeoutSeconds: integerParam(query, "timeoutSeconds"),
    allowWatchBookmarks: booleanParam(query, "allowWatchBookmarks") === true,
    sendInitialEvents,
  };
}

/** Serves a watch of the request's collection, `scope` selecting, as `watch` asks. */
export async function serveWatch(
  request: ResourceRequest,
  scope: WatchScope,
  watch: WatchRequest,
): Promise<void> {
  const { req, res, server, served } = request;
  const { listOptions, filter, alsoServed } = scope;
  const kind = served.kind;
  const stop = new AbortController();
  const onClose = () => stop.abort();
  req.once("close", onClose);
  res.once("close", onClose);
  server.openWatches.add(onClose);
  // As Kubernetes: no timeout or 0 is the server's default; a negative one ends at once.
  const timeoutSeconds =
    watch.timeoutSeconds === undefined || watch.timeoutSeconds === 0
      ? server.defaultWatchTimeoutSeconds
      : watch.timeoutSeconds;
  const timer = server.clock.setTimer(
    Math.min(Math.max(0, timeoutSeconds), maxTimerSeconds) * 1000,
    onClose,
  );
  const stall = { clock: server.clock, ms: server.watchStallTimeoutMs };
  /**
   * Closes a watch its client stopped reading: the response ends after what it holds (a client
   * that reads again gets it, then the end, and watches again); if the client still reads
   * nothing for as long again, the connection is dropped, and with it what it holds.
   */
  const stalled = () => {
    const drop = onStall(res, stall, () => res.destroy());
    res.once("finish", () => drop.cancel());
    res.once("close", () => drop.cancel());
  };
  const table = wantsTable(request.accept);
  let headersSent = false;
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
  // Clients wait for the headers before they treat the watch as started: send them now.
  res.flushHeaders();
  // The first event of a turn of the event loop goes out at once, the ones after it in that turn
  // as one chunk: a burst costs a write per turn, not one (and a chunk header) per event.
  const out = new Coalescer(res);
  const write = (event: { type: string; object: unknown }) =>
    out.write(`${JSON.stringify(event)}\n`);
  const bookmark = (metadata: Record<string, unknown>) =>
    write({
      type: "BOOKMARK",
      object: { kind: kind.kind, apiVersion: kind.apiVersion, metadata },
    });
  /** The keys of objects sent as matching a server-checked selector, to send their leaving. */
  const matching = new Set<string>();
  /** Whether `matching` holds every match (initial events were sent), not just those seen. */
  let knowsAll = false;
  const writeObject = (type: string, stored: StoredObject) => {
    if (alsoServed?.has(stored.metadata.name) && stored !== alsoServed.get(stored.metadata.name))
      return;
    const object = served.toServed(stored);
    if (filter !== undefined) {
      const id = keyString(keyOf(object));
      if (!filter(object)) {
        if (type === "DELETED" || !matching.delete(id)) return;
        type = "DELETED";
      } else if (type === "DELETED") matching.delete(id);
      else {
        if (type === "MODIFIED" && knowsAll && !matching.has(id)) type = "ADDED";
        matching.add(id);
      }
    }
    if (table) {
      const { metadata, columnDefinitions, rows } = served.table(
        [object],
        { resourceVersion: object.metadata.resourceVersion },
        server.clock.wallNow(),
      ) as { metadata: unknown; columnDefinitions: unknown; rows: unknown };
      // As kube-apiserver: the column definitions go with the first event only (later events
      // are Tables with `NoHeaders`, their definitions null), which halves a Table watch.
      const headers = headersSent ? "null" : JSON.stringify(columnDefinitions);
      headersSent = true;
      out.write(
        `{"type":"${type}","object":{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":${JSON.stringify(metadata)},"columnDefinitions":${headers},"rows":${JSON.stringify(rows)}}}\n`,
      );
    } else if (served.view) write({ type, object });
    else out.write(`{"type":"${type}","object":${server.recentJson.of(object)}}\n`);
  };
  try {
    let resourceVersion: string | undefined = watch.resourceVersion;
    const legacyStart = resourceVersion === "" || resourceVersion === "0";
    // Kubernetes starts a watch from no resourceVersion or "0" with the current state as
    // ADDED events, and any watch that asks with sendInitialEvents=true.
    if (watch.sendInitialEvents ?? legacyStart) {
      for await (const page of listPages(server.backend, served.storage, listOptions)) {
        for (const object of page.items) {
          // As for the events after them: a client that does not read is not buffered for
          // (five such clients of a hundred 1 MB objects held 1 GB), and is closed once stalled.
          if (out.needsDrain && !(await drained(res, stop.signal, stall))) return stalled();
          if (stop.signal.aborted) return;
          writeObject("ADDED", object);
        }
        resourceVersion = page.resourceVersion;
      }
      const labels =
        listOptions.labelSelector === undefined
          ? undefined
          : parseLabelSelector(String(listOptions.labelSelector));
      const fields = listOptions.fieldSelector as FieldSelector | undefined;
      for (const object of alsoServed?.values() ?? [])
        if (
          (labels === undefined || labels.matches(object.metadata.labels)) &&
          (fields === undefined || fields.matches(object.metadata))
        )
          writeObject("ADDED", object);
      knowsAll = true;
      if (watch.sendInitialEvents === true && watch.allowWatchBookmarks)
        bookmark({ resourceVersion, annotations: { "k8s.io/initial-events-end": "true" } });
    } else if (legacyStart) resourceVersion = undefined; // from now on
    const events = server.backend.watch(served.storage, {
      ...listOptions,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      allowBookmarks: watch.allowWatchBookmarks,
      ...(server.bookmarkIntervalMs === undefined
        ? {}
        : { bookmarkIntervalMs: server.bookmarkIntervalMs }),
      signal: stop.signal,
    });
    for await (const event of events as AsyncIterable<WatchEvent>) {
      // A client that reads slower than changes come is not buffered for without bound: the
      // watch (which reads the history lazily) holds this event until the socket drains — and
      // a client that reads nothing for the stall time while there is more to send is closed.
      if (out.needsDrain && !(await drained(res, stop.signal, stall))) return stalled();
      if (stop.signal.aborted) break;
      if (event.type === "BOOKMARK") bookmark({ resourceVersion: event.resourceVersion });
      else writeObject(event.type, event.object);
    }
  } catch (error) {
    if (!res.writableEnded) write({ type: "ERROR", object: statusOf(asApiError(error)) });
    out.flush();
  } finally {
    timer.cancel();
    req.off("close", onClose);
    server.openWatches.delete(onClose);
    out.flush();
    if (!res.writableEnded) res.end();
  }
}

/** How much a watch holds back before it writes without waiting for the end of the turn. */
const coalesceBytes = 64 * 1024;

/**
 * Writes lines to a response: the first line of a turn of the event loop at once (a lone event
 * goes out as it happens, as kube-apiserver flushes each), the lines that follow it in the same
 * turn together when the turn ends (or once {@link coalesceBytes} are held) — so that a burst
 * costs a write per turn, not one (and a chunk header) per event. (Holding back the first line
 * too made kubectl's `get -w` now and then miss the first event's row: 1 in 25 under load.)
 */
class Coalescer {
  private pending = "";
  private scheduled = false;

  constructor(private readonly res: ServerResponse) {}

  write(line: string): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
      if (!this.res.writableEnded) this.res.write(line);
      return;
    }
    this.pending += line;
    if (this.pending.length >= coalesceBytes) this.flush();
  }

  /** Whether the response's buffer is full: the writer should wait for it to drain. */
  get needsDrain(): boolean {
    return this.res.writableNeedDrain;
  }

  flush(): void {
    if (this.pending === "") return;
    if (!this.res.writableEnded) this.res.write(this.pending);
    this.pending = "";
  }

  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };
}
