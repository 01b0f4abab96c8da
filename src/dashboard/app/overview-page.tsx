/**
 * `#/`: what an operator on call looks at first — kinds with objects not Ready, each
 * controller's queue and rates, the latest Warning events, the Leases. Live through the
 * `overview` stream.
 */
import { useEffect, useState } from "preact/hooks";
import type { ControllerSummary, KindSummary, Overview } from "../types.js";
import { SeriesChart } from "./chart.js";
import { StateBadge } from "./controller-state.js";
import { ageOf, duration, plural } from "./format.js";
import { useNow, useStream } from "./hooks.js";
import { LeasesTable } from "./leases-table.js";
import { kindHref, objectHref, refText } from "./route.js";

export function OverviewPage({
  overview: known,
  onOverview,
}: {
  overview: Overview | undefined;
  onOverview: (overview: Overview) => void;
}) {
  const live = useStream<Overview>("overview");
  useEffect(() => {
    if (live !== undefined) onOverview(live);
  }, [live, onOverview]);
  const overview = live ?? known;
  const now = useNow();
  const [showEmpty, setShowEmpty] = useState(false);
  if (overview === undefined) {
    return (
      <>
        <h1>Overview</h1>
        <p class="muted">Loading…</p>
      </>
    );
  }
  const serverNow = now;
  const sorted = kindsByTrouble(overview.kinds);
  const folded = sorted.filter((kind) => !shownFolded(kind));
  const kinds = showEmpty ? sorted : sorted.filter(shownFolded);
  return (
    <>
      <h1>Overview</h1>
      <section>
        <h2>Kinds</h2>
        <table aria-label="Kinds" class="table">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col" class="num">
                Total
              </th>
              <th scope="col" class="num">
                Not Ready
              </th>
              <th scope="col" class="num">
                Terminating
              </th>
            </tr>
          </thead>
          <tbody>
            {kinds.map((kind) => (
              <tr key={kindHref(kind)}>
                <td>
                  <a
                    href={kindHref(kind)}
                    title={`${kind.plural}.${kind.group || "core"}/${kind.version}`}
                  >
                    {kind.kind}
                  </a>
                </td>
                {kind.counted ? (
                  <>
                    <td class="num">{kind.total}</td>
                    <td class={`num${kind.notReady > 0 ? " bad" : ""}`}>{kind.notReady}</td>
                    <td class={`num${kind.terminating > 0 ? " warn" : ""}`}>{kind.terminating}</td>
                  </>
                ) : (
                  <td class="num muted" colSpan={3}>
                    counting…
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {folded.length > 0 && (
          <p>
            <button
              type="button"
              class="link-button"
              aria-expanded={showEmpty}
              onClick={() => setShowEmpty(!showEmpty)}
            >
              Show {plural(folded.length, "empty Kubernetes kind")}
            </button>
          </p>
        )}
      </section>
      <section>
        <h2>Controllers</h2>
        {overview.controllers.length === 0 ? (
          <p class="muted">No controller runs in this process.</p>
        ) : (
          <div class="cards">
            {overview.controllers.map((controller) => (
              <ControllerCard key={controller.name} controller={controller} />
            ))}
          </div>
        )}
      </section>
      <section>
        <h2>Warnings</h2>
        {overview.warnings.length === 0 && <p class="muted">No Warning events.</p>}
        <ul aria-label="Warnings" class="warnings">
          {overview.warnings.map((event, i) => {
            const href = event.regarding ? objectHref(event.regarding) : undefined;
            return (
              <li key={i}>
                <span class="reason bad">{event.reason}</span>{" "}
                {event.regarding &&
                  (href ? (
                    <a href={href}>{refText(event.regarding)}</a>
                  ) : (
                    <span>{refText(event.regarding)}</span>
                  ))}{" "}
                <span class="muted">
                  {ageOf(event.time, serverNow)} ago{event.count > 1 ? ` (×${event.count})` : ""}
                </span>
                <div class="note">{event.note}</div>
              </li>
            );
          })}
        </ul>
      </section>
      <section>
        <h2>Leases</h2>
        <LeasesTable label="Leases" leases={overview.leases} now={serverNow} />
      </section>
    </>
  );
}

/**
 * Whether a kind shows while empty Kubernetes kinds are folded: the modules' and CRDs' kinds
 * always, Kubernetes' own once counted with objects.
 */
function shownFolded(kind: KindSummary): boolean {
  return kind.builtin !== true || (kind.counted && kind.total > 0);
}

/** Kinds in trouble first (not Ready, then terminating), then those with objects, then the rest. */
function kindsByTrouble(kinds: readonly KindSummary[]): KindSummary[] {
  return [...kinds].sort(
    (a, b) =>
      b.notReady - a.notReady ||
      b.terminating - a.terminating ||
      Number(b.total > 0) - Number(a.total > 0),
  );
}

function ControllerCard({ controller }: { controller: ControllerSummary }) {
  return (
    <article aria-label={`Controller ${controller.name}`} class="card">
      <h3>
        <a href={`#/controllers`}>{controller.name}</a> <StateBadge controller={controller} />
      </h3>
      {controller.kind && (
        <p class="muted">
          reconciles <a href={kindHref(controller.kind)}>{controller.kind.kind}</a> ·{" "}
          {plural(controller.workers, "worker")}
        </p>
      )}
      <dl class="figures">
        <div>
          <dt>Queued</dt>
          <dd>{controller.queued}</dd>
        </div>
        <div>
          <dt>In flight</dt>
          <dd>{controller.inFlight}</dd>
        </div>
        <div>
          <dt>Backing off</dt>
          <dd class={controller.backingOff > 0 ? "warn" : ""}>{controller.backingOff}</dd>
        </div>
        <div>
          <dt>p50</dt>
          <dd>{duration(controller.p50Ms)}</dd>
        </div>
        <div>
          <dt>p99</dt>
          <dd>{duration(controller.p99Ms)}</dd>
        </div>
      </dl>
      <div class="charts">
        <SeriesChart series={controller.reconciles} label="Reconciles per second" tone="ok" />
        <SeriesChart series={controller.errors} label="Errors per second" tone="bad" />
      </div>
      <p class="muted totals">
        {plural(controller.totalReconciles, "reconcile")}, {plural(controller.totalErrors, "error")}
      </p>
    </article>
  );
}
