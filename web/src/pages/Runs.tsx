// Runs overview: every run the token may see, newest first, filtered by dataset and state, paged;
// refreshed every few seconds so states are live.
import { RUN_STATES } from "../../../src/db/records.ts";
import { api, cancelScheduled, type DatasetData, type QueuedRunSummary, type RunSummary } from "../api.ts";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { CopyButton } from "../components/CopyButton.tsx";
import { shownError } from "../shownError.ts";
import { useTitle } from "../useTitle.ts";
import { StateBadge } from "../components/StateBadge.tsx";
import { fmtDuration, fmtTime } from "../format.ts";
import { linkProps, navigate } from "../router.ts";
import { usePoll } from "../usePoll.ts";

const PAGE = 20;

export function RunTable(p: { datasetId?: string; state?: string; page: number; onPage: (n: number) => void }) {
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(p.page * PAGE) });
  if (p.datasetId) q.set("dataset_id", p.datasetId);
  if (p.state) q.set("state", p.state);
  const { data, error } = usePoll(() => api<{ total: number; items: RunSummary[] }>("GET", `/v1/run-summaries?${q}`), [q.toString()], 3000);
  if (error && !data) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const pages = Math.max(1, Math.ceil(data.total / PAGE));
  return (
    <div>
      <div class="scroll-x" tabIndex={0}>
      <table class="runs" data-testid="runs-table">
        <thead>
          <tr><th>Run id</th><th>Dataset</th><th>State</th><th>Started</th><th>Duration</th><th class="num">Selected</th><th>Training</th><th>Checkpoint</th></tr>
        </thead>
        <tbody>
          {data.items.map((r) => (
            <tr key={r.id} data-run-id={r.id} class="clickable" onClick={() => navigate(`/runs/${r.id}`)}>
              <td class="mono">
                <a {...linkProps(`/runs/${r.id}`)} onClick={(e) => e.stopPropagation()} data-testid="run-link">{r.id}</a>{" "}
                <CopyButton text={r.id} label="Copy id" testid="copy-run-id" />
              </td>
              <td>{r.dataset_name ?? r.dataset_id}</td>
              <td class="state-cell">
                <StateBadge state={r.state} />
                {typeof r.progress?.fraction === "number" && !r.ended_at ? (
                  <div class="mini-progress" data-testid="row-progress">
                    <progress max={1} value={r.progress.fraction} aria-label="progress" /> <span class="small">{Math.round(100 * r.progress.fraction)}%{r.progress.epoch !== undefined ? ` · epoch ${r.progress.epoch}/${r.progress.epochs}` : ""}{typeof r.progress.loss === "number" ? ` · loss ${r.progress.loss.toFixed(3)}` : ""}</span>
                  </div>
                ) : null}
                {r.ended_at && r.state !== "COMPLETED" && r.message ? <div class="small error reason" data-testid="row-reason">{shownError(r.message)}</div> : null}
              </td>
              <td>{fmtTime(r.created_at)}</td>
              <td>{fmtDuration(r.duration_ms)}</td>
              <td class="num" data-testid="row-selected">{r.selected_count ?? "—"}</td>
              <td>{r.training ? "yes" : "no"}</td>
              <td>{r.checkpoint ? "✓ available" : "—"}</td>
            </tr>
          ))}
          {data.items.length === 0 && (
            <tr><td colSpan={8} class="muted">No runs{p.state || p.datasetId ? " match the filter" : " yet"}.</td></tr>
          )}
        </tbody>
      </table>
      </div>
      <div class="pager">
        <button type="button" disabled={p.page <= 0} onClick={() => p.onPage(p.page - 1)}>← Newer</button>
        <span>Page {Math.min(p.page + 1, pages)} of {pages} · {data.total} run(s)</span>
        <button type="button" disabled={p.page + 1 >= pages} onClick={() => p.onPage(p.page + 1)}>Older →</button>
      </div>
    </div>
  );
}

/** A queued run that no live worker's labels fit waits: say so (the overview and the schedule page). */
export function NoWorkerWarning(p: { q: Pick<QueuedRunSummary, "runs_on" | "matching_live_workers"> }) {
  const on = p.q.runs_on;
  if (p.q.matching_live_workers !== 0) return null;
  return (
    <div class="small warn" data-testid="no-worker-warning">
      No live worker {on.length ? `has the label${on.length > 1 ? "s" : ""} ${on.join(", ")}` : "is connected"}: this run waits until one {on.length ? "with them " : ""}starts.
    </div>
  );
}

/** OPEN scheduled runs (no worker has taken them yet), with a warning where no live worker fits. */
export function QueuedRuns() {
  const { data, error, reload } = usePoll(() => api<{ items: QueuedRunSummary[] }>("GET", "/v1/queue-summaries"), [], 3000);
  if (error && !data) return <p class="error">{error.message}</p>;
  if (!data || data.items.length === 0) return null;
  return (
    <section aria-labelledby="queued-h">
      <h2 id="queued-h">Queued ({data.items.length})</h2>
      <div class="scroll-x" tabIndex={0}>
        <table data-testid="queued-table">
          <thead><tr><th>Scheduled run</th><th>Dataset</th><th>Priority</th><th>Runs on</th><th>Queued at</th><th /></tr></thead>
          <tbody>
            {data.items.map((s) => (
              <tr key={s.id} data-scheduled-id={s.id}>
                <td class="mono">{s.id}</td>
                <td>{s.dataset_name ?? s.dataset_id}</td>
                <td>{s.priority}</td>
                <td>
                  {s.runs_on.length ? s.runs_on.join(", ") : <span class="muted">any worker</span>}
                  <NoWorkerWarning q={s} />
                </td>
                <td>{fmtTime(s.created_at)}</td>
                <td><ConfirmButton label="Cancel" question="Cancel this queued run?" confirmLabel="Cancel run" testid="cancel-queued" onConfirm={() => cancelScheduled(s.id).then(reload)} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function Runs(p: { query: URLSearchParams }) {
  useTitle("Runs");
  const dataset = p.query.get("dataset") ?? "";
  const state = p.query.get("state") ?? "";
  const page = Math.max(0, Number(p.query.get("page") ?? 0) || 0);
  const { data: datasets } = usePoll(() => api<DatasetData[]>("GET", "/v1/datasets"), [], 15000);
  const go = (o: { dataset?: string; state?: string; page?: number }): void => {
    const q = new URLSearchParams();
    const d = o.dataset ?? dataset;
    const s = o.state ?? state;
    if (d) q.set("dataset", d);
    if (s) q.set("state", s);
    if (o.page) q.set("page", String(o.page));
    navigate(`/runs${q.size ? `?${q}` : ""}`, true);
  };
  return (
    <section>
      <h1>Runs</h1>
      <div class="filters">
        <label>Dataset{" "}
          <select name="dataset" value={dataset} onChange={(e) => go({ dataset: (e.target as HTMLSelectElement).value, page: 0 })}>
            <option value="">all</option>
            {(datasets ?? []).map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}
          </select>
        </label>
        <label>State{" "}
          <select name="state" value={state} onChange={(e) => go({ state: (e.target as HTMLSelectElement).value, page: 0 })}>
            <option value="">all</option>
            {RUN_STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
      </div>
      <QueuedRuns />
      {/* the queue has its own heading; the runs below are those a worker has taken */}
      <h2>Runs</h2>
      <RunTable datasetId={dataset || undefined} state={state || undefined} page={page} onPage={(n) => go({ page: n })} />
    </section>
  );
}
