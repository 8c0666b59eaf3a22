// The end of a run: COMPLETED, or FAILED/ABORTED (the record says why), or a hard stop (a second Ctrl-C:
// the caller exits right away). A folder that did not complete never keeps a report.
import * as fs from "node:fs";
import { formatDuration } from "../../util/progress.js";
import { Aborted, enterState, type RunContext } from "../context.js";
import { RunError } from "../run-error.js";
import { END_STATES } from "../states.js";
import { saveRunRecord } from "../store.js";
import * as path from "node:path";
import type { RunSelection } from "./sample.js";
import { DistributedError } from "../../distributed/index.js";

export function completeRun(ctx: RunContext, sel: RunSelection): void {
  const { record, paths } = ctx;
  enterState(ctx, "COMPLETED");
  record.endedAt = new Date().toISOString();
  record.durationMs = Date.now() - ctx.t0;
  saveRunRecord(record);
  const what = sel.pickedCrops
    ? `${sel.picked.length} crop(s) selected → ${paths.selectedCrops}, their ${sel.pickedImages.length} image(s)`
    : `${sel.picked.length} selected`;
  ctx.log(`COMPLETED in ${formatDuration(record.durationMs / 1000)}: ${what} → ${paths.selectedFilenames}\nreport: ${paths.reportHtml}`);
}

/** Ends the record FAILED or ABORTED (an Aborted error, or the signal fired) and returns the RunError to throw. */
export function failRun(ctx: RunContext, e: unknown): RunError {
  const { record, paths } = ctx;
  // The signal's reason is a DistributedError when another rank failed: not the user's abort.
  const peer = ctx.signal?.aborted && ctx.signal.reason instanceof DistributedError ? (ctx.signal.reason as DistributedError) : null;
  const aborted = !peer && (e instanceof Aborted || Boolean(ctx.signal?.aborted));
  const prev = record.stages[record.stages.length - 1];
  if (prev && prev.durationMs === null) prev.durationMs = Math.round(performance.now() - ctx.stageT0);
  if (!aborted && (peer || e instanceof DistributedError)) keepLastCheckpoint(ctx);
  record.state = aborted ? "ABORTED" : "FAILED";
  record.error = (peer && !(e instanceof DistributedError) ? peer : (e as Error)).message;
  endRecord(ctx);
  ctx.printer?.done();
  ctx.log(`${record.state}: ${record.error}`);
  saveRunRecord(record);
  ctx.options.onState?.(record.state);
  return new RunError(`run ${ctx.id} ${record.state}: ${record.error}`, record, paths, e);
}

/**
 * A second Ctrl-C: the record ends ABORTED now, with the checkpoint the trainer last wrote (atomically,
 * so it is whole), instead of staying in its state forever once the caller exits.
 */
export function hardStopRun(ctx: RunContext): void {
  const { record } = ctx;
  if (END_STATES.has(record.state)) return;
  const last = path.join(ctx.checkpointDir, "last.ckpt");
  if (!record.checkpoint && record.state === "TRAINING" && fs.existsSync(last)) record.checkpoint = last;
  record.state = "ABORTED";
  record.error = `stopped at once in ${record.stages[record.stages.length - 1]?.state ?? "INITIALIZING"} (second Ctrl-C); checkpoint ${record.checkpoint ?? "none"}`;
  endRecord(ctx);
  ctx.log(`ABORTED: ${record.error}`, false);
  saveRunRecord(record);
  ctx.options.onState?.("ABORTED");
}

/**
 * Another rank failed (or this rank's group did): nothing is wrong with the run itself, so a
 * checkpoint the trainer wrote (atomically: it is whole) is kept in the record and the run may be
 * resumed (`winnow run --resume`, on any number of ranks).
 */
function keepLastCheckpoint(ctx: RunContext): void {
  const { record } = ctx;
  const last = path.join(ctx.checkpointDir, "last.ckpt");
  if (record.state === "TRAINING" && !record.checkpoint && fs.existsSync(last)) record.checkpoint = last;
  if (record.state === "TRAINING" && record.checkpoint) record.resumable = true;
}

/** Times the end and removes anything that would make the folder look complete. */
function endRecord(ctx: RunContext): void {
  ctx.record.endedAt = new Date().toISOString();
  ctx.record.durationMs = Date.now() - ctx.t0;
  fs.rmSync(ctx.paths.reportJson, { force: true });
  fs.rmSync(ctx.paths.reportHtml, { force: true });
}
