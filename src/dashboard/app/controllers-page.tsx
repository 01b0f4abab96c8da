/**
 * `#/controllers`: every controller in depth — keys backing off and when they retry, reconciles in
 * flight (those running long, aborted or abandoned stand out as stuck), the keys waiting, its
 * Leases and, when sharded, which replica holds which shard. Live through `controller/{name}`.
 */
import {
  API_PREFIX,
  type ControllerDetail,
  type InFlightEntry,
  type LeaseSummary,
  type Overview,
} from "../types.js";
import { StateBadge } from "./controller-state.js";
import { age, clock, duration, plural, until } from "./format.js";
import { useNow, usePolled, useStream } from "./hooks.js";
import { LeasesTable } from "./leases-table.js";
import { ReconcilesTable } from "./reconciles-table.js";
import { kindHref, objectHref } from "./route.js";

/** A reconcile running longer than this is shown as stuck. */
const STUCK_MS = 30_000;
/**
 * Up to this many controllers, each has its own stream; beyond, they are polled every second,
 * so the page never holds all of the six connections a browser opens to one HTTP/1.1 server.
 */
const MAX_STREAMS = 5;

export function ControllersPage({ overview }: { overview: Overview | undefined }) {
  const live = useStream<Overview>(overview === undefined ? "overview" : null);
  const known = overview ?? live;
  return (
    <>
      <h1>Controllers</h1>
      {known === undefined ? (
        <p class="muted">Loading…</p>
      ) : known.controllers.length === 0 ? (
        <p class="muted">No controller runs in this process.</p>
      ) : (
        known.controllers.map((controller) => (
          <ControllerSection
            key={controller.name}
            name={controller.name}
            overview={known}
            stream={known.controllers.length <= MAX_STREAMS}
          />
        ))
      )}
    </>
  );
}

function keyHref(detail: ControllerDetail, key: string): string | undefined {
  if (detail.kind === undefined) return undefined;
  const slash = key.indexOf("/");
  const [namespace, name] =
    slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  return objectHref({ ...detail.kind, namespace, name });
}

function KeyLink({ detail, keyName }: { detail: ControllerDetail; keyName: string }) {
  const href = keyHref(detail, keyName);
  return href ? <a href={href}>{keyName}</a> : <span>{keyName}</span>;
}

function inFlightState(entry: InFlightEntry, now: number): { text: string; stuck: boolean } {
  if (entry.abandoned) return { text: "stuck (abandoned)", stuck: true };
  if (entry.aborted) return { text: "stuck (aborted)", stuck: true };
  if (now - entry.started > STUCK_MS) return { text: "stuck (running long)", stuck: true };
  return { text: "running", stuck: false };
}

