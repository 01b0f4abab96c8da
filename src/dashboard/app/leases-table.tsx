/** A table of Leases: who holds each, and when it was renewed. */
import type { LeaseSummary } from "../types.js";
import { EmptyTable } from "./empty-table.js";
import { ageOf } from "./format.js";

export function LeasesTable({
  label,
  leases,
  now,
}: {
  label: string;
  leases: readonly LeaseSummary[];
  now: number;
}) {
  if (leases.length === 0) return <EmptyTable label={label} text="No Leases." />;
  return (
    <table aria-label={label} class="table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Holder</th>
          <th scope="col">Renewed</th>
        </tr>
      </thead>
      <tbody>
        {leases.map((lease) => (
          <tr key={`${lease.namespace}/${lease.name}`}>
            <td>
              {lease.namespace}/{lease.name}
            </td>
            <td class={lease.live ? "" : "warn"}>
              {lease.holder ?? "—"}
              {lease.holder !== undefined && !lease.live ? " (expired)" : ""}
            </td>
            <td>{lease.renewTime ? `${ageOf(lease.renewTime, now)} ago` : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
