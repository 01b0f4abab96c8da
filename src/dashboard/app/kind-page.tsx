// biome-ignore-all lint/a11y/useSemanticElements: a virtualised grid positions its rows itself; table elements cannot
// biome-ignore-all lint/a11y/useFocusableInteractive: the grid is reached through the links and buttons in its cells
/**
 * `#/kind/{group}/{version}/{plural}`: a kind's objects, straight from the Kubernetes API as
 * Tables (list, then watch), in a virtualised grid: a fixed row height and only the rows in view
 * (plus a few) in the DOM, so ten thousand objects render at once and scroll smoothly. Watch
 * events are applied in batches, once per animation frame.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Overview } from "../types.js";
import { ageOf, plural } from "./format.js";
import { useNow } from "./hooks.js";
import { failureText, getJson, isAbort } from "./http.js";
import {
  applyEvents,
  cellText,
  type GridColumn,
  gridColumns,
  type KindRow,
  rowsOfTable,
  type Sort,
  visibleRows,
} from "./kind-rows.js";
import { type KindQuery, kindHref, objectHref } from "./route.js";
import {
  type ColumnDefinition,
  collectionPath,
  type TableRow,
  type WatchEventType,
  watchTable,
} from "./table-watch.js";

/** The height of one row, in pixels: the grid's arithmetic depends on it being fixed. */
const ROW_HEIGHT = 30;
/** Rows drawn beyond the visible ones, above and below. */
const OVERSCAN = 12;

function useNamespaces(enabled: boolean): string[] {
  const [namespaces, setNamespaces] = useState<string[]>([]);
  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    getJson<{ items: { metadata: { name: string } }[] }>("/api/v1/namespaces", controller.signal)
      .then((list) => setNamespaces(list.items.map((item) => item.metadata.name).sort()))
      .catch(() => {});
    return () => controller.abort();
  }, [enabled]);
  return namespaces;
}