function ControllerSection({
  name,
  overview,
  stream,
}: {
  name: string;
  overview: Overview;
  stream: boolean;
}) {
  const streamed = useStream<ControllerDetail>(stream ? `controller/${name}` : null);
  const polled = usePolled<ControllerDetail>(
    stream ? null : `${API_PREFIX}/controllers/${encodeURIComponent(name)}`,
    1000,
  );
  const detail = stream ? streamed : polled;
  const now = useNow();
  const headingId = `controller-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  if (detail === undefined) {
    return (
      <section aria-labelledby={headingId} class="controller">
        <h2 id={headingId}>{name}</h2>
        <p class="muted">Loading…</p>
      </section>
    );
  }
  return (
    <section aria-labelledby={headingId} class="controller">
      <h2 id={headingId}>{name}</h2>
      <p>
        <StateBadge controller={detail} />
        {detail.kind && (
          <>
            {" "}
            reconciles <a href={kindHref(detail.kind)}>{detail.kind.kind}</a>
          </>
        )}{" "}
        <span class="muted">
          · {plural(detail.workers, "worker")} · {detail.queued} queued · {detail.inFlight} in
          flight · {detail.backingOff} backing off · {detail.scheduled} scheduled · p50{" "}
          {duration(detail.p50Ms)} · p99 {duration(detail.p99Ms)}
        </span>
      </p>
      <div class="columns">
        <div>
          <h3>Backing off</h3>
          <table aria-label={`Backoff of ${name}`} class="table">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Next retry</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {detail.backoff.map((entry) => (
                <tr key={entry.key}>
                  <td>
                    <KeyLink detail={detail} keyName={entry.key} />
                  </td>
                  <td class="num warn">{entry.attempts}</td>
                  <td title={clock(entry.retryAt, now)}>{until(entry.retryAt, now)}</td>
                  <td class="message bad">{entry.lastError ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {detail.backoff.length === 0 && <p class="muted">No key is backing off.</p>}
        </div>
        <div>
          <h3>In flight</h3>
          <table aria-label={`In flight of ${name}`} class="table">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Age</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {detail.running.map((entry) => {
                const state = inFlightState(entry, now);
                return (
                  <tr key={entry.key} class={state.stuck ? "stuck" : ""}>
                    <td>
                      <KeyLink detail={detail} keyName={entry.key} />
                    </td>
                    <td>{age(now - entry.started)}</td>
                    <td class={state.stuck ? "stuck bad" : "ok"}>{state.text}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {detail.running.length === 0 && <p class="muted">Nothing running.</p>}
        </div>
      </div>
      {detail.waiting.length > 0 && (
        <details>
          <summary>
            Waiting ({detail.queued}
            {detail.queued > detail.waiting.length ? `, first ${detail.waiting.length}` : ""})
          </summary>
          <ul class="plain waiting">
            {detail.waiting.map((entry) => (
              <li key={entry.key}>
                <KeyLink detail={detail} keyName={entry.key} />
                {entry.reason ? <span class="muted"> ({entry.reason})</span> : null}
              </li>
            ))}
          </ul>
        </details>
      )}
      <h3>Leases</h3>
      <LeasesTable label={`Leases of ${name}`} leases={detail.leases} now={now} />
      {detail.shards !== undefined && (
        <ShardMap
          name={name}
          shards={detail.shards}
          leases={detail.leases}
          identity={overview.server.identity}
        />
      )}
      {detail.recent.length > 0 && (
        <details>
          <summary>Recent reconciles ({detail.recent.length})</summary>
          <ReconcilesTable
            label={`Recent reconciles of ${name}`}
            records={detail.recent}
            now={now}
            keyCell={(key) => <KeyLink detail={detail} keyName={key} />}
          />
        </details>
      )}
    </section>
  );
}

/** The Lease of shard `index`, named `{set}-shard-{index}` (see coordination/shards.ts). */
function shardLease(leases: readonly LeaseSummary[], index: number): LeaseSummary | undefined {
  return leases.find((lease) => lease.name.endsWith(`-shard-${index}`));
}

function ShardMap({
  name,
  shards,
  leases,
  identity,
}: {
  name: string;
  shards: { readonly held: readonly number[]; readonly count: number };
  leases: readonly LeaseSummary[];
  identity: string | undefined;
}) {
  const rows = Array.from({ length: shards.count }, (_, index) => {
    const lease = shardLease(leases, index);
    const mine = shards.held.includes(index);
    const holder = lease?.holder ?? (mine ? identity : undefined);
    return { index, holder, mine, live: lease?.live ?? mine };
  });
  return (
    <>
      <h3>Shards</h3>
      <table aria-label={`Shards of ${name}`} class="table">
        <thead>
          <tr>
            <th scope="col" class="num">
              Shard
            </th>
            <th scope="col">Holder</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.index} class={row.mine ? "mine" : ""}>
              <td class="num">{row.index}</td>
              <td class={row.holder === undefined || !row.live ? "warn" : ""}>
                {row.holder ?? "unheld"}
                {row.mine ? " (this replica)" : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
