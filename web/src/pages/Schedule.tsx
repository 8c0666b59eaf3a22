// Scheduling form: a dataset, the config as YAML (or JSON) with Lightly's three sections checked
// live by the server against the same schemas scheduling uses, a priority and runs_on labels.
import { useTitle } from "../useTitle.ts";
import { useEffect, useState } from "preact/hooks";
import YAML from "yaml";
import { PRIORITIES } from "../../../src/db/records.ts";
import { api, cancelScheduled, type DatasetData, type QueuedRunSummary, type ScheduledRunData } from "../api.ts";
import { ConfirmButton } from "../components/ConfirmButton.tsx";
import { NoWorkerWarning } from "./Runs.tsx";
import { CopyButton } from "../components/CopyButton.tsx";
import { fmtTime } from "../format.ts";
import { linkProps, navigate } from "../router.ts";
import { usePoll } from "../usePoll.ts";

const TEMPLATE = `# Lightly's keys: worker_config, selection_config, lightly_config
worker_config:
  enable_training: true
selection_config:
  n_samples: 50
  strategies:
    - input: { type: EMBEDDINGS }
      strategy: { type: DIVERSITY }
lightly_config:
  loader: { batch_size: 16 }
  trainer: { max_epochs: 10 }
`;

const SECTIONS = ["worker_config", "selection_config", "lightly_config"];

interface Issue {
  path: string;
  message: string;
}

/** The text as the three sections, or the problem with it (YAML syntax, unknown top-level keys). */
function parseConfig(text: string): { value: Record<string, unknown> } | { issue: Issue } {
  let v: unknown;
  try {
    v = YAML.parse(text) ?? {};
  } catch (e) {
    return { issue: { path: "config", message: (e as Error).message } };
  }
  if (typeof v !== "object" || Array.isArray(v) || v === null) return { issue: { path: "config", message: "expected a mapping with worker_config, selection_config and/or lightly_config" } };
  const extra = Object.keys(v).filter((k) => !SECTIONS.includes(k));
  if (extra.length) return { issue: { path: extra[0]!, message: `unknown section ${JSON.stringify(extra[0])}; expected ${SECTIONS.join(", ")}` } };
  return { value: v as Record<string, unknown> };
}

