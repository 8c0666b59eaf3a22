// The training loop: epochs of steps from the loop state's position, with the callbacks' hooks around
// them. Async only to let the event loop run once per step (abort requests, progress output); the
// engine work itself is synchronous on this thread.
import { WinnowError } from "../util/errors.js";
import { cosineSchedule } from "../nn/index.js";
import { batchLength } from "./seeds.js";
import { trainingStep, type Precision } from "./training-step.js";
import { mean } from "./callbacks/progress.js";
import type { ViewSource } from "./views.js";
import type { CallbackList } from "./callbacks/callback.js";
import type { TrainLoopState } from "./loop-state.js";
import type { NegativesGroup } from "./ntxent.js";
import { DistributedError } from "../distributed/index.js";

export interface LoopParts {
  views: ViewSource;
  callbacks: CallbackList;
  precision: Precision;
  /** Polled after every step: true stops training after that step. */
  shouldStop?: () => boolean;
  /** Negatives gathered from every rank (data-parallel, criterion.gather_distributed). */
  negatives?: NegativesGroup;
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Trains from `s`'s position to the last epoch or a stop request, updating `s`. */
export async function runTrainLoop(s: TrainLoopState, parts: LoopParts): Promise<void> {
  const { views, callbacks } = parts;
  const cfg = s.config;
  const step = { precision: parts.precision, temperature: cfg.criterion.temperature, negatives: parts.negatives, beforeOptimizerStep: callbacks.beforeOptimizerStep(s) };
  let stopRequested = false;
  whilePeersLive(s, callbacks, s.step, () => callbacks.trainStart(s)); // the broadcast: a peer may be gone already
  for (; s.epoch < s.maxEpochs; s.epoch++) {
    callbacks.epochStart(s);
    for (let i = s.step; i < s.stepsPerEpoch; i++) {
      const count = batchLength(s.numImages, s.batchSize, i);
      if (count < 2) continue; // NT-Xent needs two images (a last batch of 1 without drop_last)
      const t0 = performance.now();
      if (cfg.optimizer.lr_schedule === "cosine") s.optimizer.setLr(cosineSchedule(s.globalStep, s.totalSteps, cfg.optimizer.lr, 0));
      const [v0, v1] = await views.next(s.epoch, i, count);
      const loss = whilePeersLive(s, callbacks, i, () => trainingStep(s.model, s.optimizer, v0, v1, step));
      if (!Number.isFinite(loss)) throw diverged(s, i, loss);
      const ms = performance.now() - t0;
      s.trainMs += ms;
      s.imagesDone += count;
      s.globalStep++;
      s.stepLosses.push(loss);
      s.partialLosses.push(loss);
      callbacks.batchEnd(s, { epoch: s.epoch, step: i, count, loss, ms });
      await yieldToEventLoop(); // lets abort requests, progress output and signals through
      if (whilePeersLive(s, callbacks, i + 1, () => parts.shouldStop?.())) stopRequested = true;
      if (stopRequested && i < s.stepsPerEpoch - 1) {
        s.aborted = true;
        callbacks.stop(s, { epoch: s.epoch, step: i + 1 });
        callbacks.trainEnd(s);
        return;
      }
    }
    const loss = mean(s.partialLosses);
    s.epochLosses.push(loss);
    s.partialLosses = [];
    s.step = 0;
    const last = s.epoch + 1 >= s.maxEpochs;
    callbacks.epochEnd(s, { epoch: s.epoch, loss, last });
    if (!last && (stopRequested || parts.shouldStop?.())) {
      s.aborted = true;
      callbacks.stop(s, { epoch: s.epoch, step: null });
      break;
    }
  }
  callbacks.trainEnd(s);
}

/**
 * Runs one collective-bearing part of the loop (the start's broadcast, a step). A DistributedError (a peer died or hung) leaves this
 * rank's model as it was after the last completed step (the failing collectives come before the
 * optimizer step, or after a completed one), so the checkpoint callback keeps that position
 * (`callbacks.fail`: rank 0 writes last.ckpt) before the error goes on: a run whose peer dies in its
 * first epoch is still resumable. Any other error is the model's own (e.g. divergence): no write.
 */
function whilePeersLive<T>(s: TrainLoopState, callbacks: CallbackList, resumeStep: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DistributedError) {
      if (resumeStep >= s.stepsPerEpoch) {
        // The epoch's last step was done: record the epoch as its end would (a resume starts the next one).
        s.epochLosses.push(mean(s.partialLosses));
        s.partialLosses = [];
      }
      callbacks.fail(s, { epoch: s.epoch, step: resumeStep });
    }
    throw e;
  }
}

function diverged(s: TrainLoopState, step: number, loss: number): WinnowError {
  return new WinnowError(
    "invalid_config",
    `training diverged: loss is ${loss} at epoch ${s.epoch + 1}, step ${step + 1} (lower optimizer.lr; the last good checkpoint is ${s.lastCheckpoint ?? "not written yet"})`,
    { where: "lightly_config.optimizer.lr" },
  );
}
