// `winnow run`: the whole job on one machine, as a Lightly worker run does it. A folder of images in;
// the resolved config, the corrupt/duplicate lists, a checkpoint (training runs), the embeddings,
// the selection and a report out, in one output folder, with a record in the local runs index.
// A service worker's job (src/worker/job.ts) calls this same function with its hooks as options.
//
// A run is a list of stages (src/run/stages/, one file each) over one RunContext (src/run/context.ts).
// States (Lightly's): INITIALIZING → LOADING_DATASET → CHECKING_CORRUPTNESS → [TRAINING] → EMBEDDING
// → SAMPLING → SAVING_RESULTS → GENERATING_REPORT → COMPLETED | FAILED | ABORTED. The record is
// rewritten at every change. Every file is written atomically, and report.json/report.html are
// written only once everything else is in place, so a FAILED or ABORTED folder never looks complete.
import * as fs from "node:fs";
import * as path from "node:path";
import { readRunConfigFile, resolveRunConfig, RunConfigError } from "../config/run-config.js";
import { objectLevelPlan } from "../config/object-level.js";
import type { WorkerTrainResult } from "../ssl/index.js";
import { createRunContext, enterState, type RunContext } from "./context.js";
import type { RunOptions } from "./options.js";
import { createOutputFolder } from "./output-folder.js";
import type { RunPaths } from "./paths.js";
import type { RunReport } from "./report.js";
import { localResumeSource } from "./resume.js";
import { withSourceModel } from "./source-model.js";
import { newRunId, type RunRecord } from "./store.js";
import { initialize } from "./stages/initialize.js";
import { resolveInputs } from "./stages/preflight.js";
import { resolveStartingWeights, startingWeightsLabel } from "./stages/starting-weights.js";
import { loadDataset } from "./stages/load-dataset.js";
import { checkCorruptness } from "./stages/check-corruptness.js";
import { train } from "./stages/train.js";
import { embed } from "./stages/embed.js";
import { sample } from "./stages/sample.js";
import { saveResults } from "./stages/save-results.js";
import { exportSelectedFrames } from "./export-frames.js";
import { generateReport } from "./stages/report.js";
import { completeRun, failRun, hardStopRun } from "./stages/end.js";
import * as torch from "../torch/index.js";
import { joinAsRankZero, leaveGroup, rankPlanOf, sharePlan } from "./ranks.js";

export type { RunOptions } from "./options.js";
export { runPaths, type RunPaths } from "./paths.js";
export { RunError } from "./run-error.js";

export interface RunResult {
  record: RunRecord;
  paths: RunPaths;
  report: RunReport;
}

/** Runs the whole job. Config problems throw RunConfigError before anything is written. */
export async function run(opts: RunOptions): Promise<RunResult> {
  const ctx = prepareRun(opts);
  const onAbort = (): void => ctx.open.training?.abort();
  const onHardStop = (): void => hardStopRun(ctx);
  opts.signal?.addEventListener("abort", onAbort);
  opts.hardStop?.addEventListener("abort", onHardStop);
  try {
    return await runStages(ctx);
  } catch (e) {
    throw failRun(ctx, e);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    opts.hardStop?.removeEventListener("abort", onHardStop);
    ctx.open.training?.abort();
    ctx.open.cache?.close();
    ctx.open.predictions?.close();
    if (ctx.pg && !ctx.pg.isDestroyed) ctx.pg.destroy(); // the other ranks see it close and stop
    ctx.close();
  }
}

/** The stages in order; each state is entered here, so the list of states a run passes is this function. */
async function runStages(ctx: RunContext): Promise<RunResult> {
  enterState(ctx, "INITIALIZING");
  if (ctx.options.ranks) joinAsRankZero(ctx, ctx.options.ranks);
  initialize(ctx);
  if (ctx.options.ranks) torch.setNumThreads(ctx.options.ranks.threads);
  const inputs = resolveInputs(ctx);
  const start = await resolveStartingWeights(ctx, inputs.datapoolRuns);

  enterState(ctx, "LOADING_DATASET");
  const data = await loadDataset(ctx);
  ctx.pg?.barrier(); // the other ranks now open the decoded cache
  enterState(ctx, "CHECKING_CORRUPTNESS");
  checkCorruptness(ctx, data);

  let training: WorkerTrainResult | null = null;
  ctx.record.weights = startingWeightsLabel(ctx, start);
  if (ctx.pg) sharePlan(ctx.pg, rankPlanOf(ctx, start));
  if (ctx.config.worker_config.enable_training) {
    enterState(ctx, "TRAINING");
    training = await train(ctx, data, start);
  } else if (start.checkpoint) {
    ctx.record.checkpoint = start.checkpoint.path;
  }

  enterState(ctx, "EMBEDDING");
  const embeddings = await embed(ctx, data, start, training);
  leaveGroup(ctx.pg); // the other ranks are done
  enterState(ctx, "SAMPLING");
  const selection = await sample(ctx, data, inputs, embeddings);
  enterState(ctx, "SAVING_RESULTS");
  const datapoolIdx = saveResults(ctx, embeddings, selection);
  if (data.videos) await exportSelectedFrames(ctx, data.videos, selection.pickedImages);
  enterState(ctx, "GENERATING_REPORT");
  const report = await generateReport(ctx, { data, training, embeddings, selection, datapoolIdx });
  completeRun(ctx, selection);
  return { record: ctx.record, paths: ctx.paths, report };
}

/** Config first (a bad config never becomes a run), then the output folder and the context. */
function prepareRun(opts: RunOptions): RunContext {
  const local = typeof opts.resume === "string" ? localResumeSource(opts.resume, opts) : null;
  const resume = local ? { runId: local.record.id, checkpoint: local.checkpoint } : typeof opts.resume === "object" ? opts.resume : null;
  const source = local
    ? { raw: local.config as unknown, line: null }
    : withSourceModel(opts.configFile ? readRunConfigFile(opts.configFile) : opts.config ?? {}, opts.overrides);
  const config = resolveRunConfig(source.raw, opts.overrides ?? {}, opts.configFile ?? null);
  const inputGiven = local ? local.record.input : opts.input;
  if (inputGiven === undefined) throw new RunConfigError([{ path: "input", message: "no input folder given" }]);
  // Checked by resolveRunConfig already: which tasks are read, and whether crops are selected/trained on.
  const plan = objectLevelPlan(config.worker_config, config.selection_config).plan!;

  const id = newRunId();
  const output = path.resolve(opts.output ?? path.join("winnow-runs", id));
  createOutputFolder(output);
  let input = path.resolve(inputGiven);
  try {
    input = fs.realpathSync(inputGiven);
  } catch {
    /* reported in INITIALIZING, as the run's failure */
  }
  return createRunContext({ id, config, plan, output, input, inputGiven, resume, sourceLine: source.line, options: opts });
}
