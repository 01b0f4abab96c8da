/**
 * A kind's objects as Kubernetes Tables, kept live: list with `as=Table`, then watch from the
 * list's resourceVersion with the same Accept. A 410 (Expired), any ERROR event, or the stream
 * ending: list again and watch again. A 429: again after its Retry-After. Any other 4xx but 401
 * (a bad label selector, a kind gone) is the request's fault, not the connection's: the watch
 * stops, and only a new request (new input) asks again. Events are handed over as they arrive;
 * the page batches them per animation frame.
 */
import { reportConnection } from "./connection.js";
import { HttpError, isAbort, isRefused, lines, request, sleep, Unauthorized } from "./http.js";

export const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io";

export interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly priority: number;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
}

export interface TableRow {
  readonly cells: readonly unknown[];
  readonly object: { readonly metadata: ObjectMeta };
}

export interface Table {
  readonly columnDefinitions: readonly ColumnDefinition[];
  readonly rows: readonly TableRow[] | null;
  readonly metadata: { readonly resourceVersion?: string };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface TableWatchHandlers {
  /** A fresh list: replaces all rows. */
  listed(table: Table): void;
  event(type: WatchEventType, row: TableRow): void;
  /**
   * A failure to list or watch, or `undefined` once it works again. `final`: the server refused
   * the request (a 4xx), and the watch has stopped; otherwise it is retried.
   */
  failed(error: Error | undefined, final?: boolean): void;
}

/** The path of a kind's collection: `/api/v1/…` for core, `/apis/{group}/{version}/…`. */
export function collectionPath(
  group: string,
  version: string,
  plural: string,
  namespace?: string,
): string {
  const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${plural}`;
}

/** Lists and watches `path` (with `query`, e.g. a labelSelector) until `signal` aborts. */
export async function watchTable(
  path: string,
  query: Record<string, string>,
  handlers: TableWatchHandlers,
  signal: AbortSignal,
): Promise<void> {
  let delay = 250;
  const self = {};
  signal.addEventListener("abort", () => reportConnection(self, true), { once: true });
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const list = new URLSearchParams(query);
      const listed = await request(`${path}?${list}`, { accept: TABLE_ACCEPT, signal });
      const table = (await listed.json()) as Table;
      handlers.listed(table);
      handlers.failed(undefined);
      const watch = new URLSearchParams({
        ...query,
        watch: "1",
        allowWatchBookmarks: "true",
        ...(table.metadata.resourceVersion
          ? { resourceVersion: table.metadata.resourceVersion }
          : {}),
      });
      const response = await request(`${path}?${watch}`, { accept: TABLE_ACCEPT, signal });
      reportConnection(self, true);
      for await (const line of lines(response)) {
        if (line.trim() === "") continue;
        const event = JSON.parse(line) as { type: string; object: Table };
        if (event.type === "ERROR") break;
        if (event.type === "BOOKMARK") continue;
        for (const row of event.object.rows ?? []) {
          handlers.event(event.type as WatchEventType, row);
        }
      }
      delay = 250;
    } catch (error) {
      if (isAbort(error) || signal.aborted || error instanceof Unauthorized) return;
      if (isRefused(error)) {
        reportConnection(self, true);
        handlers.failed(error, true);
        return;
      }
      if (error instanceof HttpError && error.status === 429) {
        handlers.failed(error);
        await sleep(error.retryAfterMs ?? delay, signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
      // A 410 (Expired) only asks for a new list; the connection is fine.
      if (!(error instanceof HttpError && error.status === 410)) {
        reportConnection(self, false);
        handlers.failed(error instanceof Error ? error : new Error(String(error)));
        delay = Math.min(delay * 2, 10_000);
      }
    }
    // Relist at once after a long watch; not in a hot loop when the server keeps ending it.
    await sleep(Date.now() - started > 5_000 ? 0 : delay, signal);
  }
}
