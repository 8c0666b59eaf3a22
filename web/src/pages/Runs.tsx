// Runs overview: every run the token may see, newest first, filtered by dataset and state, paged;
// refreshed every few seconds so states are live.
import { RUN_STATES } from "../../../src/db/records.ts";
import { api, type DatasetData, type RunSummary } from "../api.ts";
import { CopyButton } from "../components/CopyButton.tsx";
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
      <table class="runs" data-testid="runs-table">
        <thead>
          <tr><th>Run id</th><th>Dataset</th><th>State</th><th>Started</th><th>Duration</th><th>Training</th><th>Checkpoint</th></tr>
        </thead>
        <tbody>
          {data.items.map((r) => (
            <tr key={r.id} data-run-id={r.id} class="clickable" onClick={() => navigate(`/runs/${r.id}`)}>
              <td class="mono">
                <a {...linkProps(`/runs/${r.id}`)} onClick={(e) => e.stopPropagation()} data-testid="run-link">{r.id}</a>{" "}
                <CopyButton text={r.id} label="Copy id" testid="copy-run-id" />
              </td>
              <td>{r.dataset_name ?? r.dataset_id}</td>
              <td title={r.message}><StateBadge state={r.state} />{r.progress?.fraction !== undefined && !r.ended_at ? <span class="muted"> {Math.round(100 * r.progress.fraction)}%</span> : null}</td>
              <td>{fmtTime(r.created_at)}</td>
              <td>{fmtDuration(r.duration_ms)}</td>
              <td>{r.training ? "yes" : "no"}</td>
              <td>{r.checkpoint ? "✓ available" : "—"}</td>
            </tr>
          ))}
          {data.items.length === 0 && (
            <tr><td colSpan={7} class="muted">No runs{p.state || p.datasetId ? " match the filter" : " yet"}.</td></tr>
          )}
        </tbody>
      </table>
      <div class="pager">
        <button type="button" disabled={p.page <= 0} onClick={() => p.onPage(p.page - 1)}>← Newer</button>
        <span>Page {Math.min(p.page + 1, pages)} of {pages} · {data.total} run(s)</span>
        <button type="button" disabled={p.page + 1 >= pages} onClick={() => p.onPage(p.page + 1)}>Older →</button>
      </div>
    </div>
  );
}

export function Runs(p: { query: URLSearchParams }) {
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
      <RunTable datasetId={dataset || undefined} state={state || undefined} page={page} onPage={(n) => go({ page: n })} />
    </section>
  );
}