/** Waits until `value` has not changed for `ms` before answering it. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function KindPage({
  group,
  version,
  plural: resource,
  query,
  overview,
}: {
  group: string;
  version: string;
  plural: string;
  /** The filters the route starts with; the page keeps the route's query in step with them. */
  query: KindQuery;
  overview: Overview | undefined;
}) {
  const summary = overview?.kinds.find(
    (k) => k.group === group && k.version === version && k.plural === resource,
  );
  const kind = summary?.kind ?? resource;
  const namespaced = summary?.namespaced ?? true;
  const namespaces = useNamespaces(namespaced);
  const [namespace, setNamespace] = useState(query.namespace);
  const [selectorText, setSelectorText] = useState(query.selector);
  const selector = useSettled(selectorText.trim(), 300);
  const [filter, setFilter] = useState(query.filter);
  const [sort, setSort] = useState<Sort | undefined>(query.sort);
  const [definitions, setDefinitions] = useState<readonly ColumnDefinition[]>([]);
  const rows = useRef(new Map<string, KindRow>());
  const [generation, setGeneration] = useState(0);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  // The server refused the request (a bad label selector): nothing loads until the input changes.
  const [refused, setRefused] = useState(false);

  // The filters go into the route's query, so a reload or a shared link keeps them. Replacing
  // the history entry fires no hashchange: the page is not built again.
  useEffect(() => {
    const href = kindHref(
      { group, version, plural: resource },
      { namespace, selector: selectorText.trim(), filter, ...(sort ? { sort } : {}) },
    );
    if (location.hash !== href) history.replaceState(history.state, "", href);
  }, [group, version, resource, namespace, selectorText, filter, sort]);

  useEffect(() => {
    const controller = new AbortController();
    let pending: { type: WatchEventType; row: TableRow }[] = [];
    let frame: number | undefined;
    const flush = () => {
      frame = undefined;
      if (controller.signal.aborted || pending.length === 0) return;
      applyEvents(rows.current, pending);
      pending = [];
      setGeneration((n) => n + 1);
    };
    rows.current = new Map();
    setLoaded(false);
    setRefused(false);
    setError(undefined);
    setGeneration((n) => n + 1);
    void watchTable(
      collectionPath(group, version, resource, namespace || undefined),
      selector === "" ? {} : { labelSelector: selector },
      {
        listed(table) {
          pending = [];
          rows.current = rowsOfTable(table);
          setDefinitions((known) =>
            JSON.stringify(known) === JSON.stringify(table.columnDefinitions)
              ? known
              : table.columnDefinitions,
          );
          setLoaded(true);
          setGeneration((n) => n + 1);
        },
        event(type, row) {
          pending.push({ type, row });
          frame ??= requestAnimationFrame(flush);
        },
        failed(failure, final) {
          setError(failure === undefined ? undefined : failureText(failure));
          if (final) setRefused(true);
        },
      },
      controller.signal,
    ).catch((failure) => {
      if (!isAbort(failure)) setError(failureText(failure));
    });
    return () => {
      controller.abort();
      if (frame !== undefined) cancelAnimationFrame(frame);
    };
  }, [group, version, resource, namespace, selector]);

  const columns = useMemo(
    () => gridColumns(definitions, namespaced && namespace === ""),
    [definitions, namespaced, namespace],
  );
  const shown = useMemo(
    () => visibleRows(rows.current, columns, filter, sort),
    [generation, columns, filter, sort],
  );

  return (
    <>
      <h1>{kind}</h1>
      <div class="toolbar">
        {namespaced && (
          <select
            aria-label="Namespace"
            value={namespace}
            onChange={(event) => setNamespace(event.currentTarget.value)}
          >
            <option value="">All namespaces</option>
            {namespaces.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        )}
        <input
          aria-label="Label selector"
          placeholder="Label selector (app=web,tier!=db)"
          value={selectorText}
          onInput={(event) => setSelectorText(event.currentTarget.value)}
          spellcheck={false}
        />
        <input
          type="search"
          aria-label="Filter"
          placeholder="Filter"
          value={filter}
          onInput={(event) => setFilter(event.currentTarget.value)}
        />
        <span role="status" class="count">
          {refused ? "" : loaded ? plural(shown.length, "object") : "Loading objects…"}
        </span>
      </div>
      {error !== undefined && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {/* Refused (a bad label selector): no grid of nothing under the server's message. */}
      {!refused && (
        <VirtualGrid
          label={`${kind} objects`}
          columns={columns}
          rows={shown}
          sort={sort}
          onSort={(column) =>
            setSort((current) =>
              current?.column === column
                ? { column, descending: !current.descending }
                : { column, descending: false },
            )
          }
          hrefOf={(row) =>
            objectHref({
              group,
              version,
              plural: resource,
              namespace: row.namespace,
              name: row.name,
            })
          }
        />
      )}
    </>
  );
}

function templateOf(columns: readonly GridColumn[]): string {
  return columns
    .map((column, index) =>
      index === 0
        ? "minmax(14em, 3fr)"
        : column.age
          ? "minmax(5em, 0.6fr)"
          : column.numeric
            ? "minmax(5em, 0.7fr)"
            : "minmax(7em, 1.5fr)",
    )
    .join(" ");
}

function VirtualGrid({
  label,
  columns,
  rows,
  sort,
  onSort,
  hrefOf,
}: {
  label: string;
  columns: readonly GridColumn[];
  rows: readonly KindRow[];
  sort: Sort | undefined;
  onSort: (column: string) => void;
  hrefOf: (row: KindRow) => string | undefined;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  const now = useNow();

  useEffect(() => {
    const element = scroller.current;
    if (element === null) return;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    setViewport(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const template = templateOf(columns);

  const body = [];
  for (let i = first; i < last; i++) {
    const row = rows[i]!;
    const href = hrefOf(row);
    body.push(
      <div
        key={row.key}
        role="row"
        aria-rowindex={i + 2}
        class={`grid-row${row.terminating ? " terminating" : ""}`}
        style={{ top: `${i * ROW_HEIGHT}px` }}
      >
        {columns.map((column, index) => {
          const value =
            column.source === "namespace"
              ? (row.namespace ?? "")
              : column.age && !Number.isNaN(row.created)
                ? ageOf(row.created, now)
                : cellText(row.cells[column.source]);
          return (
            <div
              key={column.name}
              role="gridcell"
              class={`cell${column.numeric ? " num" : ""}`}
              title={value}
            >
              {index === 0 && href !== undefined ? <a href={href}>{value}</a> : value}
              {index === 0 && row.terminating ? <span class="tag warn"> Terminating</span> : null}
            </div>
          );
        })}
      </div>,
    );
  }

  return (
    <div
      ref={scroller}
      role="grid"
      aria-label={label}
      aria-rowcount={rows.length + 1}
      aria-colcount={columns.length}
      class="grid"
      style={{ "--columns": template }}
      onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
    >
      <div role="row" aria-rowindex={1} class="grid-row grid-header">
        {columns.map((column) => {
          const sorted = sort?.column === column.name;
          const direction = sorted ? (sort.descending ? "descending" : "ascending") : "none";
          return (
            <div
              key={column.name}
              role="columnheader"
              aria-sort={direction}
              class={`cell${column.numeric ? " num" : ""}`}
            >
              <button type="button" onClick={() => onSort(column.name)}>
                {column.name}
              </button>
            </div>
          );
        })}
      </div>
      <div role="rowgroup" class="grid-body" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {body}
      </div>
    </div>
  );
}
