// What the training loop and its callbacks share: the run's fixed plan and its position and history,
// mutated by the loop only (callbacks read it; the checkpoint callback also records lastCheckpoint).
import type { SGD } from "../nn/index.js";
import type { SimCLR } from "../models/index.js";
import type { LightlyConfig } from "../config/lightly-config.js";
import type { ResumeState } from "../models/training-checkpoint.js";

export interface TrainLoopState {
  readonly model: SimCLR;
  readonly optimizer: SGD;
  readonly config: LightlyConfig;
  readonly numImages: number;
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  readonly maxEpochs: number;
  /** Steps of the whole run (what the cosine schedule spans). */
  readonly totalSteps: number;
  /** Epoch in progress (0-based). */
  epoch: number;
  /** Steps already done in `epoch` when it (re)starts; 0 after the first resumed epoch. */
  step: number;
  globalStep: number;
  /** Mean loss of every completed epoch (resumed ones included). */
  epochLosses: number[];
  /** Losses of the steps done in the epoch in progress (resumed ones included). */
  partialLosses: number[];
  /** Loss of every step run by this call. */
  stepLosses: number[];
  /** Images and milliseconds of the steps run by this call (the throughput reported). */
  imagesDone: number;
  trainMs: number;
  /** True when a stop request ended training early. */
  aborted: boolean;
  /** The newest checkpoint on disk, if any (named in errors: "the last good checkpoint"). */
  lastCheckpoint: string | null;
}

/**
 * The position a run starts at: from the beginning, or where a resumed checkpoint left off. A
 * checkpoint of a run on another number of ranks has other steps per epoch (each rank's shard is
 * 1/worldSize of the images): its position maps by the share of the epoch done, and its step count
 * by the same ratio (the cosine schedule's position). Which images the rest of that epoch visits
 * then differs from an uninterrupted run (another shard order); whole epochs are unaffected.
 */
export function startPosition(
  resume: ResumeState | null, stepsPerEpoch: number, worldSize = 1,
): Pick<TrainLoopState, "epoch" | "step" | "globalStep" | "epochLosses" | "partialLosses"> {
  if (!resume) return { epoch: 0, step: 0, globalStep: 0, epochLosses: [], partialLosses: [] };
  const remap = (resume.worldSize ?? 1) !== worldSize && resume.stepsPerEpoch !== stepsPerEpoch;
  const scale = (k: number): number => (remap ? Math.round((k * stepsPerEpoch) / resume.stepsPerEpoch) : k);
  const step = remap ? Math.min(stepsPerEpoch, scale(resume.step)) : resume.step;
  const next = step >= stepsPerEpoch; // stopped after an epoch's last step: the next epoch begins
  return {
    epoch: next ? resume.epoch + 1 : resume.epoch,
    step: next ? 0 : step,
    globalStep: scale(resume.globalStep),
    epochLosses: [...resume.epochLosses],
    partialLosses: !next && resume.step > 0 ? [...resume.partialStepLosses] : [],
  };
}
