// SimCLR training over the image cache, as Lightly's CLI/worker trains (lightly/cli/train_cli.py):
// SimCLR model with the plain projection head, NT-Xent(temperature), torch.optim.SGD(lr, weight_decay)
// with a constant learning rate (or, as Winnow's option optimizer.lr_schedule: cosine, a cosine decay to 0 over
// the run's steps), batch_size capped at the dataset size, drop_last, one checkpoint per epoch.
//
// Each step: a batch of cached uint8 images → two augmented views on the device (lightly's collate
// recipe, transforms/augment.ts) → backbone + head run on each view separately (as lightly's _SimCLR
// does, so BatchNorm sees each view's batch statistics) → NT-Xent → SGD.
//
// Reproducibility and resume: the model is initialised after torch.manualSeed(seed); each epoch's
// permutation and each step's augmentations draw from seeds derived from (seed, epoch, step), not
// from a stream that depends on what ran before. A checkpoint (written atomically at the end of every
// epoch, and on abort after the current step) holds the weights, BatchNorm statistics, the SGD
// momentum buffers and the position, so a resumed run computes exactly what the uninterrupted run
// computes (on the CPU; CUDA kernels may differ in the last bits).
//
// The parts: train-setup.ts (device, batches, starting point), views.ts (the views of each step, with
// the prefetch worker), training-step.ts (the step), train-loop.ts (epochs and steps), callbacks/
// (checkpoints with top-k rotation, progress and ETA; a distributed-training callback would go there).
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../torch/index.js";
import type { Device } from "../torch/index.js";
import { SGD } from "../nn/index.js";
import { SimCLR, buildModel, loadStartingWeights, type ModelConfig } from "../models/index.js";
import { loadOptimizerMomentum, type ResumeState as ResumeStateOf, type CheckpointContents as ContentsOf } from "../models/training-checkpoint.js";
import type { ImageCache, CorruptFile } from "../data/index.js";
import type { AugmentOptions } from "../transforms/index.js";
import type { LightlyConfig } from "../config/lightly-config.js";
import type { TrainProgress, EpochSummary } from "../util/progress.js";
import { WinnowError } from "../util/errors.js";
import { chooseDevice, planBatches, readStartingPoint, type StartingPoint } from "./train-setup.js";
import { ViewSource } from "./views.js";
import { startPosition, type TrainLoopState } from "./loop-state.js";
import { runTrainLoop } from "./train-loop.js";
import { CallbackList, type TrainCallback } from "./callbacks/callback.js";
import { CheckpointCallback } from "./callbacks/checkpoint.js";
import { ProgressCallback } from "./callbacks/progress.js";
import type { Precision } from "./training-step.js";
import type { ProcessGroup } from "../distributed/index.js";

export type { TrainProgress, EpochSummary };
// Checkpoint reading lives with the models (src/models/training-checkpoint.ts); re-exported for callers of this module.
export { readTrainingCheckpoint, RESUME_FORMAT, RESUME_KEY, MOMENTUM_PREFIX } from "../models/training-checkpoint.js";
export type ResumeState = ResumeStateOf<LightlyConfig>;
export type CheckpointContents = ContentsOf<LightlyConfig>;
export { deriveSeed, epochOrder } from "./seeds.js";
export { prefetchByDefault } from "./views.js";

