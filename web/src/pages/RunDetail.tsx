// Run detail: its tags (and naming its selection), state timeline, live log tail, loss curve, embedding map, selected images,
// artifacts (download, signed checkpoint URL), the checkpoint_run_id snippet, and the config.
import { useEffect, useRef, useState } from "preact/hooks";
import YAML from "yaml";
import { api, apiText, ApiError, cancelScheduled, END_STATES, signedUrl, type EmbeddingMap as MapData, type RunData, type RunSummary } from "../api.ts";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { LiveProgress } from "../components/LiveProgress.tsx";
import { shownError } from "../shownError.ts";
import { useTitle } from "../useTitle.ts";
import { CopyButton } from "../components/CopyButton.tsx";
import { EmbeddingMap } from "../components/EmbeddingMap.tsx";
import type { MapMetadata } from "../mapColours.ts";
import { LossChart } from "../components/LossChart.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Thumb } from "../components/Thumb.tsx";
import { RunTags } from "../components/RunTags.tsx";
import { fmtBytes, fmtDuration, fmtTime } from "../format.ts";
import { linkProps } from "../router.ts";
import { usePoll } from "../usePoll.ts";
import { NotFound } from "./NotFound.tsx";

const GRID_MAX = 60;

export function RunDetail(p: { id: string }) {
  useTitle(`Run ${p.id}`);
  const id = encodeURIComponent(p.id);
  const { data, error, reload } = usePoll(
    async () => {
      const [run, sum] = await Promise.all([api<RunData>("GET", `/v1/runs/${id}`), api<RunSummary>("GET", `/v1/run-summaries/${id}`)]);
      return { run, sum };
    },
    [p.id], 1000, (d) => !END_STATES.has(d.run.state),
  );
  const run = data?.run;
  const sum = data?.sum;
  // Once confirmed, the run goes on until the worker's next update: say so instead of offering Abort again.
  const [abortAsked, setAbortAsked] = useState(false);

  if (error instanceof ApiError && error.status === 404) return <NotFound what="run" id={p.id} message={error.message} />;
  if (!run) return error ? <p class="error">{error.message}</p> : <p class="muted">Loading…</p>;
  const ended = END_STATES.has(run.state);
  // Refetch the derived views when something they read has changed.
  const version = `${run.state}:${run.artifacts.map((a) => a.sha256).join(",")}`;
  const from = run.checkpoint_source ? /^run:(.+)$/.exec(run.checkpoint_source) : null;
  const failed = ended && run.state !== "COMPLETED";
  return (
    <section class="detail" data-testid="run-detail">
      <h1>
        Run <span class="mono" data-testid="run-id">{run.id}</span> <CopyButton text={run.id} label="Copy id" testid="copy-run-id" />
      </h1>
      <div class="facts">
        <div><b>State</b> <span role="status" aria-live="polite" data-testid="run-state"><StateBadge state={run.state} /></span></div>
        <div><b>Dataset</b> <a {...linkProps(`/datasets/${run.dataset_id}`)}>{sum?.dataset_name ?? run.dataset_id}</a></div>
        <div><b>Started</b> {fmtTime(run.created_at)}</div>
        <div><b>Duration</b> {fmtDuration((run.ended_at ?? Date.now()) - run.created_at)}</div>
        <div><b>Worker</b> <span data-testid="worker-name" title={`worker id ${run.worker_id}`}>{sum?.worker_name ?? run.worker_id}</span></div>
        <div><b>Selected</b> <span data-testid="selected-count">{sum?.selected_count ?? "—"}</span></div>
        {run.checkpoint_source && <div><b>Started from</b> {from ? <a class="mono" {...linkProps(`/runs/${from[1]}`)} data-testid="started-from">run {from[1]}</a> : <span class="mono">{run.checkpoint_source}</span>}</div>}
        {!ended && (
          <div class="actions">
            {abortAsked ? (
              <span class="muted" role="status" data-testid="abort-requested">Abort requested: the worker stops after its current step.</span>
            ) : (
              <ConfirmButton label="Abort run" question="Abort this run? It stops after its current step and ends ABORTED." confirmLabel="Abort" testid="abort-run" onConfirm={() => cancelScheduled(run.scheduled_id).then(() => (setAbortAsked(true), reload()))} />
            )}
          </div>
        )}
      </div>
      {run.message && failed && <p class="error" data-testid="failure-reason"><b>Why it ended {run.state}:</b> {shownError(run.message)}</p>}
      {run.message && !failed && <p class="muted">{run.message}</p>}
      {!ended && <LiveProgress state={run.state} progress={run.progress} />}

      <h2>Tags</h2>
      <RunTags run={run} selected={sum?.selected_count} version={version} />

      <h2>Timeline</h2>
      <Timeline id={run.id} version={version} ended={ended} />

      <div class="two">
        <div>
          <h2>Training loss</h2>
          <Loss id={run.id} version={version} ended={ended} state={run.state} />
        </div>
        <div>
          <h2>Reuse this run's checkpoint</h2>
          <Snippet run={run} />
        </div>
      </div>

      <h2>Artifacts</h2>
      <Artifacts run={run} />

      {run.artifacts.some((a) => a.type === "REPORT_HTML") && (
        <>
          <h2>Report</h2>
          <ReportView id={run.id} version={version} />
        </>
      )}

      <h2>Embedding map</h2>
      <MapSection run={run} version={version} />

      <h2>Configuration</h2>
      <ConfigView id={run.id} />

      <h2>Log</h2>
      <LogTail id={run.id} live={!ended} />
    </section>
  );
}

