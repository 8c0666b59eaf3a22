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
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as torch from "../torch/index.js";
import type { Device, Tensor } from "../torch/index.js";
import { SGD, cosineSchedule } from "../nn/index.js";
import {
  SimCLR, buildModel, saveCheckpoint, loadStartingWeights, checkpointLayout, rawToTensor, tensorToWrite,
  type ModelConfig,
} from "../models/index.js";
import { readTorchFile, findStateDict, CheckpointError, isRawTensor, type RawTensor, type ExtraValue } from "../checkpoint/index.js";
import type { ImageCache, CorruptFile } from "../data/index.js";
import { simclrViews, type AugmentOptions } from "../transforms/index.js";
import { modelSettingsOf, precisionMode, type LightlyConfig, type LayoutOverride } from "../config/lightly-config.js";
import type { TrainProgress, EpochSummary } from "../util/progress.js";
import { ntXentLoss } from "./ntxent.js";
import { deriveSeed, epochOrder, batchLength, stepPlan } from "./seeds.js";
import { ViewPrefetcher } from "./prefetch.js";

export type { TrainProgress, EpochSummary };

/** Format tag of the resume metadata stored in Winnow checkpoints. */
export const RESUME_FORMAT = "winnow-simclr-train/1";
/** Top-level checkpoint key holding the resume metadata (a JSON string). */
export const RESUME_KEY = "winnow_resume";
/** Top-level checkpoint key prefix of the SGD momentum buffers (one tensor per parameter name). */
export const MOMENTUM_PREFIX = "winnow_optimizer.momentum_buffer.";

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

/** The resume metadata (JSON under RESUME_KEY). */
export interface ResumeState {
  format: string;
  /** Epoch in progress (== epochsCompleted after a completed epoch). */
  epoch: number;
  /** Steps already done in `epoch`. */
  step: number;
  globalStep: number;
  epochsCompleted: number;
  seed: number;
  numImages: number;
  batchSize: number;
  stepsPerEpoch: number;
  epochLosses: number[];
  /** Losses of the steps done in the epoch in progress (abort mid-epoch). */
  partialStepLosses: number[];
  /** Top-k epoch checkpoints: file name (in the checkpoint folder) and mean loss. */
  best: Array<{ epoch: number; loss: number; file: string }>;
  modelConfig: ModelConfig;
  /** The lightly_config the run used. */
  config: LightlyConfig;
  complete: boolean;
}

// ---- seeds (src/ssl/seeds.ts) ---------------------------------------------------------------------------

export { deriveSeed, epochOrder };

// ---- checkpoints -----------------------------------------------------------------------------------------

/** A checkpoint's top level, state dict and (for Winnow-made ones) resume metadata. */
export interface CheckpointContents {
  top: Map<unknown, unknown>;
  stateDict: Map<string, RawTensor>;
  resume: ResumeState | null;
}

export function readTrainingCheckpoint(file: string): CheckpointContents {
  let top: unknown;
  try {
    top = readTorchFile(file);
  } catch (e) {
    if (!(e instanceof CheckpointError) || e.code !== "UNKNOWN_GLOBAL") throw e;
    top = readTorchFile(file, { lenient: true }); // a Lightning .ckpt's hyper-parameters: dropped, never run
  }
  const stateDict = findStateDict(top);
  let resume: ResumeState | null = null;
  if (top instanceof Map && typeof top.get(RESUME_KEY) === "string") {
    try {
      const r = JSON.parse(top.get(RESUME_KEY) as string) as ResumeState;
      if (r.format === RESUME_FORMAT) resume = r;
    } catch {
      resume = null;
    }
  }
  return { top: top instanceof Map ? top : new Map(), stateDict, resume };
}

function writeCheckpoint(model: SimCLR, opt: SGD, file: string, state: ResumeState): void {
  const extra: Record<string, ExtraValue> = {
    epoch: state.epochsCompleted,
    global_step: state.globalStep,
    [RESUME_KEY]: JSON.stringify(state),
  };
  for (const [name, p] of model.namedParameters()) {
    const buf = opt.state.get(p)?.momentum_buffer;
    if (buf && typeof buf !== "number") extra[MOMENTUM_PREFIX + name] = tensorToWrite(buf);
  }
  saveCheckpoint(model, file, extra);
}