export function Schedule(p: { query: URLSearchParams }) {
  useTitle("Schedule a run");
  const { data: datasets } = usePoll(() => api<DatasetData[]>("GET", "/v1/datasets"), [], 0, () => false);
  const [datasetId, setDatasetId] = useState(p.query.get("dataset") ?? "");
  const [text, setText] = useState(TEMPLATE);
  const [priority, setPriority] = useState("MID");
  const [labels, setLabels] = useState("");
  const [check, setCheck] = useState<{ valid: boolean; issues: Issue[] } | null>(null);
  const [result, setResult] = useState<{ error: boolean; text: string; id?: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!datasetId && datasets?.length) setDatasetId(datasets[0]!.id);
  }, [datasets]);

  // Live check, debounced: syntax here, the schemas on the server.
  useEffect(() => {
    const parsed = parseConfig(text);
    if ("issue" in parsed) return setCheck({ valid: false, issues: [parsed.issue] });
    setCheck(null);
    const t = setTimeout(() => {
      api<{ valid: boolean; issues: Issue[] }>("POST", "/v1/configs/validate", parsed.value).then(setCheck, (e) => setCheck({ valid: false, issues: [{ path: "config", message: (e as Error).message }] }));
    }, 300);
    return () => clearTimeout(t);
  }, [text]);

  const runsOn = labels.split(",").map((s) => s.trim()).filter(Boolean);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const parsed = parseConfig(text);
    if ("issue" in parsed || !datasetId) return;
    setBusy(true);
    try {
      const s = await api<ScheduledRunData>("POST", `/v1/datasets/${datasetId}/scheduled-runs`, { ...parsed.value, priority, runs_on: runsOn });
      setResult({ error: false, text: `scheduled ${s.id} (${s.priority})`, id: s.id });
    } catch (err) {
      setResult({ error: true, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Schedule a run</h1>
      {datasets && datasets.length === 0 && <p class="muted">No datasets yet: <a {...linkProps("/datasets")}>create one</a> first.</p>}
      <form class="schedule" onSubmit={submit} data-testid="schedule-form">
        <div class="row">
          <label>Dataset{" "}
            <select name="dataset" value={datasetId} onChange={(e) => setDatasetId((e.target as HTMLSelectElement).value)}>
              {(datasets ?? []).map((d) => <option key={d.id} value={d.id}>{d.name} ({d.datasource})</option>)}
            </select>
          </label>
          <label>Priority{" "}
            <select name="priority" value={priority} onChange={(e) => setPriority((e.target as HTMLSelectElement).value)}>
              {PRIORITIES.map((x) => <option key={x} value={x}>{x}</option>)}
            </select>
          </label>
          <label>Runs on (labels){" "}
            <input name="runs_on" value={labels} onInput={(e) => setLabels((e.target as HTMLInputElement).value)} placeholder="gpu, a100" />
          </label>
        </div>
        <label class="block">Config (YAML or JSON)
          <textarea name="config" spellcheck={false} rows={18} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </label>
        <div class="check" data-testid="config-check" data-valid={check ? String(check.valid) : "pending"}>
          {!check ? <span class="muted">checking…</span>
            : check.valid ? <span class="ok">✓ config is valid</span>
            : <ul class="error">{check.issues.map((i, k) => <li key={k}><code>{i.path}</code>: {i.message}</li>)}</ul>}
        </div>
        <button type="submit" class="primary" disabled={busy || !datasetId || !check?.valid}>Schedule</button>
      </form>
      {result && (
        <p class={result.error ? "error" : "ok"} data-testid="schedule-result" data-scheduled-id={result.id}>
          {result.text} {result.id && <CopyButton text={result.id} label="Copy scheduled id" />}
        </p>
      )}
      <Queue />
    </section>
  );
}

/** Scheduled runs not yet ended: a queued one can be cancelled (and warns when no live worker fits), a taken one opened. */
function Queue() {
  const { data, reload } = usePoll(async () => {
    const [all, queued] = await Promise.all([api<ScheduledRunData[]>("GET", "/v1/scheduled-runs"), api<{ items: QueuedRunSummary[] }>("GET", "/v1/queue-summaries")]);
    return { all, fits: new Map(queued.items.map((q) => [q.id, q])) };
  }, [], 3000);
  const waiting = (data?.all ?? []).filter((s) => s.state === "OPEN" || s.state === "LOCKED").reverse();
  if (waiting.length === 0) return null;
  return (
    <div>
      <h2>Queue</h2>
      <div class="scroll-x" tabIndex={0}>
      <table data-testid="queue">
        <thead><tr><th>Scheduled id</th><th>State</th><th>Priority</th><th>Runs on</th><th>Created</th><th /></tr></thead>
        <tbody>
          {waiting.map((s) => (
            <tr key={s.id} data-scheduled-id={s.id}>
              <td class="mono">{s.id}</td>
              <td>{s.state}</td>
              <td>{s.priority}</td>
              <td>{s.runs_on.join(", ") || "any"}{data?.fits.has(s.id) && <NoWorkerWarning q={data.fits.get(s.id)!} />}</td>
              <td>{fmtTime(s.created_at)}</td>
              <td>
                {s.run_id ? <button type="button" onClick={() => navigate(`/runs/${s.run_id}`)}>Open run</button> : null}
                {s.state === "OPEN" && <ConfirmButton label="Cancel" question="Cancel this queued run?" confirmLabel="Cancel run" testid="cancel-queued" onConfirm={() => cancelScheduled(s.id).then(reload)} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </div>
  );
}
