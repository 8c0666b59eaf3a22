// Sign-in: the token is checked against the API and kept in sessionStorage only.
import { useTitle } from "../useTitle.ts";
import { useState } from "preact/hooks";
import { api, setToken } from "../api.ts";

export function SignIn(p: { error: string | null; onSignedIn: (token: string) => void }) {
  useTitle("Sign in");
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(p.error);
  const [busy, setBusy] = useState(false);
  return (
    <div class="signin">
      <form
        class="card"
        onSubmit={async (e) => {
          e.preventDefault();
          const t = value.trim();
          if (!t) return setError("enter an API token (create one with `winnow token create`)");
          setBusy(true);
          try {
            await api("GET", "/v1/datasets", undefined, t);
            setToken(t);
            p.onSignedIn(t);
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Winnow</h1>
        <p class="muted">Sign in with an API token. It stays in this browser tab only.</p>
        <label>
          API token
          <input name="token" type="password" autocomplete="off" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} placeholder="wnw_…" />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? "Checking…" : "Sign in"}</button>
      </form>
    </div>
  );
}
