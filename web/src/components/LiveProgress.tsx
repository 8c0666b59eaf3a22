// A running run's live progress as the worker reports it: the stage, a bar, epoch and step, loss,
// images/s and ETA. The bar has a text equivalent (aria-valuetext) for screen readers.
import type { LiveProgress as P, RunData } from "../api.ts";
import { fmtDuration } from "../format.ts";

type Progress = NonNullable<RunData["progress"]>;

export function progressText(p: Progress): string {
  const q = p as Partial<P>;
  const parts: string[] = [];
  if (q.what && q.what !== "training") parts.push(q.what);
  if (q.epoch !== undefined && q.epochs !== undefined) parts.push(`epoch ${q.epoch}/${q.epochs}`);
  if (q.step !== undefined && q.steps !== undefined) parts.push(`step ${q.step}/${q.steps}`);
  if (q.done !== undefined && q.total !== undefined) parts.push(`${q.done}/${q.total} images`);
  if (typeof q.loss === "number") parts.push(`loss ${q.loss.toFixed(4)}`);
  if (typeof q.images_per_second === "number" && q.images_per_second > 0) parts.push(`${q.images_per_second >= 100 ? q.images_per_second.toFixed(0) : q.images_per_second.toFixed(1)} img/s`);
  if (typeof q.eta_seconds === "number") parts.push(`ETA ${fmtDuration(q.eta_seconds * 1000)}`);
  return parts.join(" · ");
}

export function LiveProgress(p: { state: string; progress: Progress | null }) {
  const f = typeof p.progress?.fraction === "number" ? p.progress.fraction : undefined;
  const text = p.progress ? progressText(p.progress) : "";
  const stage = String(p.progress?.stage ?? p.state);
  return (
    <div class="progress" data-testid="live-progress" data-fraction={f ?? ""} data-epoch={p.progress?.epoch ?? ""} data-step={p.progress?.step ?? ""}>
      <span class="progress-stage">{stage}</span>
      {f !== undefined ? (
        <progress max={1} value={f} aria-label={`${stage} progress`} aria-valuetext={`${Math.round(100 * f)}%${text ? `, ${text}` : ""}`} />
      ) : (
        <progress aria-label={`${stage} in progress`} />
      )}
      <span class="progress-text">{f !== undefined ? `${Math.round(100 * f)}%` : ""}{text ? ` · ${text}` : ""}</span>
    </div>
  );
}
