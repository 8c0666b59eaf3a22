// Self-supervised learning: losses (NT-Xent), the SimCLR trainer (a loop plus callbacks) and its worker-thread runner.
export { ntXentLoss, NTXentLoss, type NegativesGroup } from "./ntxent.js";
export { DataParallelCallback } from "./callbacks/data-parallel.js";
export {
  train, deriveSeed, epochOrder, prefetchByDefault, readTrainingCheckpoint, RESUME_FORMAT, RESUME_KEY, MOMENTUM_PREFIX,
  type TrainOptions, type TrainResult, type ResumeState, type CheckpointContents, type TrainProgress, type EpochSummary,
} from "./trainer.js";
export { trainInWorker, type TrainHandle, type TrainInWorkerOptions, type WorkerTrainOptions, type WorkerTrainResult, type WorkerMessage } from "./train-worker.js";
export { ViewPrefetcher, type PrefetchPlan } from "./prefetch.js";
export type { TrainCallback, BatchEnd, EpochEnd, StopAt } from "./callbacks/callback.js";
export type { TrainLoopState } from "./loop-state.js";
export { stepPlan } from "./seeds.js";
