// INITIALIZING, second part: what the selection reads besides the images (metadata, tags, prediction
// tasks, relevant_filenames_file) and the earlier datapool runs, checked now rather than after training.
import type { RunRecord } from "../store.js";
import type { RunContext } from "../context.js";
import { datapoolRuns } from "../checkpoint-source.js";
import { predictionsDirFor } from "../object-level.js";
import { checkSelectionSources, readRelevantFilenames, type SelectionSources } from "../selection-sources.js";
import { checkSequenceConfig } from "../sequence-select.js";

export interface RunInputs {
  selectionSources: SelectionSources;
  /** relevant_filenames_file's names; null when not set. */
  relevant: string[] | null;
  /** Earlier runs on this input that count for use_datapool (empty without it). */
  datapoolRuns: RunRecord[];
}

export function resolveInputs(ctx: RunContext): RunInputs {
  const { input, options, plan } = ctx;
  const wc = ctx.config.worker_config;
  const selectionSources = checkSelectionSources(ctx.config.selection_config, {
    input, lightlyPath: options.lightlyPath, predictionsDir: plan.tasks.length ? predictionsDirFor(input, options.lightlyPath) : null, tags: options.tags,
  });
  const relevant = readRelevantFilenames(wc.relevant_filenames_file, { input, lightlyPath: options.lightlyPath, policy: options.policy });
  if (relevant) ctx.log(`relevant_filenames_file: selecting among ${relevant.length} listed file(s)`);
  checkSequenceConfig(ctx.config, relevant);
  return { selectionSources, relevant, datapoolRuns: wc.use_datapool ? datapoolRuns(input) : [] };
}