function copyAtomic(src: string, dst: string): void {
  const tmp = path.join(path.dirname(dst), `.${path.basename(dst)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  fs.copyFileSync(src, tmp);
  fs.renameSync(tmp, dst);
}

const TRAINING_KEYS = ["loader.batch_size", "loader.shuffle", "loader.drop_last", "model", "optimizer", "criterion", "collate", "seed"];
function differingKeys(a: LightlyConfig, b: LightlyConfig): string[] {
  const get = (o: unknown, k: string): unknown => k.split(".").reduce<unknown>((v, p) => (v as Record<string, unknown>)?.[p], o);
  return TRAINING_KEYS.filter((k) => JSON.stringify(get(a, k)) !== JSON.stringify(get(b, k)));
}

const onDevice = (t: Tensor, device: Device): Tensor => {
  if (device === "cpu" || t.device === device) return t;
  const m = t.to(device);
  t.dispose();
  return m;
};
const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Whether train() prefetches views on a second thread when not told: on the CPU only (on CUDA the
 * training thread augments on the GPU), and only when the machine has at least two cores more than
 * the training thread's intra-op threads. Without a spare core the worker takes CPU from the model
 * step (OpenMP regions wait for their slowest thread): on the 2-core bench machine prefetch was
 * slower with 2 training threads and with 1 (docs/benchmarks.md), as PyTorch's DataLoader workers
 * there slow its model step more than they save. `os.availableParallelism()` does not see other
 * processes' load, hence the margin of two cores.
 */
export function prefetchByDefault(device: Device, intraOpThreads: number): boolean {
  return String(device) === "cpu" && os.availableParallelism() >= intraOpThreads + 2;
}

// ---- the trainer --------------------------------------------------------------------------------------------

/**
 * Trains SimCLR on `opts.cache` for lightly_config.trainer.max_epochs epochs (or what remains of them
 * when resuming). Async only to let the event loop run between steps (abort, progress output); the
 * engine work itself is synchronous on this thread.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const cfg = opts.config;
  const cache = opts.cache;
  const notes: string[] = [];
  const note = (m: string): void => {
    notes.push(m);
    opts.log?.(m);
  };
  if (opts.startFrom && opts.resumeFrom) throw new Error("train: give startFrom or resumeFrom, not both");

  // Device and precision.
  const cudaOk = torch.cuda.isAvailable();
  let device: Device = opts.device ?? (cfg.trainer.gpus >= 1 && cudaOk ? "cuda" : "cpu");
  if (!opts.device && cfg.trainer.gpus >= 1 && !cudaOk) note("trainer.gpus >= 1 but no CUDA device is available: training on the CPU");
  if (!opts.device && cfg.trainer.gpus > 1 && cudaOk) note(`trainer.gpus = ${cfg.trainer.gpus}: Winnow trains on one GPU`);
  device = String(device);
  const onCuda = device.startsWith("cuda");
  let precision: "32" | "bf16-mixed" = "32";
  if (precisionMode(cfg) === "mixed") {
    if (onCuda) precision = "bf16-mixed";
    else note(`trainer.precision = ${JSON.stringify(cfg.trainer.precision)} is ignored on the CPU: training in float32`);
  }

  // Data.
  const n = cache.length;
  if (n < 2) throw new Error(`train: need at least 2 usable images, the folder has ${n}${cache.corruptFilenames.length ? ` (${cache.corruptFilenames.length} could not be read)` : ""}`);
  const batchSize = Math.min(cfg.loader.batch_size, n);
  if (batchSize < cfg.loader.batch_size) note(`loader.batch_size ${cfg.loader.batch_size} capped at the number of images (${n})`);
  if (cfg.loader.batch_size < 64) note(`small batch size ${cfg.loader.batch_size}: may harm embedding quality (as Lightly warns); set loader.batch_size`);
  const { stepsPerEpoch, totalSteps } = stepPlan(n, batchSize, cfg.loader.drop_last, cfg.trainer.max_epochs);
  if (cache.corruptFilenames.length) note(`${cache.corruptFilenames.length} file(s) skipped (corrupt or unreadable): ${cache.corruptFilenames.slice(0, 5).map((c) => c.filename).join(", ")}${cache.corruptFilenames.length > 5 ? ", …" : ""}`);
  const sourceSizes: Array<[number, number]> = Array.from({ length: n }, (_, i) => [cache.heights[i]!, cache.widths[i]!]);

  // Checkpoint folder.
  const ckptDir = path.resolve(cfg.checkpoint_callback.dirpath ?? opts.outDir);
  fs.mkdirSync(ckptDir, { recursive: true });
  const lastPath = path.join(ckptDir, "last.ckpt");

  // Initial weights / resume state.
  const init = opts.resumeFrom ?? opts.startFrom ?? null;
  const contents = init ? readTrainingCheckpoint(init) : null;
  if (opts.resumeFrom && !contents!.resume) {
    throw new Error(`train: ${opts.resumeFrom} has no Winnow resume state (not written by Winnow's trainer); use startFrom to fine-tune from its weights`);
  }
  // Starting weights dictate the layout (head variant, input BN, 1×1 conv); the config's keys otherwise.
  let layout: LayoutOverride = {};
  if (contents) {
    const l = checkpointLayout(contents.stateDict);
    layout = { inputBatchNorm: l.inputBatchNorm, featureConv: l.featureConv, projectionHeadBatchNorm: l.projectionHeadBatchNorm };
    const configured = modelSettingsOf(cfg);
    const differs = [
      l.projectionHeadBatchNorm !== null && l.projectionHeadBatchNorm !== configured.projectionHeadBatchNorm
        ? `a projection head ${l.projectionHeadBatchNorm ? "with" : "without"} BatchNorm (projection_head_batch_norm: ${l.projectionHeadBatchNorm})` : "",
      l.inputBatchNorm !== configured.inputBatchNorm ? `${l.inputBatchNorm ? "an" : "no"} input BatchNorm (input_batch_norm: ${l.inputBatchNorm})` : "",
      l.featureConv !== configured.featureConv ? `${l.featureConv ? "a" : "no"} 1×1 conv (feature_conv: ${l.featureConv})` : "",
    ].filter(Boolean);
    if (differs.length && opts.projectionHeadBatchNorm === undefined) note(`${init}: the checkpoint's model has ${differs.join(", ")} (lightly_config.model says otherwise); training keeps the checkpoint's layout`);
  }
  if (opts.projectionHeadBatchNorm !== undefined) layout.projectionHeadBatchNorm = opts.projectionHeadBatchNorm;
  const modelConfig: ModelConfig = { ...modelSettingsOf(cfg, layout) };
  const headBN = modelConfig.projectionHeadBatchNorm;

  const resume = opts.resumeFrom ? contents!.resume! : null;
  if (resume) {
    const diff = differingKeys(resume.config, cfg);
    if (diff.length) note(`resuming with different settings than the checkpoint's (${diff.join(", ")}): the result will differ from an uninterrupted run`);
    if (resume.numImages !== n) note(`resuming on ${n} images, the checkpoint's run had ${resume.numImages}: the order of batches differs from an uninterrupted run`);
  }

  torch.manualSeed(cfg.seed);
  const model = buildModel(modelConfig) as SimCLR;
  let opt: SGD | null = null;
  let keep = false;
  let pf: ViewPrefetcher | null = null;
  try {
    // Started first so that its start-up overlaps the model set-up; see prefetch.ts.
    const usePrefetch = (opts.prefetch ?? prefetchByDefault(device, torch.getNumThreads())) !== false && !onCuda && !opts.augment?.profile;
    const waitFromStep = typeof opts.prefetch === "object" ? opts.prefetch.waitFromStep ?? Infinity : Infinity;
    if (usePrefetch) {
      const dup = cache.duplicates[0];
      pf = ViewPrefetcher.start({
        cacheDir: cache.dir, removeExactDuplicates: dup !== undefined && !cache.filenames.includes(dup.filename), n,
        seed: cfg.seed, shuffle: cfg.loader.shuffle, batchSize, stepsPerEpoch, maxEpochs: cfg.trainer.max_epochs,
        collate: cfg.collate, augment: opts.augment ?? {},
      });
    }
    // channels_last: oneDNN (CPU) and cuDNN (GPU) convolutions are faster in it (measured here:
    // ~4x on this CPU for resnet-18 at 32 px, 0.9x the step time on an H200); values are unchanged.
    // On the CPU the views stay NCHW: the backbone's first layer, BatchNorm2d(3), is ~6x slower on a
    // 3-channel channels_last input there (forward + backward, 128 × 3 × 32² and 64²), and the first
    // conv (channels_last weights) gives channels_last activations from there on: 8-16% off a CPU
    // step. On CUDA they are channels_last, the layout the GPU benchmarks measured.
    const viewFormat = onCuda ? "channels_last" : "contiguous";
    model.to({ device, memoryFormat: "channels_last" });
    if (contents) loadStartingWeights(model, contents.stateDict); // a pretrained backbone's own file loads into the backbone
    model.train();
    opt = new SGD(model.parameters(), { lr: cfg.optimizer.lr, weightDecay: cfg.optimizer.weight_decay, momentum: cfg.optimizer.momentum });
    if (resume) {
      let loaded = 0;
      for (const [name, p] of model.namedParameters()) {
        const raw = contents!.top.get(MOMENTUM_PREFIX + name);
        if (!isRawTensor(raw)) continue;
        opt.state.set(p, { momentum_buffer: torch.keep(onDevice(rawToTensor(raw), device)) });
        loaded++;
      }
      if (cfg.optimizer.momentum > 0 && loaded === 0 && resume.globalStep > 0) note(`${opts.resumeFrom} holds no momentum buffers: momentum restarts from zero`);
    }
    if (cfg.trainer.enable_model_summary) {
      opts.log?.(`model: SimCLR ${modelConfig.name} width ${modelConfig.width}, ${model.config.featureConv ? `num_ftrs ${model.config.numFtrs}` : `no 1×1 conv (${model.config.numFtrs} features)`}, out_dim ${modelConfig.outDim}, ${model.config.inputBatchNorm ? "" : "no input BatchNorm, "}head ${headBN ? "with" : "without"} BatchNorm: ${model.numParameters().toLocaleString("en-US")} parameters`);
    }
    opts.log?.(`training on ${n} images, ${device}, ${precision === "32" ? "float32" : "bf16 autocast"}, batch ${batchSize}, ${stepsPerEpoch} steps/epoch, epochs ${resume ? resume.epoch + 1 : 1}..${cfg.trainer.max_epochs}${init ? `, from ${init}` : ""}`);

    // Position.
    const maxEpochs = cfg.trainer.max_epochs;
    let epoch = resume ? resume.epoch : 0;
    let startStep = resume ? resume.step : 0;
    if (resume && startStep >= stepsPerEpoch) {
      epoch += 1;
      startStep = 0;
    }
    let globalStep = resume ? resume.globalStep : 0;
    const epochLosses = resume ? [...resume.epochLosses] : [];
    let partial = resume && startStep > 0 ? [...resume.partialStepLosses] : [];
    // Top-k entries of the resumed run whose files are in this run's checkpoint folder.
    let best: ResumeState["best"] = resume ? resume.best.filter((b) => fs.existsSync(path.join(ckptDir, b.file))) : [];
    const stepLosses: number[] = [];
    let aborted = false;
    let stopRequested = false;
    let imagesDone = 0;
    let trainMs = 0;
    const recent: number[] = []; // ms per step, last few
    // A resumed run that has nothing left to do still reports its checkpoint.
    let lastWritten: string | null = resume && fs.existsSync(lastPath) ? lastPath : null;

    const state = (ep: number, step: number, complete: boolean): ResumeState => ({
      format: RESUME_FORMAT, epoch: ep, step, globalStep, epochsCompleted: epochLosses.length, seed: cfg.seed,
      numImages: n, batchSize, stepsPerEpoch, epochLosses: [...epochLosses], partialStepLosses: [...partial],
      best, modelConfig: model.config, config: cfg, complete,
    });
    const save = (ep: number, step: number, complete: boolean): void => {
      writeCheckpoint(model, opt!, lastPath, state(ep, step, complete));
      lastWritten = lastPath;
    };

    if (resume) {
      opts.log?.(`resumed from ${opts.resumeFrom}: epoch ${epoch + 1}, step ${startStep}, ${globalStep} steps done`);
    }

    // The views of step (epoch, step), in viewFormat: from the prefetch worker (CPU only) once it has begun,
    // else made here (drawing the epoch's order and the step's parameters on this thread).
    let prefetching = false;
    let prefetchedSteps = 0;
    let stepsRun = 0;
    let order: { epoch: number; order: number[] } | null = null;
    const viewsFor = async (epoch: number, step: number, count: number): Promise<[Tensor, Tensor]> => {
      if (pf && !prefetching) {
        if (stepsRun >= waitFromStep) while (!pf.ready && !pf.error) await new Promise((r) => setTimeout(r, 5));
        if (pf.error) {
          note(`prefetch worker failed to start (${pf.error.message}): views are prepared on the training thread`);
          await pf.close();
          pf = null;
        } else if (pf.ready) {
          pf.begin(epoch, step);
          prefetching = true;
        }
      }
      if (prefetching) {
        prefetchedSteps++;
        return pf!.next(epoch, step, count);
      }
      if (order?.epoch !== epoch) order = { epoch, order: epochOrder(n, cfg.seed, epoch, cfg.loader.shuffle) };
      const idx = order.order.slice(step * batchSize, step * batchSize + count);
      torch.manualSeed(deriveSeed(cfg.seed, epoch, step));
      return torch.scope(() => {
        const x = cache.batchTensor(idx, device);
        const [a0, a1] = simclrViews(x, cfg.collate, { ...opts.augment, sourceSizes: idx.map((i) => sourceSizes[i]!) });
        return [a0.contiguous(viewFormat), a1.contiguous(viewFormat)] as [Tensor, Tensor];
      });
    };

    outer: for (; epoch < maxEpochs; epoch++) {
      const epochT0 = performance.now();
      let epochImages = 0;
      for (let step = startStep; step < stepsPerEpoch; step++) {
        const count = batchLength(n, batchSize, step);
        if (count < 2) continue; // NT-Xent needs two images (a last batch of 1 without drop_last)
        const ts = performance.now();
        if (cfg.optimizer.lr_schedule === "cosine") opt.setLr(cosineSchedule(globalStep, totalSteps, cfg.optimizer.lr, 0));
        const [v0, v1] = await viewsFor(epoch, step, count);
        stepsRun++;
        let loss: number;
        try {
          loss = torch.scope(() => {
            const forward = (): [Tensor, Tensor] => [model.forward(v0), model.forward(v1)];
            const [z0, z1] = precision === "bf16-mixed" ? torch.autocast("cuda", "bfloat16", forward) : forward();
            const l = precision === "bf16-mixed" ? ntXentLoss(z0.float(), z1.float(), cfg.criterion.temperature) : ntXentLoss(z0, z1, cfg.criterion.temperature);
            opt!.zeroGrad();
            l.backward();
            opt!.step();
            return l.item();
          });
        } finally {
          v0.dispose();
          v1.dispose();
        }
        opt.zeroGrad(); // free the gradients between steps
        if (!Number.isFinite(loss)) {
          throw new Error(`training diverged: loss is ${loss} at epoch ${epoch + 1}, step ${step + 1} (lower optimizer.lr; the last good checkpoint is ${lastWritten ?? "not written yet"})`);
        }
        const ms = performance.now() - ts;
        trainMs += ms;
        imagesDone += count;
        epochImages += count;
        globalStep++;
        stepLosses.push(loss);
        partial.push(loss);
        recent.push(ms / count);
        if (recent.length > 20) recent.shift();
        const perImage = mean(recent);
        const remainingSteps = (maxEpochs - epoch - 1) * stepsPerEpoch + (stepsPerEpoch - step - 1);
        opts.onProgress?.({
          epoch, epochs: maxEpochs, step: step + 1, stepsPerEpoch, globalStep, loss, lr: opt.getLr()[0], epochLoss: mean(partial),
          imagesPerSecond: 1000 / perImage, etaSeconds: (remainingSteps * batchSize * perImage) / 1000,
        });
        await yieldToEventLoop(); // lets abort requests, progress output and signals through
        if (opts.shouldStop?.()) stopRequested = true;
        if (stopRequested && step < stepsPerEpoch - 1) {
          aborted = true;
          save(epoch, step + 1, false);
          opts.log?.(`stopped after epoch ${epoch + 1}, step ${step + 1}: checkpoint ${lastPath}`);
          break outer;
        }
      }
      // End of epoch.
      const epochLoss = mean(partial);
      epochLosses.push(epochLoss);
      partial = [];
      startStep = 0;
      const done = epoch + 1 >= maxEpochs;
      // Top-k epochs by mean loss (lightly's ModelCheckpoint(monitor="loss", save_top_k)).
      const k = cfg.checkpoint_callback.save_top_k;
      const file = `lightly_epoch_${epoch}.ckpt`;
      let removed: typeof best = [];
      let isKept = false;
      if (k !== 0) {
        const ranked = [...best, { epoch, loss: epochLoss, file }].sort((a, b) => a.loss - b.loss || a.epoch - b.epoch);
        const kept = k < 0 ? ranked : ranked.slice(0, k);
        removed = ranked.filter((b) => !kept.includes(b));
        isKept = kept.some((b) => b.epoch === epoch);
        best = kept;
      }
      save(epoch + 1, 0, done);
      if (isKept) copyAtomic(lastPath, path.join(ckptDir, file));
      for (const b of removed) fs.rmSync(path.join(ckptDir, b.file), { force: true });
      const secs = (performance.now() - epochT0) / 1000;
      opts.onEpochEnd?.({
        epoch, epochs: maxEpochs, loss: epochLoss, steps: stepsPerEpoch, imagesPerSecond: secs > 0 ? epochImages / secs : 0, seconds: secs, checkpoint: lastPath,
      });
      if (!done && (stopRequested || opts.shouldStop?.())) {
        aborted = true;
        opts.log?.(`stopped after epoch ${epoch + 1}: checkpoint ${lastPath}`);
        break;
      }
    }

    let lastCheckpoint: string | null = lastWritten;
    if (!aborted && !cfg.checkpoint_callback.save_last && lastWritten) {
      fs.rmSync(lastPath, { force: true });
      lastCheckpoint = null;
    }
    const bestCheckpoint = best.length ? path.join(ckptDir, best[0]!.file) : null;
    const checkpoints = [...(lastCheckpoint ? [lastCheckpoint] : []), ...best.map((b) => path.join(ckptDir, b.file))];
    keep = opts.keepModel ?? false;
    return {
      epochsCompleted: epochLosses.length, globalStep, aborted, stepLosses, epochLosses,
      imagesPerSecond: trainMs > 0 ? (imagesDone * 1000) / trainMs : 0, durationMs: performance.now() - t0, prefetchedSteps,
      lastCheckpoint, bestCheckpoint, checkpoint: bestCheckpoint ?? lastCheckpoint, checkpoints,
      modelConfig: model.config, device, precision, numImages: n, batchSize, stepsPerEpoch,
      corruptFilenames: cache.corruptFilenames, notes,
      resumedFrom: resume ? { path: opts.resumeFrom!, epoch: resume.epoch, step: resume.step } : null,
      startedFrom: opts.startFrom ?? null,
      model: keep ? model.eval() : undefined,
    };
  } finally {
    await pf?.close();
    opt?.dispose();
    if (!keep) model.dispose();
    torch.cpuCache.empty(); // a worker process holds no training-sized blocks between runs
  }
}
