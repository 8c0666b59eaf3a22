// Progress and ETA: after every step, the step's loss, the learning rate, the epoch's mean loss so far,
// the throughput over the last 20 steps and the time left at that pace; after every epoch, its summary.
import type { TrainProgress, EpochSummary } from "../../util/progress.js";
import type { TrainLoopState } from "../loop-state.js";
import type { TrainCallback, BatchEnd, EpochEnd } from "./callback.js";

const RECENT_STEPS = 20;
export const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

export class ProgressCallback implements TrainCallback {
  /** Milliseconds per image of the last RECENT_STEPS steps. */
  private readonly recent: number[] = [];
  private epochT0 = 0;
  private epochImages = 0;

  constructor(
    private readonly onProgress: ((p: TrainProgress) => void) | undefined,
    private readonly onEpochSummary: ((e: EpochSummary) => void) | undefined,
    /** The checkpoint each epoch writes (named in the summary). */
    private readonly checkpointPath: string,
  ) {}

  onEpochStart(): void {
    this.epochT0 = performance.now();
    this.epochImages = 0;
  }

  onBatchEnd(s: TrainLoopState, b: BatchEnd): void {
    this.epochImages += b.count;
    this.recent.push(b.ms / b.count);
    if (this.recent.length > RECENT_STEPS) this.recent.shift();
    const perImage = mean(this.recent);
    const remainingSteps = (s.maxEpochs - b.epoch - 1) * s.stepsPerEpoch + (s.stepsPerEpoch - b.step - 1);
    this.onProgress?.({
      epoch: b.epoch, epochs: s.maxEpochs, step: b.step + 1, stepsPerEpoch: s.stepsPerEpoch, globalStep: s.globalStep, loss: b.loss,
      lr: s.optimizer.getLr()[0], epochLoss: mean(s.partialLosses),
      imagesPerSecond: 1000 / perImage, etaSeconds: (remainingSteps * s.batchSize * perImage) / 1000,
    });
  }

  onEpochEnd(s: TrainLoopState, e: EpochEnd): void {
    const secs = (performance.now() - this.epochT0) / 1000;
    this.onEpochSummary?.({
      epoch: e.epoch, epochs: s.maxEpochs, loss: e.loss, steps: s.stepsPerEpoch,
      imagesPerSecond: secs > 0 ? this.epochImages / secs : 0, seconds: secs, checkpoint: this.checkpointPath,
    });
  }
}
