/** A table of reconciles: a key's history on its object's page, a controller's latest on its own. */
import type { ComponentChildren } from "preact";
import type { ReconcileRecord } from "../types.js";
import { EmptyTable } from "./empty-table.js";
import { ageOf, clock, duration } from "./format.js";

/** The tone of a reconcile's result: `requeue_after` and `requeue` are fine, `error` is not. */
function resultTone(result: string): string {
  return result === "error" ? "bad" : "ok";
}

export function ReconcilesTable({
  label,
  records,
  now,
  keyCell,
  emptyText = "No reconcile yet.",
}: {
  label: string;
  records: readonly ReconcileRecord[];
  now: number;
  /** With it, a first column, Key, shows what it renders for each record's key. */
  keyCell?: (key: string) => ComponentChildren;
  /** What it says when there is no record. */
  emptyText?: string;
}) {
  if (records.length === 0) return <EmptyTable label={label} text={emptyText} />;
  return (
    <table aria-label={label} class="table">
      <thead>
        <tr>
          {keyCell !== undefined && <th scope="col">Key</th>}
          <th scope="col">When</th>
          <th scope="col">Took</th>
          <th scope="col">Result</th>
          <th scope="col">Reason</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody>
        {records.map((record) => (
          <tr key={`${record.key}-${record.started}-${record.ms}`}>
            {keyCell !== undefined && <td>{keyCell(record.key)}</td>}
            <td title={clock(record.started, now)}>{ageOf(record.started, now)} ago</td>
            <td>{duration(record.ms)}</td>
            <td class={resultTone(record.result)}>{record.result}</td>
            <td>{record.reason}</td>
            <td class="message">{record.error ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
