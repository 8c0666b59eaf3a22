// CHECKING_CORRUPTNESS: the corrupt and duplicate lists (Lightly's files), the prediction problems, and
// the run stops when nothing usable is left to embed or train on.
import { writeFileAtomic } from "../../util/atomic.js";
import { WinnowError } from "../../util/errors.js";
import type { RunContext } from "../context.js";
import { jsonText, linesText } from "../files.js";
import { writePredictionIssues, malformedFiles } from "../object-level.js";
import type { RunData } from "./load-dataset.js";

export function checkCorruptness(ctx: RunContext, data: RunData): void {
  const { cache } = data;
  const { paths } = ctx;
  const corrupt = cache.corruptFilenames;
  const duplicates = cache.duplicates;
  writeFileAtomic(paths.corruptFilenames, linesText(corrupt.map((c) => c.filename)), { mkdir: true });
  writeFileAtomic(paths.duplicateFilenames, linesText(duplicates.map((d) => d.filename)), { mkdir: true });
  writeFileAtomic(paths.corruptnessInformation,
    jsonText({ corrupt_samples: Object.fromEntries(corrupt.map((c) => [c.filename, `${c.code}: ${c.reason}`])) }), { mkdir: true });
  ctx.log(`${cache.length} usable images, ${corrupt.length} corrupt, ${duplicates.length} exact duplicate(s)`);
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

function reportPredictionIssues(ctx: RunContext, data: RunData): void {
  const preds = data.predictions!;
  const issues = data.predictionIssues;
  writePredictionIssues(ctx.paths, preds.dir, issues);
  for (const t of issues) {
    const bad = malformedFiles([t]).length;
    ctx.log(`predictions "${t.task}": ${t.predictionFiles} file(s) read, ${t.missing} usable image(s) without one, ${t.issues.length} issue(s)${bad ? ` (${bad} malformed file(s) skipped)` : ""}` +
      `${preds.crops.has(t.task) ? `; ${preds.crops.get(t.task)!.length} crop(s), ${t.skippedCrops.length} skipped` : ""}`);
  }
  const bad = malformedFiles(issues);
  if (bad.length) ctx.note(`${bad.length} malformed prediction file(s) skipped (listed in filenames/malformed_prediction_files.txt): ${bad.slice(0, 3).join(", ")}${bad.length > 3 ? ", …" : ""}`);
}
