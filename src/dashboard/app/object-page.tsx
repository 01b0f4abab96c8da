// biome-ignore-all lint/a11y/useSemanticElements: the children form an ARIA tree, which has no HTML element
// biome-ignore-all lint/a11y/useFocusableInteractive: a tree item is reached through the link it holds
// biome-ignore-all lint/a11y/noNoninteractiveElementToInteractiveRole: the children list is an ARIA tree
// biome-ignore-all lint/a11y/useAriaPropsSupportedByRole: the YAML block is named so it can be found
/**
 * `#/object/{group}/{version}/{plural}/{namespace}/{name}`: one object and what surrounds it —
 * its conditions, each controller's view of its key (with "Reconcile now"), its events, owners,
 * children and YAML. Live: each key's stream, and a watch of the object itself that refetches
 * the view when the object changes.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { stringify } from "yaml";
import { API_PREFIX, type ChildView, type KeyView, type ObjectView } from "../types.js";
import { EmptyTable } from "./empty-table.js";
import { age, ageOf, clock, plural, until } from "./format.js";
import { useNow, useStream } from "./hooks.js";
import {
  failureText,
  getJson,
  HttpError,
  isAbort,
  isRefused,
  lines,
  postJson,
  request,
  sleep,
  Unauthorized,
} from "./http.js";
import { ReconcilesTable } from "./reconciles-table.js";
import { objectApiPath, objectHref, type Route, refText } from "./route.js";
import { collectionPath } from "./table-watch.js";

type ObjectRoute = Extract<Route, { page: "object" }>;

/** Watches one object by name, calling `changed` on each event, until `signal` aborts. */
async function watchObject(
  route: ObjectRoute,
  resourceVersion: string | undefined,
  changed: () => void,
  signal: AbortSignal,
): Promise<void> {
  let from = resourceVersion;
  while (!signal.aborted) {
    try {
      const query = new URLSearchParams({
        watch: "1",
        fieldSelector: `metadata.name=${route.name}`,
        allowWatchBookmarks: "true",
        ...(from ? { resourceVersion: from } : {}),
      });
      const path = collectionPath(route.group, route.version, route.plural, route.namespace);
      const response = await request(`${path}?${query}`, { signal });
      for await (const line of lines(response)) {
        if (line.trim() === "") continue;
        const event = JSON.parse(line) as {
          type: string;
          object: { metadata?: { resourceVersion?: string } };
        };
        if (event.type === "ERROR") {
          from = undefined;
          break;
        }
        from = event.object.metadata?.resourceVersion ?? from;
        if (event.type !== "BOOKMARK") changed();
      }
    } catch (error) {
      // A refusal (a 4xx but 410) does not pass by retrying; the page's refetches still run.
      if (isAbort(error) || signal.aborted || error instanceof Unauthorized || isRefused(error)) {
        return;
      }
      from = undefined;
    }
    await sleep(1000, signal);
  }
}