function Timeline(p: { id: string; version: string; ended: boolean }) {
  const { data } = usePoll(() => api<{ stages: { state: string; at: number }[]; ended_at: number | null }>("GET", `/v1/runs/${p.id}/timeline`), [p.id, p.version], 3000, () => !p.ended);
  if (!data) return <p class="muted">Loading…</p>;
  if (data.stages.length === 0) return <p class="muted">No states reported yet.</p>;
  const end = data.ended_at ?? Date.now();
  const t0 = data.stages[0]!.at;
  const total = Math.max(1, end - t0);
  return (
    <ol class="timeline" data-testid="timeline">
      {data.stages.map((s, i) => {
        const next = data.stages[i + 1]?.at ?? (END_STATES.has(s.state) ? s.at : end);
        return (
          <li key={i}>
            <span class="tl-state"><StateBadge state={s.state} /></span>
            <span class="tl-bar"><i style={{ marginLeft: `${(100 * (s.at - t0)) / total}%`, width: `${Math.max(0.5, (100 * (next - s.at)) / total)}%` }} /></span>
            <span class="tl-time muted">{new Date(s.at).toLocaleTimeString()} · {END_STATES.has(s.state) ? "end" : fmtDuration(next - s.at)}</span>
          </li>
        );
      })}
    </ol>
  );
}

function Loss(p: { id: string; version: string; ended: boolean; state: string }) {
  const { data, error } = usePoll(() => api<{ epoch_losses: number[]; step_losses: number[] }>("GET", `/v1/runs/${p.id}/loss`), [p.id, p.version], 4000, () => !p.ended);
  if (error) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const none = p.ended ? (p.state === "COMPLETED" ? "This run did not train (no training loss)." : `No training loss: the run ended ${p.state} before a training epoch finished.`) : "No training loss yet: it appears once an epoch has finished.";
  return <LossChart steps={data.step_losses} epochs={data.epoch_losses} empty={none} />;
}

function MapSection(p: { run: RunData; version: string }) {
  const has = p.run.artifacts.some((a) => a.type === "EMBEDDINGS");
  const { data, error } = usePoll(() => (has ? api<MapData>("GET", `/v1/runs/${p.run.id}/embedding-map`) : Promise.resolve(null)), [p.run.id, p.version, has], 0, () => false);
  // The metadata the map can colour by (older runs have none: only selection and folder then).
  const hasMeta = p.run.artifacts.some((a) => a.type === "MAP_METADATA");
  const meta = usePoll(() => (hasMeta ? api<MapMetadata>("GET", `/v1/runs/${p.run.id}/map-metadata`) : Promise.resolve(null)), [p.run.id, p.version, hasMeta], 0, () => false);
  if (!has) return <p class="muted">{END_STATES.has(p.run.state) ? `No map: the run ended ${p.run.state} without embeddings.` : "The map appears once the run has uploaded its embeddings."}</p>;
  if (error) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Computing the map…</p>;
  const shown = data.selected.slice(0, GRID_MAX);
  return (
    <div>
      <EmbeddingMap runId={p.run.id} map={data} meta={meta.data} />
      {meta.error && <p class="error small">Colouring by metadata is unavailable: {meta.error.message}</p>}
      <h2>Selected images <span class="muted">({data.selected.length}{data.selected.length > GRID_MAX ? `, first ${GRID_MAX} shown` : ""})</span></h2>
      <div class="grid" data-testid="selected-grid">
        {shown.map((i) => (
          <figure key={i}>
            <Thumb runId={p.run.id} file={data.filenames[i]!} size={128} />
            <figcaption class="mono small">{data.filenames[i]}</figcaption>
          </figure>
        ))}
      </div>
    </div>
  );
}

