// CHECKING_CORRUPTNESS: the corrupt and duplicate lists (Lightly's files), the prediction problems, and
// the run stops when nothing usable is left to embed or train on.
import { writeFileAtomic } from "../../util/atomic.js";
import { WinnowError } from "../../util/errors.js";
import type { RunContext } from "../context.js";
import { jsonText, linesText } from "../files.js";
import { writePredictionIssues, malformedFiles } from "../object-level.js";
import { corruptVideos, type CorruptVideo } from "../videos.js";
import { predictionFileOf } from "../../predictions/index.js";
import type { RunData } from "./load-dataset.js";

export function checkCorruptness(ctx: RunContext, data: RunData): void {
  const { paths } = ctx;
  const videos = dropCorruptVideos(ctx, data);
  data.corruptVideos = videos;
  const { cache } = data;
  const isVideo = new Set(videos.map((v) => v.video));
  const corrupt = cache.corruptFilenames.filter((c) => !isVideo.has(c.filename));
  const duplicates = cache.duplicates;
  writeFileAtomic(paths.corruptFilenames, linesText([...corrupt.map((c) => c.filename), ...videos.map((v) => v.video)]), { mkdir: true });
  writeFileAtomic(paths.duplicateFilenames, linesText(duplicates.map((d) => d.filename)), { mkdir: true });
  writeFileAtomic(paths.corruptnessInformation, jsonText({
    corrupt_samples: Object.fromEntries(corrupt.map((c) => [c.filename, `${c.code}: ${c.reason}`])),
    ...(data.videos ? { corrupt_videos: Object.fromEntries(videos.map((v) => [v.video, v.reason])) } : {}),
  }), { mkdir: true });
  ctx.log(`${cache.length} usable ${data.videos ? "images and frames" : "images"}, ${corrupt.length} corrupt${data.videos ? `, ${videos.length} corrupt video(s)` : ""}, ${duplicates.length} exact duplicate(s)`);
  if (cache.refused.length) {
    ctx.note(`${cache.refused.length} entr${cache.refused.length === 1 ? "y" : "ies"} refused by the folder listing (symlinks, special files, bad names): ${cache.refused.slice(0, 3).map((r) => r.filename).join(", ")}`);
  }
  if (cache.length === 0) {
    throw new WinnowError("invalid_input", `input ${ctx.input}: no usable images (${cache.stats.files} image file(s), ${corrupt.length} corrupt)`, { where: ctx.input });
  }
  if (data.predictions) reportPredictionIssues(ctx, data);
  for (const [task, items] of [[ctx.plan.selectTask, data.items], [ctx.plan.trainTask, data.trainItems]] as const) {
    if (task && items.length === 0) {
      throw new WinnowError("invalid_input", `task "${task}": no usable object crops (every prediction file missing, malformed or without boxes inside its image; see ${paths.predictionIssues})`, { where: paths.predictionIssues });
    }
  }
}

/**
 * Lightly's corruption_threshold: a video with more than that share of undecodable frames is dropped
 * whole (its usable frames and their object crops leave the dataset: training, embedding and selection). Videos that could
 * not be probed are listed too. Returns every corrupt video with the reason. Every rank of a
 * data-parallel run applies it, so that all train on the same set (src/run/ranks.ts).
 */
export function dropCorruptVideos(ctx: RunContext, data: RunData): CorruptVideo[] {
  if (!data.videos) return [];
  const { corrupt, frames } = corruptVideos(data.cache, data.videos, ctx.config.worker_config.corruptness_check.corruption_threshold);
  for (const v of corrupt) ctx.log(`corrupt video ${v.video}: ${v.reason}`);
  if (frames.length) {
    const view = data.cache.without(frames);
    const swap = (c: typeof view): typeof view => (c === data.cache ? view : c);
    data.items = swap(data.items);
    data.trainItems = swap(data.trainItems);
    data.cache.close();
    data.cache = view;
    ctx.open.cache = view;
    // Object crops cut from those frames leave too.
    const preds = data.predictions;
    if (preds?.dropCropsOf(new Set(frames))) {
      if (ctx.plan.selectTask) data.items = preds.crops.get(ctx.plan.selectTask)!;
      if (ctx.plan.trainTask) data.trainItems = preds.crops.get(ctx.plan.trainTask)!;
    }
  }
  return corrupt;
}

function reportPredictionIssues(ctx: RunContext, data: RunData): void {
  const preds = data.predictions!;
  const issues = data.predictionIssues;
  writePredictionIssues(ctx.paths, preds.dir, issues);
  for (const t of issues) {
    const bad = malformedFiles([t]).length;
    const eg = t.missingExamples.slice(0, 2).map((f) => `${f} → ${t.task}/${predictionFileOf(f)}`).join(", ");
    ctx.log(`predictions "${t.task}": ${t.predictionFiles} file(s) read, ${t.missing} usable image(s) without one, ${t.issues.length} issue(s)${bad ? ` (${bad} malformed file(s) skipped)` : ""}` +
      `${preds.crops.has(t.task) ? `; ${preds.crops.get(t.task)!.length} crop(s), ${t.skippedCrops.length} skipped` : ""}${eg ? `; without a file: ${eg}${t.missing > 2 ? ", …" : ""}` : ""}`);
  }
  const bad = malformedFiles(issues);
  if (bad.length) ctx.note(`${bad.length} malformed prediction file(s) skipped (listed in filenames/malformed_prediction_files.txt): ${bad.slice(0, 3).join(", ")}${bad.length > 3 ? ", …" : ""}`);
}
