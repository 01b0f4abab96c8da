/** The login form the app shows on any 401: a bearer token, tried before it is kept. */
import { useState } from "preact/hooks";
import { API_PREFIX } from "../types.js";
import { headers, storeToken } from "./http.js";

export function LoginForm({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const response = await fetch(`${API_PREFIX}/overview`, {
        headers: headers({ Accept: "application/json" }, token.trim()),
        cache: "no-store",
      });
      await response.body?.cancel().catch(() => {});
      if (response.status === 401 || response.status === 403) {
        setError("The token was refused");
        return;
      }
      storeToken(token.trim());
      onSignedIn();
    } catch {
      setError("The server could not be reached");
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <h1>Sign in</h1>
      <form class="login" onSubmit={submit}>
        <p>This server wants a bearer token (the one its kubeconfig holds).</p>
        {/* For password managers: a token has no user name. */}
        <input
          type="text"
          name="username"
          autocomplete="username"
          value="setpoint"
          hidden
          readOnly
        />
        <label for="token">Bearer token</label>
        <input
          id="token"
          type="password"
          autocomplete="current-password"
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
          required
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error !== undefined && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </>
  );
}
