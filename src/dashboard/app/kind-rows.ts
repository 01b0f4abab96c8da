/**
 * A kind's rows as the kind page holds them: keyed by namespace/name, changed by watch events
 * in batches, then filtered and sorted for the grid. Pure: no DOM, no I/O.
 */
import type { ColumnDefinition, Table, TableRow, WatchEventType } from "./table-watch.js";

/** One row with what filtering and sorting need, computed once. */
export interface KindRow {
  readonly key: string;
  readonly name: string;
  readonly namespace: string | undefined;
  readonly cells: readonly unknown[];
  /** Epoch milliseconds of creationTimestamp (NaN when absent). */
  readonly created: number;
  readonly terminating: boolean;
  /** Lower-case text of every cell, for the filter. */
  readonly text: string;
}

export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.map(cellText).join(", ");
  return JSON.stringify(value);
}

export function kindRowOf(row: TableRow): KindRow {
  const meta = row.object.metadata;
  const namespace = meta.namespace || undefined;
  return {
    key: namespace ? `${namespace}/${meta.name}` : meta.name,
    name: meta.name,
    namespace,
    cells: row.cells,
    created: meta.creationTimestamp ? Date.parse(meta.creationTimestamp) : Number.NaN,
    terminating: meta.deletionTimestamp !== undefined,
    text: `${namespace ?? ""} ${row.cells.map(cellText).join(" ")}`.toLowerCase(),
  };
}

/** The rows of a fresh list. */
export function rowsOfTable(table: Table): Map<string, KindRow> {
  const rows = new Map<string, KindRow>();
  for (const row of table.rows ?? []) {
    const kindRow = kindRowOf(row);
    rows.set(kindRow.key, kindRow);
  }
  return rows;
}

/** Applies a batch of watch events to `rows` in place. */
export function applyEvents(
  rows: Map<string, KindRow>,
  events: readonly { type: WatchEventType; row: TableRow }[],
): void {
  for (const { type, row } of events) {
    const kindRow = kindRowOf(row);
    if (type === "DELETED") rows.delete(kindRow.key);
    else rows.set(kindRow.key, kindRow);
  }
}

/** A column of the grid: the Table's, plus Namespace when several namespaces show. */
export interface GridColumn {
  readonly name: string;
  /** Index in the Table's cells; `namespace` for the added column. */
  readonly source: number | "namespace";
  readonly type: string;
  /** Ages are drawn from creationTimestamp, so they count up live. */
  readonly age: boolean;
  readonly numeric: boolean;
}

/** The columns to show: priority-0 ones (as kubectl without -o wide), Namespace after Name. */
export function gridColumns(
  definitions: readonly ColumnDefinition[],
  withNamespace: boolean,
): GridColumn[] {
  const columns: GridColumn[] = [];
  definitions.forEach((definition, index) => {
    if (definition.priority > 0) return;
    columns.push({
      name: definition.name,
      source: index,
      type: definition.type,
      age: definition.type === "date" && definition.name === "Age",
      numeric: definition.type === "integer" || definition.type === "number",
    });
    if (index === 0 && withNamespace) {
      columns.push({
        name: "Namespace",
        source: "namespace",
        type: "string",
        age: false,
        numeric: false,
      });
    }
  });
  return columns;
}

export interface Sort {
  readonly column: string;
  readonly descending: boolean;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function compareBy(column: GridColumn): (a: KindRow, b: KindRow) => number {
  if (column.source === "namespace") {
    return (a, b) => collator.compare(a.namespace ?? "", b.namespace ?? "");
  }
  // An older object has a larger age.
  if (column.age) return (a, b) => (b.created || 0) - (a.created || 0);
  const index = column.source;
  if (column.numeric) {
    return (a, b) => {
      const x = Number(a.cells[index] ?? Number.NEGATIVE_INFINITY);
      const y = Number(b.cells[index] ?? Number.NEGATIVE_INFINITY);
      return x === y ? 0 : x < y ? -1 : 1;
    };
  }
  return (a, b) => collator.compare(cellText(a.cells[index]), cellText(b.cells[index]));
}

/** The rows to show: those whose text holds `filter`, sorted by `sort` (list order without). */
export function visibleRows(
  rows: ReadonlyMap<string, KindRow>,
  columns: readonly GridColumn[],
  filter: string,
  sort: Sort | undefined,
): KindRow[] {
  const needle = filter.trim().toLowerCase();
  const shown: KindRow[] = [];
  for (const row of rows.values()) if (needle === "" || row.text.includes(needle)) shown.push(row);
  const column = sort && columns.find((c) => c.name === sort.column);
  if (sort && column) {
    const compare = compareBy(column);
    const sign = sort.descending ? -1 : 1;
    shown.sort((a, b) => sign * compare(a, b) || collator.compare(a.key, b.key));
  }
  return shown;
}
