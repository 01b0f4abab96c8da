import { describe, expect, it } from "vitest";
import { applyEvents, gridColumns, rowsOfTable, visibleRows } from "./kind-rows.js";
import type { Table, TableRow } from "./table-watch.js";

const definitions = [
  { name: "Name", type: "string", format: "name", priority: 0 },
  { name: "Replicas", type: "integer", format: "", priority: 0 },
  { name: "Wide", type: "string", format: "", priority: 1 },
  { name: "Age", type: "date", format: "", priority: 0 },
];

function row(namespace: string, name: string, replicas: number, created: string): TableRow {
  return {
    cells: [name, replicas, "w", "1m"],
    object: { metadata: { name, namespace, creationTimestamp: created } },
  };
}

const table: Table = {
  columnDefinitions: definitions,
  metadata: { resourceVersion: "5" },
  rows: [
    row("alpha", "web", 10, "2026-01-01T00:00:00Z"),
    row("beta", "api", 2, "2026-01-03T00:00:00Z"),
    row("alpha", "db", 3, "2026-01-02T00:00:00Z"),
  ],
};

describe("gridColumns", () => {
  it("shows priority-0 columns, with Namespace after Name across namespaces", () => {
    expect(gridColumns(definitions, true).map((c) => c.name)).toEqual([
      "Name",
      "Namespace",
      "Replicas",
      "Age",
    ]);
    expect(gridColumns(definitions, false).map((c) => c.name)).toEqual(["Name", "Replicas", "Age"]);
  });
});

describe("visibleRows", () => {
  const columns = gridColumns(definitions, true);

  it("keeps list order without a sort, and filters on any cell or the namespace", () => {
    const rows = rowsOfTable(table);
    expect(visibleRows(rows, columns, "", undefined).map((r) => r.name)).toEqual([
      "web",
      "api",
      "db",
    ]);
    expect(visibleRows(rows, columns, "D", undefined).map((r) => r.name)).toEqual(["db"]);
    expect(visibleRows(rows, columns, "beta", undefined).map((r) => r.name)).toEqual(["api"]);
  });

  it("sorts numbers as numbers and ages by creation, either way", () => {
    const rows = rowsOfTable(table);
    const byReplicas = visibleRows(rows, columns, "", { column: "Replicas", descending: false });
    expect(byReplicas.map((r) => r.name)).toEqual(["api", "db", "web"]);
    const byAge = visibleRows(rows, columns, "", { column: "Age", descending: true });
    expect(byAge.map((r) => r.name)).toEqual(["web", "db", "api"]);
  });

  it("applies a batch of watch events: added, modified, deleted", () => {
    const rows = rowsOfTable(table);
    applyEvents(rows, [
      { type: "ADDED", row: row("alpha", "cache", 1, "2026-01-04T00:00:00Z") },
      { type: "MODIFIED", row: row("alpha", "web", 11, "2026-01-01T00:00:00Z") },
      { type: "DELETED", row: row("beta", "api", 2, "2026-01-03T00:00:00Z") },
    ]);
    const shown = visibleRows(rows, columns, "", undefined);
    expect(shown.map((r) => `${r.name}:${r.cells[1]}`)).toEqual(["web:11", "db:3", "cache:1"]);
  });
});
