// Datasets: the list (with run counts and datapool sizes), creating one, and one dataset's tags and runs.
import { useTitle } from "../useTitle.ts";
import { useState } from "preact/hooks";
import { api, type DatasetData } from "../api.ts";
import { fmtTime } from "../format.ts";
import { linkProps, navigate } from "../router.ts";
import { usePoll } from "../usePoll.ts";
import { NotFound } from "./NotFound.tsx";
import { RunTable } from "./Runs.tsx";
import { DatasetTags } from "../components/DatasetTags.tsx";
import { ApiError } from "../api.ts";

function DatapoolSize(p: { id: string }) {
  const { data } = usePoll(() => api<{ run_id: string | null; size: number }>("GET", `/v1/datasets/${p.id}/datapool`), [p.id], 0, () => false);
  if (!data) return <span class="muted">…</span>;
  return data.run_id ? <span title={`from run ${data.run_id}`}>{data.size}</span> : <span class="muted">0</span>;
}

function RunCount(p: { id: string }) {
  const { data } = usePoll(() => api<{ total: number }>("GET", `/v1/run-summaries?dataset_id=${p.id}&limit=1`), [p.id], 0, () => false);
  return <span>{data ? data.total : "…"}</span>;
}

export function Datasets() {
  useTitle("Datasets");
  const { data, error, reload } = usePoll(() => api<DatasetData[]>("GET", "/v1/datasets"), [], 10000);
  const [name, setName] = useState("");
  const [source, setSource] = useState("");
  const [msg, setMsg] = useState<{ error: boolean; text: string } | null>(null);
  return (
    <section>
      <h1>Datasets</h1>
      {error && <p class="error">{error.message}</p>}
      <div class="scroll-x" tabIndex={0}>
      <table data-testid="datasets">
        <thead><tr><th>Name</th><th>Datasource</th><th>Created</th><th>Runs</th><th>Datapool size</th><th /></tr></thead>
        <tbody>
          {(data ?? []).map((d) => (
            <tr key={d.id} data-dataset={d.name}>
              <td><a {...linkProps(`/datasets/${d.id}`)}>{d.name}</a></td>
              <td class="mono">{d.datasource}</td>
              <td>{fmtTime(d.created_at)}</td>
              <td><RunCount id={d.id} /></td>
              <td><DatapoolSize id={d.id} /></td>
              <td><a {...linkProps(`/schedule?dataset=${d.id}`)}>Schedule a run</a></td>
            </tr>
          ))}
          {data && data.length === 0 && <tr><td colSpan={6} class="muted">No datasets yet: create one below.</td></tr>}
        </tbody>
      </table>
      </div>
      <h2>Create a dataset</h2>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            // The server refuses a folder it does not have (400 naming datasource), creating nothing.
            const d = await api<DatasetData>("POST", "/v1/datasets", { name: name.trim(), datasource: source.trim() });
            setMsg({ error: false, text: `created ${d.name} (${d.id})` });
            setName("");
            setSource("");
            reload();
          } catch (err) {
            setMsg({ error: true, text: (err as Error).message });
          }
        }}
      >
        <label>Name <input name="name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required /></label>
        <label>Datasource <input name="datasource" value={source} onInput={(e) => setSource((e.target as HTMLInputElement).value)} placeholder="folder under the server's datasource root" required /></label>
        <button type="submit" class="primary">Create</button>
      </form>
      {msg && <p class={msg.error ? "error" : "ok"}>{msg.text}</p>}
    </section>
  );
}

export function DatasetDetail(p: { id: string }) {
  useTitle(`Dataset ${p.id}`);
  const { data, error } = usePoll(() => api<DatasetData>("GET", `/v1/datasets/${encodeURIComponent(p.id)}`), [p.id], 0, () => false);
  const [page, setPage] = useState(0);
  if (error instanceof ApiError && error.status === 404) return <NotFound what="dataset" id={p.id} message={error.message} />;
  if (!data) return error ? <p class="error">{error.message}</p> : <p class="muted">Loading…</p>;
  return (
    <section>
      <h1>Dataset {data.name}</h1>
      <div class="facts">
        <div><b>Id</b> <span class="mono">{data.id}</span></div>
        <div><b>Datasource</b> <span class="mono">{data.datasource}</span></div>
        <div><b>Created</b> {fmtTime(data.created_at)}</div>
        <div><b>Datapool size</b> <DatapoolSize id={data.id} /></div>
      </div>
      <p><button type="button" class="primary" onClick={() => navigate(`/schedule?dataset=${data.id}`)}>Schedule a run on {data.name}</button></p>
      <h2>Tags</h2>
      <DatasetTags datasetId={data.id} />
      <h2>Runs</h2>
      <RunTable datasetId={data.id} page={page} onPage={setPage} />
    </section>
  );
}
