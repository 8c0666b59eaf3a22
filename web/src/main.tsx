// The Winnow web UI: sign in with an API token, then runs, run detail, datasets and scheduling.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { clearToken, getToken, setUnauthorizedHandler } from "./api.ts";
import { linkProps, navigate, useRoute } from "./router.ts";
import { SignIn } from "./pages/SignIn.tsx";
import { Runs } from "./pages/Runs.tsx";
import { RunDetail } from "./pages/RunDetail.tsx";
import { Datasets, DatasetDetail } from "./pages/Datasets.tsx";
import { Schedule } from "./pages/Schedule.tsx";
import { Workers } from "./pages/Workers.tsx";
import { NotFound } from "./pages/NotFound.tsx";

function App() {
  const [token, setTok] = useState(getToken());
  const [signInError, setSignInError] = useState<string | null>(null);
  const { path, query } = useRoute();
  useEffect(() => {
    setUnauthorizedHandler((msg) => {
      clearToken();
      setSignInError(msg);
      setTok(null);
    });
  }, []);

  if (!token) {
    return <SignIn error={signInError} onSignedIn={(t) => (setSignInError(null), setTok(t), path === "/" && navigate("/runs", true))} />;
  }

  let page;
  let m: RegExpExecArray | null;
  if (path === "/" || path === "/runs") page = <Runs query={query} />;
  else if ((m = /^\/runs\/([^/]+)$/.exec(path))) page = <RunDetail key={m[1]} id={decodeURIComponent(m[1]!)} />;
  else if (path === "/datasets") page = <Datasets />;
  else if ((m = /^\/datasets\/([^/]+)$/.exec(path))) page = <DatasetDetail key={m[1]} id={decodeURIComponent(m[1]!)} />;
  else if (path === "/schedule") page = <Schedule query={query} />;
  else if (path === "/workers") page = <Workers />;
  else page = <NotFound what="page" id={path} />;

  const nav = (to: string, label: string) => (
    <a {...linkProps(to)} class={path === to || (to !== "/" && path.startsWith(to + "/")) ? "active" : ""}>{label}</a>
  );
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" {...linkProps("/runs")}>Winnow</a>
        <nav>
          {nav("/runs", "Runs")}
          {nav("/datasets", "Datasets")}
          {nav("/workers", "Workers")}
          {nav("/schedule", "Schedule a run")}
        </nav>
        <button type="button" class="link" onClick={() => (clearToken(), setTok(null))}>Sign out</button>
      </header>
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
