// A run's tags (its own id once COMPLETED, then the names users gave its selection) and, for a
// COMPLETED run with a selection, a form to give it another name. The server judges the name (rule,
// uniqueness in the dataset); its message is shown next to the field.
import { useState } from "preact/hooks";
import { ApiError, createRunTag, runTags, type RunData } from "../api.ts";
import { fmtTime } from "../format.ts";
import { usePoll } from "../usePoll.ts";

export function RunTags(p: { run: RunData; selected: number | null | undefined; version: string }) {
  const { data, error, reload } = usePoll(() => runTags(p.run.id), [p.run.id, p.version], 0, () => false);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ error: boolean; text: string } | null>(null);
  const taggable = p.run.state === "COMPLETED" && p.run.artifacts.some((a) => a.type === "SELECTED_FILENAMES");
  const files = p.selected ?? "—";

  if (error) return <p class="error">{error.message}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <div data-testid="run-tags">
      {data.length === 0 ? (
        <p class="muted">{p.run.state === "COMPLETED" ? "No tags: this run uploaded no selection." : "No tags: a run's selection becomes a tag (named after the run) once it has COMPLETED."}</p>
      ) : (
        <div class="scroll-x" tabIndex={0}>
          <table class="tags">
            <thead><tr><th>Name</th><th>Kind</th><th>Created</th><th class="num">Files</th></tr></thead>
            <tbody>
              {data.map((t) => (
                <tr key={t.name} data-tag={t.name}>
                  <td class="mono">{t.name}</td>
                  <td class="muted small">{t.user_given ? "given name" : "the run's id"}</td>
                  <td>{fmtTime(t.created_at)}</td>
                  <td class="num">{files}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {taggable && (
        <form
          class="inline tag-form"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            try {
              const t = await createRunTag(p.run.id, name.trim());
              setMsg({ error: false, text: `tagged as ${t.name}` });
              setName("");
              reload();
            } catch (err) {
              setMsg({ error: true, text: err instanceof ApiError ? err.message : String(err) });
            } finally {
              setBusy(false);
            }
          }}
        >
          <label>
            Name this selection
            <input
              name="tag"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
              placeholder="e.g. first picks"
              required
              aria-invalid={msg?.error ? "true" : undefined}
              aria-describedby="tag-msg"
            />
          </label>
          <button type="submit" disabled={busy}>{busy ? "Adding…" : "Add tag"}</button>
        </form>
      )}
      {taggable && <p id="tag-msg" class={msg?.error ? "error" : "ok"} role={msg?.error ? "alert" : "status"} data-testid="tag-msg">{msg?.text ?? ""}</p>}
    </div>
  );
}
