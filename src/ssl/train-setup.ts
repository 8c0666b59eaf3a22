// What train() decides before the first step: the device and precision, the batch plan, and the
// starting point (a checkpoint's weights and layout, or a resumed run's position), each with the
// notes that tell the user where the run departs from what the config asked for.
import * as torch from "../torch/index.js";
import { isCuda, type Device } from "../torch/index.js";
import { checkpointLayout, type ModelConfig } from "../models/index.js";
import { readTrainingCheckpoint, type CheckpointContents, type ResumeState } from "../models/training-checkpoint.js";
import type { ImageCache } from "../data/index.js";
import { modelSettingsOf, precisionMode, type LightlyConfig, type LayoutOverride } from "../config/lightly-config.js";
import { WinnowError } from "../util/errors.js";
import { stepPlan } from "./seeds.js";
import type { Precision } from "./training-step.js";

type Note = (msg: string) => void;

/** trainer.gpus decides unless a device is given; bf16 autocast only on CUDA. */
export function chooseDevice(cfg: LightlyConfig, requested: Device | undefined, note: Note): { device: Device; onCuda: boolean; precision: Precision } {
  const cudaOk = torch.cuda.isAvailable();
  const device = String(requested ?? (cfg.trainer.gpus >= 1 && cudaOk ? "cuda" : "cpu"));
  if (!requested && cfg.trainer.gpus >= 1 && !cudaOk) note("trainer.gpus >= 1 but no CUDA device is available: training on the CPU");
  if (!requested && cfg.trainer.gpus > 1 && cudaOk) note(`trainer.gpus = ${cfg.trainer.gpus}: Winnow trains on one GPU`);
  const onCuda = isCuda(device);
  let precision: Precision = "32";
  if (precisionMode(cfg) === "mixed") {
    if (onCuda) precision = "bf16-mixed";
    else note(`trainer.precision = ${JSON.stringify(cfg.trainer.precision)} is ignored on the CPU: training in float32`);
  }
  return { device, onCuda, precision };
}

/**
 * Batch size (capped at the number of images) and steps, as Lightly's loader makes them. With
 * `worldSize` ranks, as Lightning's DDP: each rank's loader takes loader.batch_size images of its
 * shard of ceil(n / worldSize) images (DistributedSampler pads by repeating), so a step trains on
 * worldSize × batch_size images.
 */
export function planBatches(cache: ImageCache, cfg: LightlyConfig, note: Note, worldSize = 1): { batchSize: number; stepsPerEpoch: number; totalSteps: number } {
  const total = cache.length;
  const n = Math.ceil(total / worldSize);
  const bad = cache.corruptFilenames;
  const per = worldSize > 1 ? ` per rank (${total} over ${worldSize} ranks)` : "";
  if (n < 2) {
    throw new WinnowError("invalid_input", `train: need at least 2 usable images${worldSize > 1 ? " per rank" : ""}, the folder has ${total}${bad.length ? ` (${bad.length} could not be read)` : ""}`, { where: cache.dir });
  }
  const batchSize = Math.min(cfg.loader.batch_size, n);
  if (batchSize < cfg.loader.batch_size) note(`loader.batch_size ${cfg.loader.batch_size} capped at the number of images${per || ` (${n})`}${per ? `: ${n}` : ""}`);
  if (cfg.loader.batch_size < 64) note(`small batch size ${cfg.loader.batch_size}: may harm embedding quality (as Lightly warns); set loader.batch_size`);
  if (bad.length) note(`${bad.length} file(s) skipped (corrupt or unreadable): ${bad.slice(0, 5).map((c) => c.filename).join(", ")}${bad.length > 5 ? ", …" : ""}`);
  return { batchSize, ...stepPlan(n, batchSize, cfg.loader.drop_last, cfg.trainer.max_epochs) };
}

export interface StartingPoint {
  /** The checkpoint training starts from (startFrom or resumeFrom), or null. */
  init: string | null;
  contents: CheckpointContents<LightlyConfig> | null;
  resume: ResumeState<LightlyConfig> | null;
  modelConfig: ModelConfig;
}

/** Reads the starting checkpoint; its layout (head variant, input BN, 1×1 conv) wins over the config's. */
export function readStartingPoint(
  cfg: LightlyConfig, o: { startFrom?: string; resumeFrom?: string; projectionHeadBatchNorm?: boolean }, numImages: number, note: Note,
): StartingPoint {
  const init = o.resumeFrom ?? o.startFrom ?? null;
  const contents = init ? readTrainingCheckpoint<LightlyConfig>(init) : null;
  if (o.resumeFrom && !contents!.resume) {
    throw new WinnowError("checkpoint", `train: ${o.resumeFrom} has no Winnow resume state (not written by Winnow's trainer); use startFrom to fine-tune from its weights`, { where: o.resumeFrom });
  }
  let layout: LayoutOverride = {};
  if (contents) {
    const l = checkpointLayout(contents.stateDict);
    layout = { inputBatchNorm: l.inputBatchNorm, featureConv: l.featureConv, projectionHeadBatchNorm: l.projectionHeadBatchNorm };
    const differs = layoutDifferences(l, modelSettingsOf(cfg));
    if (differs.length && o.projectionHeadBatchNorm === undefined) note(`${init}: the checkpoint's model has ${differs.join(", ")} (lightly_config.model says otherwise); training keeps the checkpoint's layout`);
  }
  if (o.projectionHeadBatchNorm !== undefined) layout.projectionHeadBatchNorm = o.projectionHeadBatchNorm;
  const resume = o.resumeFrom ? contents!.resume! : null;
  if (resume) {
    const diff = differingKeys(resume.config, cfg);
    if (diff.length) note(`resuming with different settings than the checkpoint's (${diff.join(", ")}): the result will differ from an uninterrupted run`);
    if (resume.numImages !== numImages) note(`resuming on ${numImages} images, the checkpoint's run had ${resume.numImages}: the order of batches differs from an uninterrupted run`);
  }
  return { init, contents, resume, modelConfig: { ...modelSettingsOf(cfg, layout) } };
}

type Layout = ReturnType<typeof checkpointLayout>;
function layoutDifferences(l: Layout, configured: ModelConfig): string[] {
  return [
    l.projectionHeadBatchNorm !== null && l.projectionHeadBatchNorm !== configured.projectionHeadBatchNorm
      ? `a projection head ${l.projectionHeadBatchNorm ? "with" : "without"} BatchNorm (projection_head_batch_norm: ${l.projectionHeadBatchNorm})` : "",
    l.inputBatchNorm !== configured.inputBatchNorm ? `${l.inputBatchNorm ? "an" : "no"} input BatchNorm (input_batch_norm: ${l.inputBatchNorm})` : "",
    l.featureConv !== configured.featureConv ? `${l.featureConv ? "a" : "no"} 1×1 conv (feature_conv: ${l.featureConv})` : "",
  ].filter(Boolean);
}

const TRAINING_KEYS = ["loader.batch_size", "loader.shuffle", "loader.drop_last", "model", "optimizer", "criterion", "collate", "seed"];
/** The training settings in which two configs differ (a resumed run then computes something else). */
function differingKeys(a: LightlyConfig, b: LightlyConfig): string[] {
  const get = (o: unknown, k: string): unknown => k.split(".").reduce<unknown>((v, p) => (v as Record<string, unknown>)?.[p], o);
  return TRAINING_KEYS.filter((k) => JSON.stringify(get(a, k)) !== JSON.stringify(get(b, k)));
}
