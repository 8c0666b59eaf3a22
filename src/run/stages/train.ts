// TRAINING: the model trained in a worker thread (src/ssl/train-worker.ts) so progress output and Ctrl-C
// stay live. An abort stops after the current step; the checkpoint it keeps goes into the record.
import { trainInWorker, type WorkerTrainResult } from "../../ssl/index.js";
import { formatDuration } from "../../util/progress.js";
import { WinnowError } from "../../util/errors.js";
import { Aborted, type RunContext } from "../context.js";
import { trainingProgress } from "../live-progress.js";
import { saveRunRecord } from "../store.js";
import type { RunData } from "./load-dataset.js";
import { trainedWeightsLabel, type StartingPoint } from "./starting-weights.js";

/** Trains on data.trainItems from the starting point; the record gets the checkpoint (saved). */
export async function train(ctx: RunContext, data: RunData, start: StartingPoint): Promise<WorkerTrainResult> {
  const { record, printer, options: opts } = ctx;
  const wc = ctx.config.worker_config;
  const handle = trainInWorker({
    cacheDir: data.trainItems.dir, removeExactDuplicates: wc.remove_exact_duplicates, exclude: [...data.trainItems.excluded], config: ctx.config.lightly_config, outDir: ctx.paths.checkpoints,
    device: ctx.device, startFrom: start.checkpoint?.path ?? start.pretrained?.path, resumeFrom: start.resumeFrom ?? undefined,
    numThreads: wc.num_threads >= 1 ? wc.num_threads : undefined,
    onProgress: (p) => (printer?.update(p), opts.onProgress?.(trainingProgress(record.state, p))),
    onEpochEnd: (e) => {
      printer?.epoch(e);
      ctx.log(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(e.seconds)}`, false);
    },
    log: ctx.log,
  });
  ctx.open.training = handle;
  if (ctx.signal?.aborted) handle.abort();
  const training = await handle.result;
  ctx.open.training = null;
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
