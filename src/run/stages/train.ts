// TRAINING: the model trained in a worker thread (src/ssl/train-worker.ts) so progress output and Ctrl-C
// stay live. An abort stops after the current step; the checkpoint it keeps goes into the record.
import { train as trainModel, trainInWorker, type TrainOptions, type WorkerTrainResult } from "../../ssl/index.js";
import { formatDuration } from "../../util/progress.js";
import { WinnowError } from "../../util/errors.js";
import { Aborted, type RunContext } from "../context.js";
import { trainingProgress } from "../live-progress.js";
import { saveRunRecord } from "../store.js";
import type { RunData } from "./load-dataset.js";
import { trainedWeightsLabel, type StartingPoint } from "./starting-weights.js";

/** Trains on data.trainItems from the starting point; the record gets the checkpoint (saved). */
export async function train(ctx: RunContext, data: RunData, start: StartingPoint): Promise<WorkerTrainResult> {
  const training = ctx.pg ? await trainOnRanks(ctx, data, start) : await trainOffThread(ctx, data, start);
  return finishTraining(ctx, start, training);
}

/** One process: training in a worker thread, so that progress and Ctrl-C stay live. */
async function trainOffThread(ctx: RunContext, data: RunData, start: StartingPoint): Promise<WorkerTrainResult> {
  const { record, printer, options: opts } = ctx;
  const wc = ctx.config.worker_config;
  const handle = trainInWorker({
    cacheDir: data.trainItems.dir, removeExactDuplicates: wc.remove_exact_duplicates, exclude: [...data.trainItems.excluded], config: ctx.config.lightly_config, outDir: ctx.paths.checkpoints,
    device: ctx.device, startFrom: start.checkpoint?.path ?? start.pretrained?.path, resumeFrom: start.resumeFrom ?? undefined,
    numThreads: wc.num_threads >= 1 ? wc.num_threads : undefined,
    ...callbacksOf(ctx),
  });
  ctx.open.training = handle;
  if (ctx.signal?.aborted) handle.abort();
  const training = await handle.result;
  ctx.open.training = null;
  return training;
}

function callbacksOf(ctx: RunContext): Pick<TrainOptions, "onProgress" | "onEpochEnd" | "log"> {
  const { record, printer, options: opts } = ctx;
  return {
    onProgress: (p) => (printer?.update(p), opts.onProgress?.(trainingProgress(record.state, p))),
    onEpochEnd: (e) => {
      printer?.epoch(e);
      ctx.log(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(e.seconds)}`, false);
    },
    log: ctx.log,
  };
}

/**
 * Rank 0 of several: train() on this thread with the process group (its handle lives on the thread
 * that made it). Collectives block the thread during a step; Ctrl-C is taken between steps.
 */
async function trainOnRanks(ctx: RunContext, data: RunData, start: StartingPoint): Promise<WorkerTrainResult> {
  const { model, ...result } = await trainModel({
    cache: data.trainItems, config: ctx.config.lightly_config, outDir: ctx.paths.checkpoints, device: ctx.device, processGroup: ctx.pg!,
    startFrom: start.checkpoint?.path ?? start.pretrained?.path, resumeFrom: start.resumeFrom ?? undefined,
    shouldStop: () => Boolean(ctx.signal?.aborted), ...callbacksOf(ctx),
  });
  model?.dispose();
  return result;
}

function finishTraining(ctx: RunContext, start: StartingPoint, training: WorkerTrainResult): WorkerTrainResult {
  const { record, printer } = ctx;
  printer?.done();
  if (training.aborted || ctx.signal?.aborted) {
    record.checkpoint = training.lastCheckpoint;
    throw new Aborted(`aborted during training (checkpoint ${training.lastCheckpoint ?? "none"})`);
  }
  for (const n of training.notes) ctx.notes.push(n);
  if (!training.checkpoint) {
    throw new WinnowError("invalid_config", "training kept no checkpoint (lightly_config.checkpoint_callback: save_last false and save_top_k 0): the run needs one to embed with",
      { where: "lightly_config.checkpoint_callback" });
  }
  record.checkpoint = training.checkpoint;
  record.trained = true;
  record.weights = trainedWeightsLabel(ctx, start);
  saveRunRecord(record);
  return training;
}