export interface TrainOptions {
  /** The images (built by buildImageCache / openImageCache); index order is filename order. */
  cache: ImageCache;
  /** Resolved lightly_config (parseLightlyConfig). */
  config: LightlyConfig;
  /** Folder for checkpoints when lightly_config.checkpoint_callback.dirpath is null. */
  outDir: string;
  /** Default: "cuda" when trainer.gpus >= 1 and CUDA is available, else "cpu". */
  device?: Device;
  /** Initial weights from a checkpoint (PyTorch/Lightly-made or Winnow-made); training starts at epoch 0. */
  startFrom?: string;
  /** Continue a Winnow run from one of its checkpoints: weights, momentum, epoch and step. */
  resumeFrom?: string;
  /** Projection head with BatchNorm (lightly's library head). Default: model.projection_head_batch_norm, or the variant of startFrom/resumeFrom. */
  projectionHeadBatchNorm?: boolean;
  /** Keep the trained model in the result (caller disposes it). Default false: it is freed. */
  keepModel?: boolean;
  /** Passed to simclrViews (e.g. blurPadding); sourceSizes come from the cache. */
  augment?: Omit<AugmentOptions, "sourceSizes">;
  onProgress?: (p: TrainProgress) => void;
  onEpochEnd?: (e: EpochSummary) => void;
  /** Human-readable notes (settings ignored, resume info, …). */
  log?: (msg: string) => void;
  /** Polled after every step: true stops training after that step and writes a checkpoint. */
  shouldStop?: () => boolean;
  /**
   * Prepare the next step's views on a second thread while this one runs the model step (as
   * PyTorch's DataLoader workers do; src/ssl/prefetch.ts). Same results either way. Default
   * (prefetchByDefault): on for CPU training when the machine has 2+ cores more than the training
   * thread's intra-op threads; never on CUDA (there the training thread augments on the GPU).
   * `{ waitFromStep: k }`: from this call's k-th step on, wait for the worker instead of preparing
   * batches here while it starts up (tests, benchmarks).
   */
  prefetch?: boolean | { waitFromStep?: number };
  /** More callbacks (src/ssl/callbacks/callback.ts), called after the built-in checkpoint and progress ones. */
  callbacks?: TrainCallback[];
  /** Data-parallel training over this group (one rank per process); absent: one process, as before. */
  processGroup?: ProcessGroup;
}

export interface TrainResult {
  /** Epochs fully trained (resumed ones included). */
  epochsCompleted: number;
  globalStep: number;
  /** True when shouldStop() ended training early. */
  aborted: boolean;
  /** Loss of every step run by this call. */
  stepLosses: number[];
  /** Mean loss of every completed epoch (resumed ones included). */
  epochLosses: number[];
  imagesPerSecond: number;
  durationMs: number;
  /** Steps whose views the prefetch thread prepared (0 without prefetch). */
  prefetchedSteps: number;
  /** Checkpoint with the final weights, or null (none written). */
  lastCheckpoint: string | null;
  /** Best epoch checkpoint (lightly_epoch_{e}.ckpt), null when save_top_k = 0. */
  bestCheckpoint: string | null;
  /** What Lightly reports as "the" checkpoint: best if there is one, else the last. */
  checkpoint: string | null;
  /** All checkpoints left on disk. */
  checkpoints: string[];
  modelConfig: ModelConfig;
  device: string;
  precision: "32" | "bf16-mixed";
  numImages: number;
  batchSize: number;
  stepsPerEpoch: number;
  /** Files of the folder that could not be used (from the cache). */
  corruptFilenames: CorruptFile[];
  notes: string[];
  resumedFrom: { path: string; epoch: number; step: number } | null;
  startedFrom: string | null;
  /** The trained model when keepModel (the caller disposes it). */
  model?: SimCLR;
}

