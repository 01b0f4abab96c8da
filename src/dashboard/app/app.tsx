/**
 * The app's frame: the banner (with "Sign out" while a token is kept), the main navigation (the
 * overview, the controllers and one link per kind: the modules' kinds first, Kubernetes' own
 * folded under "Kubernetes kinds"), the login form whenever the server answers 401, and the page
 * the hash names.
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import { API_PREFIX, type KindSummary, type Overview } from "../types.js";
import { onReconnecting } from "./connection.js";
import { ControllersPage } from "./controllers-page.js";
import { getJson, isAbort, onUnauthorized, storedToken, storeToken } from "./http.js";
import { KindPage } from "./kind-page.js";
import { LoginForm } from "./login-form.js";
import { ObjectPage } from "./object-page.js";
import { OverviewPage } from "./overview-page.js";
import { kindHref, parseRoute, type Route } from "./route.js";

/**
 * The route the hash names, and how many times the hash changed: a page keyed by it starts over
 * on every navigation, even to its own kind without the filters it wrote into the hash.
 */
function useRoute(): { route: Route; visit: number } {
  const [state, setState] = useState(() => ({ route: parseRoute(location.hash), visit: 0 }));
  useEffect(() => {
    const changed = () =>
      setState((before) => ({ route: parseRoute(location.hash), visit: before.visit + 1 }));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return state;
}

function currentHref(route: Route): string {
  switch (route.page) {
    case "overview":
      return "#/";
    case "controllers":
      return "#/controllers";
    case "kind":
    case "object":
      return kindHref(route);
    default:
      return "";
  }
}

export function App() {
  const { route, visit } = useRoute();
  const [overview, setOverview] = useState<Overview | undefined>(undefined);
  const [signedOut, setSignedOut] = useState(false);
  // Bumped on sign-in, so every page starts over with the new token.
  const [session, setSession] = useState(0);

  useEffect(() => onUnauthorized(() => setSignedOut(true)), []);

  // Pages start once the first answer says whether a token is needed, so a server that wants
  // one refuses a single request rather than every stream and watch of the page.
  const [started, setStarted] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    getJson<Overview>(`${API_PREFIX}/overview?counts=false`, controller.signal).then(
      (answer) => {
        setOverview(answer);
        setStarted(true);
      },
      (error) => {
        if (!isAbort(error)) setStarted(true);
      },
    );
    return () => controller.abort();
  }, [session]);

  // The nav's kinds follow CRDs added later; the overview page streams it anyway.
  useEffect(() => {
    if (!started || route.page === "overview") return;
    const controller = new AbortController();
    const timer = setInterval(() => {
      getJson<Overview>(`${API_PREFIX}/overview?counts=false`, controller.signal).then(
        setOverview,
        () => {},
      );
    }, 30_000);
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, [started, route.page]);

  const [reconnecting, setReconnecting] = useState(false);
  useEffect(() => onReconnecting(setReconnecting), []);

  const signedIn = useCallback(() => {
    setSignedOut(false);
    setSession((n) => n + 1);
  }, []);

  const signOut = useCallback(() => {
    storeToken(null);
    setOverview(undefined);
    setSignedOut(true);
  }, []);

  useEffect(() => {
    document.title = signedOut ? "Sign in · setpoint" : `${titleOf(route, overview)} · setpoint`;
  }, [route, overview, signedOut]);

  const here = currentHref(route);
  const kinds = [...(overview?.kinds ?? [])].sort((a, b) => a.kind.localeCompare(b.kind));
  const moduleKinds = kinds.filter((kind) => kind.builtin !== true);
  const builtinKinds = kinds.filter((kind) => kind.builtin === true);
  const kindLink = (kind: KindSummary) => {
    const href = kindHref(kind);
    return (
      <li key={href}>
        <a href={href} aria-current={here === href ? "page" : undefined}>
          {kind.kind}
        </a>
      </li>
    );
  };
  return (
    <div class="frame">
      <header class="banner">
        <a class="brand" href="#/">
          setpoint
        </a>
        {overview?.server.identity !== undefined && (
          <span class="identity">
            {overview.server.identity}
            {overview.server.leading === true ? " · leading" : ""}
          </span>
        )}
        {overview?.server.readOnly === true && <span class="badge">read-only</span>}
        {reconnecting && !signedOut && (
          <span class="badge reconnecting" title="A live view lost its connection">
            reconnecting…
          </span>
        )}
        {!signedOut && storedToken() !== null && (
          <button type="button" class="sign-out" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <nav aria-label="Main" class="nav">
        <div class="nav-inner">
          <ul>
            <li>
              <a href="#/" aria-current={here === "#/" ? "page" : undefined}>
                Overview
              </a>
            </li>
            <li>
              <a href="#/controllers" aria-current={here === "#/controllers" ? "page" : undefined}>
                Controllers
              </a>
            </li>
          </ul>
          {moduleKinds.length > 0 && (
            <>
              <h2 class="nav-heading">Kinds</h2>
              <ul>{moduleKinds.map(kindLink)}</ul>
            </>
          )}
          {builtinKinds.length > 0 && (
            <details
              class="nav-builtin"
              open={builtinKinds.some((kind) => kindHref(kind) === here) || undefined}
            >
              <summary class="nav-heading">Kubernetes kinds</summary>
              <ul>{builtinKinds.map(kindLink)}</ul>
            </details>
          )}
        </div>
      </nav>
      <main class="main">
        {signedOut ? (
          <LoginForm onSignedIn={signedIn} />
        ) : started ? (
          <Page
            key={session}
            route={route}
            visit={visit}
            overview={overview}
            setOverview={setOverview}
          />
        ) : (
          <h1 class="muted">{titleOf(route, overview)}</h1>
        )}
      </main>
    </div>
  );
}

function titleOf(route: Route, overview: Overview | undefined): string {
  switch (route.page) {
    case "overview":
      return "Overview";
    case "controllers":
      return "Controllers";
    case "kind":
      return kindNameOf(route, overview);
    case "object":
      return route.name;
    default:
      return "Not found";
  }
}

/** The kind's name as the overview lists it, or its plural until the overview is known. */
export function kindNameOf(
  route: { group: string; version: string; plural: string },
  overview: Overview | undefined,
): string {
  return (
    overview?.kinds.find(
      (k) => k.group === route.group && k.version === route.version && k.plural === route.plural,
    )?.kind ?? route.plural
  );
}

function Page({
  route,
  visit,
  overview,
  setOverview,
}: {
  route: Route;
  visit: number;
  overview: Overview | undefined;
  setOverview: (overview: Overview) => void;
}) {
  switch (route.page) {
    case "overview":
      return <OverviewPage overview={overview} onOverview={setOverview} />;
    case "controllers":
      return <ControllersPage overview={overview} />;
    case "kind":
      return (
        <KindPage
          key={`${kindHref(route)}@${visit}`}
          group={route.group}
          version={route.version}
          plural={route.plural}
          query={route.query}
          overview={overview}
        />
      );
    case "object":
      return (
        <ObjectPage
          key={`${kindHref(route)}/${route.namespace}/${route.name}`}
          route={route}
          kind={kindNameOf(route, overview)}
        />
      );
    default:
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route.hash}</code>. <a href="#/">Back to the overview</a>.
          </p>
        </>
      );
  }
}
