// Workers: each registered worker, its labels, when it last sent a heartbeat (live or not, by the
// server's dead-worker timeout) and the run it is working on, with that run's live progress.
import { api, type WorkerSummary } from "../api.ts";
import { StateBadge } from "../components/StateBadge.tsx";
import { fmtDuration, fmtTime } from "../format.ts";
import { linkProps } from "../router.ts";
import { usePoll } from "../usePoll.ts";
import { useTitle } from "../useTitle.ts";

export function Workers() {
  useTitle("Workers");
  const { data, error } = usePoll(() => api<{ heartbeat_timeout_ms: number; items: WorkerSummary[] }>("GET", "/v1/worker-summaries"), [], 3000);
  if (error && !data) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const now = Date.now();
  return (
    <section>
      <h1>Workers</h1>
      <p class="muted">A worker is live while its heartbeat is younger than {fmtDuration(data.heartbeat_timeout_ms)}; start one with <code>winnow worker</code>.</p>
      <div class="scroll-x" tabIndex={0}>
        <table data-testid="workers-table">
          <thead><tr><th>Name</th><th>Labels</th><th>Last heartbeat</th><th>Current run</th></tr></thead>
          <tbody>
            {data.items.map((w) => (
              <tr key={w.id} data-worker={w.name}>
                <td><b>{w.name}</b><div class="mono small muted">{w.id}</div></td>
                <td>{w.labels.length ? w.labels.join(", ") : <span class="muted">none</span>}</td>
                <td>
                  <span class={`badge ${w.live ? "ok" : "bad"}`} data-testid="worker-live">{w.live ? "LIVE" : "NOT SEEN"}</span>{" "}
                  <span class="small">{fmtDuration(now - w.last_heartbeat)} ago</span>
                  <div class="small muted">{fmtTime(w.last_heartbeat)}</div>
                </td>
                <td data-testid="worker-run">
                  {w.current_run ? (
                    <>
                      <a class="mono" {...linkProps(`/runs/${w.current_run.id}`)}>{w.current_run.id}</a> <StateBadge state={w.current_run.state} />
                      {typeof w.current_run.progress?.fraction === "number" && <span class="small"> {Math.round(100 * w.current_run.progress.fraction)}%</span>}
                    </>
                  ) : <span class="muted">idle</span>}
                </td>
              </tr>
            ))}
            {data.items.length === 0 && <tr><td colSpan={4} class="muted">No workers registered yet.</td></tr>}
          </tbody>
        </table>
      </div>
    </section>
  );
}