/**
 * Trains SimCLR on `opts.cache` for lightly_config.trainer.max_epochs epochs (or what remains of them
 * when resuming). Async only to let the event loop run between steps (abort, progress output); the
 * engine work itself is synchronous on this thread.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const cfg = opts.config;
  const notes: string[] = [];
  const note = (m: string): void => {
    notes.push(m);
    opts.log?.(m);
  };
  if (opts.startFrom && opts.resumeFrom) throw new WinnowError("invalid_input", "train: give startFrom or resumeFrom, not both");
  const { device, onCuda, precision } = chooseDevice(cfg, opts.device, note);
  const plan = planBatches(opts.cache, cfg, note);
  const ckptDir = path.resolve(cfg.checkpoint_callback.dirpath ?? opts.outDir);
  fs.mkdirSync(ckptDir, { recursive: true });
  const start = readStartingPoint(cfg, opts, opts.cache.length, note);

  torch.manualSeed(cfg.seed);
  const model = buildModel(start.modelConfig) as SimCLR;
  let opt: SGD | null = null;
  let keep = false;
  let views: ViewSource | null = null;
  try {
    views = new ViewSource({
      cache: opts.cache, device, onCuda, seed: cfg.seed, shuffle: cfg.loader.shuffle, batchSize: plan.batchSize, stepsPerEpoch: plan.stepsPerEpoch,
      maxEpochs: cfg.trainer.max_epochs,
      collate: cfg.collate, augment: opts.augment, prefetch: opts.prefetch, note,
    });
    model.to({ device, memoryFormat: "channels_last" }); // see views.ts on channels_last
    if (start.contents) loadStartingWeights(model, start.contents.stateDict); // a pretrained backbone's own file loads into the backbone
    model.train();
    opt = new SGD(model.parameters(), { lr: cfg.optimizer.lr, weightDecay: cfg.optimizer.weight_decay, momentum: cfg.optimizer.momentum });
    if (start.resume) {
      const loaded = loadOptimizerMomentum(model, opt, start.contents!.top);
      if (cfg.optimizer.momentum > 0 && loaded === 0 && start.resume.globalStep > 0) note(`${opts.resumeFrom} holds no momentum buffers: momentum restarts from zero`);
    }
    logStart(opts, model, start, { device, precision, ...plan });

    const s: TrainLoopState = {
      model, optimizer: opt, config: cfg, numImages: opts.cache.length, ...plan, maxEpochs: cfg.trainer.max_epochs,
      ...startPosition(start.resume, plan.stepsPerEpoch), stepLosses: [], imagesDone: 0, trainMs: 0, aborted: false, lastCheckpoint: null,
    };
    const checkpoints = new CheckpointCallback(ckptDir, opts.log, start.resume);
    const progress = new ProgressCallback(opts.onProgress, opts.onEpochEnd, checkpoints.lastPath);
    const callbacks = new CallbackList([checkpoints, progress, ...(opts.callbacks ?? [])]);
    await runTrainLoop(s, { views, callbacks, precision, shouldStop: opts.shouldStop });

    keep = opts.keepModel ?? false;
    return {
      epochsCompleted: s.epochLosses.length, globalStep: s.globalStep, aborted: s.aborted, stepLosses: s.stepLosses, epochLosses: s.epochLosses,
      imagesPerSecond: s.trainMs > 0 ? (s.imagesDone * 1000) / s.trainMs : 0, durationMs: performance.now() - t0, prefetchedSteps: views.prefetchedSteps,
      ...checkpoints.result(),
      modelConfig: model.config, device, precision, numImages: s.numImages, batchSize: s.batchSize, stepsPerEpoch: s.stepsPerEpoch,
      corruptFilenames: opts.cache.corruptFilenames, notes,
      resumedFrom: start.resume ? { path: opts.resumeFrom!, epoch: start.resume.epoch, step: start.resume.step } : null,
      startedFrom: opts.startFrom ?? null,
      model: keep ? model.eval() : undefined,
    };
  } finally {
    await views?.close();
    opt?.dispose();
    if (!keep) model.dispose();
    torch.cpuCache.empty(); // a worker process holds no training-sized blocks between runs
  }
}

/** The model summary (trainer.enable_model_summary), what trains where, and the resume position. */
function logStart(
  opts: TrainOptions, model: SimCLR, start: StartingPoint,
  p: { device: Device; precision: Precision; batchSize: number; stepsPerEpoch: number },
): void {
  const cfg = opts.config;
  const [mc, built] = [start.modelConfig, model.config];
  if (cfg.trainer.enable_model_summary) {
    opts.log?.(`model: SimCLR ${mc.name} width ${mc.width}, ${built.featureConv ? `num_ftrs ${built.numFtrs}` : `no 1×1 conv (${built.numFtrs} features)`}, out_dim ${mc.outDim}, ${built.inputBatchNorm ? "" : "no input BatchNorm, "}head ${mc.projectionHeadBatchNorm ? "with" : "without"} BatchNorm: ${model.numParameters().toLocaleString("en-US")} parameters`);
  }
  const r = start.resume;
  opts.log?.(`training on ${opts.cache.length} images, ${p.device}, ${p.precision === "32" ? "float32" : "bf16 autocast"}, batch ${p.batchSize}, ${p.stepsPerEpoch} steps/epoch, epochs ${r ? r.epoch + 1 : 1}..${cfg.trainer.max_epochs}${start.init ? `, from ${start.init}` : ""}`);
  if (r) {
    const pos = startPosition(r, p.stepsPerEpoch);
    opts.log?.(`resumed from ${opts.resumeFrom}: epoch ${pos.epoch + 1}, step ${pos.step}, ${pos.globalStep} steps done`);
  }
}
