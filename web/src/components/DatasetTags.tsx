// The names users gave to selections of a dataset's runs, each with a link to the run that made it
// and its file count (the run's selected images). A run's own-id tag is not listed here: every
// COMPLETED run is one, and the runs table below lists them.
import { datasetTags, api, type RunSummary } from "../api.ts";
import { fmtTime } from "../format.ts";
import { linkProps } from "../router.ts";
import { usePoll } from "../usePoll.ts";

export function DatasetTags(p: { datasetId: string }) {
  const { data, error } = usePoll(async () => {
    const tags = await datasetTags(p.datasetId);
    const runs = [...new Set(tags.map((t) => t.run_id))];
    const sums = await Promise.all(runs.map((id) => api<RunSummary>("GET", `/v1/run-summaries/${encodeURIComponent(id)}`)));
    return { tags, files: new Map(runs.map((id, i) => [id, sums[i]!.selected_count])) };
  }, [p.datasetId], 0, () => false);
  if (error) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  if (data.tags.length === 0) return <p class="muted" data-testid="dataset-tags">No named selections yet: give a COMPLETED run's selection a name on its page (or with <span class="mono">winnow tag &lt;run-id&gt; &lt;name&gt;</span>).</p>;
  return (
    <div class="scroll-x" tabIndex={0}>
      <table class="tags" data-testid="dataset-tags">
        <thead><tr><th>Name</th><th>Run</th><th>Created</th><th class="num">Files</th></tr></thead>
        <tbody>
          {data.tags.map((t) => (
            <tr key={t.name} data-tag={t.name}>
              <td class="mono">{t.name}</td>
              <td><a class="mono" {...linkProps(`/runs/${t.run_id}`)}>{t.run_id}</a></td>
              <td>{fmtTime(t.created_at)}</td>
              <td class="num">{data.files.get(t.run_id) ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