function Artifacts(p: { run: RunData }) {
  const [err, setErr] = useState<string | null>(null);
  if (p.run.artifacts.length === 0) return <p class="muted">{END_STATES.has(p.run.state) ? "This run stored no artifacts." : "No artifacts yet."}</p>;
  const download = async (name: string): Promise<void> => {
    try {
      // A short-lived signed URL: the browser downloads it without the token.
      const url = await signedUrl(p.run.id, name, 300);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  const order = (t: string): number => (t === "CHECKPOINT" ? 0 : t.startsWith("REPORT") ? 1 : 2);
  return (
    <div>
      <div class="scroll-x" tabIndex={0}>
      <table class="artifacts" data-testid="artifacts">
        <tbody>
          {[...p.run.artifacts].sort((a, b) => order(a.type) - order(b.type) || a.file_name.localeCompare(b.file_name)).map((a) => (
            <tr key={a.id} data-artifact={a.file_name}>
              <td class="mono">{a.file_name}</td>
              <td class="muted small">{a.type}</td>
              <td class="num">{fmtBytes(a.size)}</td>
              <td>
                <button type="button" data-testid={`download-${a.type}`} onClick={() => download(a.file_name)}>Download</button>{" "}
                {a.type === "CHECKPOINT" && <CopyButton text={() => signedUrl(p.run.id, a.file_name, 3600)} label="Copy checkpoint URL" title="A signed URL, valid for one hour (usable as worker_config.checkpoint)" testid="copy-checkpoint-url" />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      {err && <p class="error">{err}</p>}
    </div>
  );
}

function Snippet(p: { run: RunData }) {
  if (!p.run.artifacts.some((a) => a.type === "CHECKPOINT")) return <p class="muted">This run has no checkpoint{END_STATES.has(p.run.state) ? "" : " yet"}.</p>;
  const py = `scheduled_run_id = client.schedule_compute_worker_run(
    worker_config={
        "enable_training": True,
        "checkpoint_run_id": "${p.run.id}",
    },
)`;
  const ts = `await client.scheduleComputeWorkerRun({
  workerConfig: { enable_training: true, checkpoint_run_id: "${p.run.id}" },
});`;
  return (
    <div class="snippets">
      <div class="snippet"><div class="snippet-head">Python (lightly) <CopyButton text={py} /></div><pre data-testid="snippet-py">{py}</pre></div>
      <div class="snippet"><div class="snippet-head">TypeScript (winnow) <CopyButton text={ts} /></div><pre>{ts}</pre></div>
    </div>
  );
}

function ConfigView(p: { id: string }) {
  const [which, setWhich] = useState<"resolved" | "scheduled">("resolved");
  const { data, error } = usePoll(() => api<{ scheduled: unknown; resolved: unknown; error: string | null }>("GET", `/v1/runs/${p.id}/config`), [p.id], 0, () => false);
  if (error) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const v = which === "resolved" ? data.resolved : data.scheduled;
  return (
    <div>
      <div class="tabs">
        <button type="button" class={which === "resolved" ? "on" : ""} onClick={() => setWhich("resolved")}>Resolved (every default)</button>
        <button type="button" class={which === "scheduled" ? "on" : ""} onClick={() => setWhich("scheduled")}>As scheduled</button>
      </div>
      {data.error && which === "resolved" ? <p class="error">{data.error}</p> : <pre class="config" data-testid="config" tabIndex={0} aria-label="Configuration">{YAML.stringify(v)}</pre>}
    </div>
  );
}

function LogTail(p: { id: string; live: boolean }) {
  const [lines, setLines] = useState<{ seq: number; at: number; line: string }[]>([]);
  const last = useRef(-1);
  const pre = useRef<HTMLPreElement>(null);
  usePoll(async () => {
    const got = await api<{ seq: number; at: number; line: string }[]>("GET", `/v1/runs/${p.id}/log?after=${last.current}`);
    if (got.length) {
      last.current = got[got.length - 1]!.seq;
      setLines((l) => [...l, ...got].slice(-1000));
    }
    return got.length;
  }, [p.id, p.live], 1500, () => p.live);
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);
  return <pre class="log" ref={pre} data-testid="log" tabIndex={0} aria-label="Log">{lines.length ? lines.map((l) => l.line).join("\n") : "(no log lines yet)"}</pre>;
}

/** The run's HTML report in place: srcdoc (no token in a URL) in an iframe that runs no scripts. */
function ReportView(p: { id: string; version: string }) {
  const [open, setOpen] = useState(false);
  const { data, error } = usePoll(() => (open ? apiText(`/v1/runs/${p.id}/report-html`) : Promise.resolve(null)), [p.id, p.version, open], 0, () => false);
  if (!open) return <button type="button" data-testid="view-report" onClick={() => setOpen(true)}>View the report here</button>;
  if (error) return <p class="error">{error.message}</p>;
  if (data === null) return <p class="muted">Loading the report…</p>;
  return <iframe class="report" title="The run's HTML report" sandbox="" srcDoc={data} data-testid="report-frame" />;
}