export function ObjectPage({ route, kind }: { route: ObjectRoute; kind: string }) {
  const [view, setView] = useState<ObjectView | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [missing, setMissing] = useState(false);
  const refresh = useRef<() => void>(() => {});
  const now = useNow();

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let fetching = false;
    let again = false;
    let watching = false;
    const load = async () => {
      if (fetching) {
        again = true;
        return;
      }
      fetching = true;
      try {
        const fresh = await getJson<ObjectView>(objectApiPath(route), controller.signal);
        setView(fresh);
        setMissing(false);
        setError(undefined);
        if (!watching) {
          watching = true;
          const rv = (fresh.object.metadata as { resourceVersion?: string } | undefined)
            ?.resourceVersion;
          void watchObject(route, rv, () => refresh.current(), controller.signal);
        }
      } catch (failure) {
        if (isAbort(failure) || failure instanceof Unauthorized) return;
        if (failure instanceof HttpError && failure.status === 404) setMissing(true);
        else setError(failureText(failure));
      } finally {
        fetching = false;
        if (again && !controller.signal.aborted) {
          again = false;
          void load();
        }
      }
    };
    // Refetches shortly after a change, once for a burst of changes.
    refresh.current = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void load();
      }, 150);
    };
    void load();
    // Events and children change without the object changing: look again now and then.
    const poll = setInterval(() => refresh.current(), 10_000);
    return () => {
      controller.abort();
      clearInterval(poll);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [route]);

  if (view === undefined) {
    return (
      <>
        <h1>{route.name}</h1>
        {missing ? (
          <p class="error" role="alert">
            No {kind} {route.namespace ? `${route.namespace}/` : ""}
            {route.name}
          </p>
        ) : error !== undefined ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </>
    );
  }
  const serverNow = now;
  const meta = (view.object.metadata ?? {}) as {
    namespace?: string;
    uid?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const uid = view.ref.uid ?? meta.uid;
  return (
    <>
      <h1>{route.name}</h1>
      <p class="subtitle">
        {view.ref.kind}
        {meta.namespace ? ` in ${meta.namespace}` : ""}
        {meta.creationTimestamp ? ` · created ${ageOf(meta.creationTimestamp, now)} ago` : ""}
        {meta.generation !== undefined ? ` · generation ${meta.generation}` : ""}
        {meta.deletionTimestamp ? <span class="tag warn"> Terminating</span> : null}
        {missing ? <span class="tag bad"> Deleted</span> : null}
      </p>
      {error !== undefined && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <Metadata labels={meta.labels ?? {}} annotations={meta.annotations ?? {}} />
      <section>
        <h2>Conditions</h2>
        {view.conditions.length === 0 ? (
          <EmptyTable label="Conditions" text="No conditions." />
        ) : (
          <table aria-label="Conditions" class="table">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
                <th scope="col">Message</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              {view.conditions.map((condition) => (
                <tr key={condition.type}>
                  <td>{condition.type}</td>
                  <td class={conditionTone(condition.type, condition.status)}>
                    {condition.status}
                  </td>
                  <td>{condition.reason ?? ""}</td>
                  <td class="message">{condition.message ?? ""}</td>
                  <td>{ageOf(condition.lastTransitionTime, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h2>Controller</h2>
        {view.controllers.length === 0 && (
          <p class="muted">No controller of this process reconciles this kind.</p>
        )}
        {view.controllers.map((key) => (
          <KeyPanel
            key={key.controller}
            initial={key}
            uid={uid}
            readOnly={view.server.readOnly}
            now={serverNow}
            onReconciled={() => refresh.current()}
          />
        ))}
      </section>
      <section>
        <h2>Events</h2>
        {view.events.length === 0 ? (
          <EmptyTable label="Events" text="No events." />
        ) : (
          <table aria-label="Events" class="table">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Age</th>
                <th scope="col">From</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {view.events.map((event, i) => (
                <tr key={i} class={event.type === "Warning" ? "warning-row" : ""}>
                  <td class={event.type === "Warning" ? "bad" : ""}>{event.type}</td>
                  <td>{event.reason}</td>
                  <td>
                    {ageOf(event.time, serverNow)}
                    {event.count > 1 ? ` (×${event.count})` : ""}
                  </td>
                  <td>{event.reportingController ?? ""}</td>
                  <td class="message">{event.note}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h2>Owners</h2>
        {view.owners.length === 0 ? (
          <p class="muted">No owners.</p>
        ) : (
          <ul aria-label="Owners" class="plain">
            {view.owners.map((owner) => {
              const href = objectHref(owner);
              return (
                <li key={owner.uid ?? refText(owner)}>
                  {href ? <a href={href}>{refText(owner)}</a> : refText(owner)}
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <section>
        <h2>Children</h2>
        {view.children.length === 0 ? (
          <p class="muted">No children.</p>
        ) : (
          <ul role="tree" aria-label="Children" class="tree">
            {view.children.map((child) => (
              <ChildItem key={child.ref.uid ?? refText(child.ref)} child={child} />
            ))}
          </ul>
        )}
      </section>
      <section>
        <h2>YAML</h2>
        <YamlView object={view.object} />
      </section>
    </>
  );
}

function conditionTone(type: string, status: string): string {
  const good = /^(Stalled|Degraded|Failed|.*Pressure|Progressing|Reconciling)$/.test(type)
    ? status === "False"
    : status === "True";
  return good ? "ok" : status === "Unknown" ? "warn" : "bad";
}

function keyState(key: KeyView, now: number): { text: string; tone: string } {
  if (key.running) {
    const running = now - key.running.started;
    return {
      text: `Running for ${age(running)}${key.running.aborted ? " (aborted)" : ""}`,
      tone: running > 30_000 || key.running.aborted ? "bad" : "ok",
    };
  }
  if (key.scheduled?.retry) {
    return {
      text: `Backing off until ${clock(key.scheduled.at, now)} (retry ${until(key.scheduled.at, now)}, after ${key.scheduled.attempts} ${key.scheduled.attempts === 1 ? "failure" : "failures"})`,
      tone: "warn",
    };
  }
  if (key.queued) return { text: "Queued", tone: "ok" };
  if (key.scheduled) {
    return {
      text: `Requeued for ${clock(key.scheduled.at, now)} (${until(key.scheduled.at, now)})`,
      tone: "ok",
    };
  }
  return { text: "Idle: reconciles again on its next change", tone: "muted" };
}

function KeyPanel({
  initial,
  uid,
  readOnly,
  now,
  onReconciled,
}: {
  initial: KeyView;
  /** The object's uid: reconciles of an earlier object of the same name are hidden. */
  uid: string | undefined;
  readOnly: boolean;
  now: number;
  onReconciled: () => void;
}) {
  const streamed = useStream<KeyView>(
    `key/${initial.controller}/${encodeURIComponent(initial.key)}`,
  );
  const [posted, setPosted] = useState<KeyView | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  // The newest of the three: the page's, the stream's, the answer to "Reconcile now".
  const [key, setKey] = useState(initial);
  useEffect(() => setKey(initial), [initial]);
  useEffect(() => {
    if (streamed) setKey(streamed);
  }, [streamed]);
  useEffect(() => {
    if (posted) setKey(posted);
  }, [posted]);
  const latest = key.history[0]?.started;
  const seen = useRef(latest);
  useEffect(() => {
    if (latest !== seen.current) {
      seen.current = latest;
      onReconciled();
    }
  }, [latest, onReconciled]);

  async function reconcileNow() {
    setBusy(true);
    setError(undefined);
    try {
      setPosted(
        await postJson<KeyView>(
          `${API_PREFIX}/controllers/${encodeURIComponent(key.controller)}/keys/${encodeURIComponent(key.key)}/reconcile`,
        ),
      );
    } catch (failure) {
      if (!(failure instanceof Unauthorized)) {
        setError(
          failure instanceof HttpError && failure.status === 403
            ? "Refused: this dashboard is read-only"
            : failureText(failure, false),
        );
      }
    } finally {
      setBusy(false);
    }
  }

  const state = keyState(key, now);
  // Records without a uid (a controller on sources alone) are kept: nothing says they are older.
  const history = key.history.filter(
    (record) => uid === undefined || record.uid === undefined || record.uid === uid,
  );
  const hidden = key.history.length - history.length;
  return (
    <div class="key-panel">
      <h3>{key.controller}</h3>
      <p class="key-state">
        <span class={`state-text ${state.tone}`}>{state.text}</span>
        <span class="muted"> · key {key.key}</span>
      </p>
      {key.nextReason !== undefined && <p>Next reconcile: {key.nextReason}</p>}
      <p>
        <button
          type="button"
          onClick={reconcileNow}
          disabled={readOnly || busy}
          title={readOnly ? "This dashboard is read-only" : undefined}
        >
          Reconcile now
        </button>
        {error !== undefined && (
          <span role="alert" class="error">
            {" "}
            {error}
          </span>
        )}
      </p>
      <ReconcilesTable label="Reconciles" records={history} now={now} />
      {hidden > 0 && (
        <p class="muted">
          {plural(hidden, "reconcile")} of an earlier object of this name{" "}
          {hidden === 1 ? "is" : "are"} hidden.
        </p>
      )}
    </div>
  );
}

/** The object's labels as `key=value` chips, and its annotations, near the top of its page. */
function Metadata({
  labels,
  annotations,
}: {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}) {
  const labelEntries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  const annotationEntries = Object.entries(annotations).sort(([a], [b]) => a.localeCompare(b));
  return (
    <dl class="metadata">
      <div>
        <dt>Labels</dt>
        <dd>
          {labelEntries.length === 0 ? (
            <span class="muted">none</span>
          ) : (
            <ul aria-label="Labels" class="chips">
              {labelEntries.map(([key, value]) => (
                <li key={key} class="chip">
                  {key}={value}
                </li>
              ))}
            </ul>
          )}
        </dd>
      </div>
      <div>
        <dt>Annotations</dt>
        <dd>
          {annotationEntries.length === 0 ? (
            <span class="muted">none</span>
          ) : (
            <ul aria-label="Annotations" class="chips">
              {annotationEntries.map(([key, value]) => (
                <li key={key} class="chip annotation" title={value}>
                  {key}={value}
                </li>
              ))}
            </ul>
          )}
        </dd>
      </div>
    </dl>
  );
}

function readyText(child: ChildView): { text: string; tone: string } {
  if (child.terminating) return { text: "Terminating", tone: "warn" };
  if (child.ready === "True") return { text: "Ready", tone: "ok" };
  if (child.ready === undefined) return { text: "", tone: "muted" };
  return { text: "Not Ready", tone: "bad" };
}

function ChildItem({ child }: { child: ChildView }) {
  const href = objectHref(child.ref);
  const state = readyText(child);
  const label = `${child.ref.kind}/${child.ref.name}`;
  return (
    <li role="treeitem" aria-expanded={child.children.length > 0 ? true : undefined}>
      {href ? <a href={href}>{label}</a> : <span>{label}</span>}{" "}
      {state.text !== "" && <span class={`tag ${state.tone}`}>{state.text}</span>}
      {child.reason && child.ready !== "True" ? (
        <span class="muted">
          {" "}
          {child.reason}
          {child.message ? `: ${child.message}` : ""}
        </span>
      ) : null}
      {child.children.length > 0 && (
        <ul role="group">
          {child.children.map((grandchild) => (
            <ChildItem key={grandchild.ref.uid ?? refText(grandchild.ref)} child={grandchild} />
          ))}
        </ul>
      )}
    </li>
  );
}

function YamlView({ object }: { object: Record<string, unknown> }) {
  const [showManaged, setShowManaged] = useState(false);
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const managed = Array.isArray(metadata.managedFields) ? metadata.managedFields.length : 0;
  let shown = object;
  if (!showManaged && managed > 0) {
    const { managedFields: _folded, ...rest } = metadata;
    shown = { ...object, metadata: rest };
  }
  return (
    <>
      {managed > 0 && (
        <p>
          <button
            type="button"
            aria-expanded={showManaged}
            onClick={() => setShowManaged(!showManaged)}
          >
            {showManaged ? "Fold managedFields" : `Show managedFields (${managed})`}
          </button>
        </p>
      )}
      <pre aria-label="YAML" class="yaml">
        {stringify(shown, { lineWidth: 0 })}
      </pre>
    </>
  );
}
