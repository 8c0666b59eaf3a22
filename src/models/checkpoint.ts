// Bridge between models and PyTorch checkpoint files (src/checkpoint/): saves what
// torch.save({"state_dict": model.state_dict(prefix="model.")}) writes, and loads lightly's
// checkpoints with lightly's key handling ("model." prefix, historic "features" → "backbone",
// projection heads without "layers"), strictly, with errors that say which settings would fit.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import {
  loadStateDictFile, rawTensorToContiguousBytes, saveTorchFile,
  type RawTensor, type TensorToWrite, type ExtraValue,
} from "../checkpoint/index.js";
import type { Module } from "../nn/index.js";
import { listBackbones, getBackbone, buildModel, type ModelConfig, type ShapeMap } from "./registry.js";
import { WinnowError } from "../util/errors.js";

// ---- tensors ----------------------------------------------------------------------------------
/** A checkpoint tensor as an engine tensor (a contiguous CPU copy; the caller owns it). */
export function rawToTensor(raw: RawTensor): Tensor {
  return torch.fromBytes(rawTensorToContiguousBytes(raw), raw.shape, raw.dtype);
}

/** An engine tensor as the checkpoint writer's input (contiguous little-endian bytes). */
export function tensorToWrite(t: Tensor, requiresGrad = false): TensorToWrite {
  const arr = t.data();
  return {
    dtype: t.dtype,
    shape: t.shape,
    data: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength),
    requiresGrad,
  };
}

// ---- keys ---------------------------------------------------------------------------------------
/**
 * lightly's loader key handling: drops a leading "model." (Lightning / `state_dict(prefix="model.")`)
 * or "module." (DataParallel), renames the historic "features" to "backbone", and inserts "layers"
 * into projection/prediction-head keys that lack it.
 */
export function normalizeLightlyKeys<T>(dict: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, v] of dict) {
    let parts = key.split(".");
    while (parts.length > 1 && (parts[0] === "model" || parts[0] === "module")) parts = parts.slice(1);
    parts = parts.map((p) => (p === "features" ? "backbone" : p));
    if ((parts[0] === "projection_head" || parts[0] === "prediction_head") && !parts.includes("layers")) {
      parts.splice(1, 0, "layers");
    }
    out.set(parts.join("."), v);
  }
  return out;
}

/** "batchNorm" for projection_head.layers.{0,1,3,4} (Linear/BN1d/ReLU/Linear/BN1d), "plain" for layers.{0,2}. */
export function detectHeadVariant(keys: Iterable<string>): "batchNorm" | "plain" | null {
  const ks = new Set(keys);
  if (ks.has("projection_head.layers.1.running_mean") || ks.has("projection_head.layers.1.weight")) return "batchNorm";
  if (ks.has("projection_head.layers.0.bias") || ks.has("projection_head.layers.2.weight")) return "plain";
  return null;
}

type Shaped = number[] | { shape: number[] };
const shapeOf = (v: Shaped): number[] => (Array.isArray(v) ? v : v.shape);

/** inferModelConfig, with its failure as a message instead of an exception (for error reports and inspection). */
export function tryInferModelConfig(dict: Map<string, Shaped>): { config: ModelConfig | null; error: string | null } {
  try {
    return { config: inferModelConfig(dict), error: null };
  } catch (e) {
    return { config: null, error: (e as Error).message };
  }
}

/** Where a SimCLR state dict's backbone differs between the docs/worker model and lightly's library model. */
export interface BackboneLayout {
  /** backbone.0 is BatchNorm2d(3) (docs/worker model) rather than the stem conv (library model). */
  inputBatchNorm: boolean;
  /** A 1×1 conv follows the ResNet's last stage (docs/worker model). */
  featureConv: boolean;
}

/**
 * A (normalized) state dict's backbone shapes, re-indexed as the docs model lays them out (index 0 =
 * input BatchNorm, 1 = stem conv, 2 = stem BN, 3..6 = stages, 7 = 1×1 conv), and its layout.
 */
function backboneShapes(d: Map<string, Shaped>): { shapes: ShapeMap; layout: BackboneLayout; last: number } {
  const raw: ShapeMap = new Map();
  for (const [k, v] of d) if (k.startsWith("backbone.")) raw.set(k.slice("backbone.".length), shapeOf(v));
  // The docs model starts with BatchNorm2d(3); a library backbone with the stem (conv) instead.
  const inputBatchNorm = raw.get("0.running_mean")?.length === 1 && raw.get("0.weight")?.[0] === 3;
  const shapes: ShapeMap = new Map();
  let last = -1;
  for (const [k, v] of raw) {
    const m = /^(\d+)(\..*)$/.exec(k);
    const key = m && !inputBatchNorm ? `${Number(m[1]) + 1}${m[2]}` : k;
    shapes.set(key, v);
    if (m) last = Math.max(last, Number(key.split(".")[0]));
  }
  // The 1×1 conv is the last indexed module, a plain Conv2d (its weight directly under the index).
  const conv = shapes.get(`${last}.weight`);
  const featureConv = !!conv && conv.length === 4 && conv[2] === 1 && conv[3] === 1;
  return { shapes, layout: { inputBatchNorm, featureConv }, last };
}

/** The backbone layout and head variant a checkpoint was trained with (what a model must be built as to load it). */
export function checkpointLayout(dict: Map<string, unknown>): BackboneLayout & { projectionHeadBatchNorm: boolean | null } {
  const d = normalizeLightlyKeys(dict as Map<string, Shaped>);
  const { layout } = backboneShapes(d);
  const head = detectHeadVariant(d.keys());
  return { ...layout, projectionHeadBatchNorm: head === null ? null : head === "batchNorm" };
}

/**
 * The model settings that reproduce a (normalized) state dict's keys and shapes: the backbone is
 * recognized by the registered backbones (ResNets: blocks per stage, bottleneck or not; width from
 * the stem's channels / 64), in the docs/worker layout or lightly's library layout (no input BN, no
 * 1×1 conv); num_ftrs and out_dim from the head (or the last backbone conv / the ResNet's channels).
 */
export function inferModelConfig(dict: Map<string, Shaped>): ModelConfig {
  const d = normalizeLightlyKeys(dict);
  const { shapes: bb, layout, last: lastIndex } = backboneShapes(d);
  if (bb.size === 0) throw new Error("inferModelConfig: the state dict has no backbone.* keys");
  let name: string | null = null;
  let width: number | null = null;
  for (const n of listBackbones()) {
    const w = getBackbone(n).infer?.(bb) ?? null;
    if (w !== null) {
      name = n;
      width = w;
      break;
    }
  }
  if (name === null || width === null) {
    throw new Error(`inferModelConfig: the backbone's keys match none of the registered backbones (${listBackbones().join(", ")})`);
  }
  const head = d.get("projection_head.layers.0.weight");
  let numFtrs: number;
  const fixed = getBackbone(name).numFeatures;
  if (head) numFtrs = shapeOf(head)[1];
  else if (fixed !== undefined) numFtrs = fixed;
  else if (layout.featureConv) numFtrs = bb.get(`${lastIndex}.weight`)![0];
  else {
    // No head, no 1×1 conv: the last stage's output channels (its last block's last conv).
    let last = -1;
    while (bb.has(`6.${last + 1}.conv1.weight`)) last++;
    const conv = bb.get(`6.${last}.conv3.weight`) ?? bb.get(`6.${last}.conv2.weight`);
    if (!conv) throw new Error("inferModelConfig: cannot find the backbone's last stage");
    numFtrs = conv[0];
  }
  let outDim = numFtrs;
  let lastLinear = -1;
  for (const [k, v] of d) {
    const m = /^projection_head\.layers\.(\d+)\.weight$/.exec(k);
    if (m && shapeOf(v).length === 2 && Number(m[1]) > lastLinear) {
      lastLinear = Number(m[1]);
      outDim = shapeOf(v)[0];
    }
  }
  const variant = detectHeadVariant(d.keys());
  return { name, width, numFtrs, outDim, projectionHeadBatchNorm: variant !== "plain", ...layout };
}

/** lightly_config.model style: { name: "resnet-18", width: 1, num_ftrs: 32, out_dim: 128 }. */
export function formatModelConfig(c: Partial<ModelConfig>): string {
  const parts = [`name: "${c.name}"`, `width: ${c.width}`, `num_ftrs: ${c.numFtrs}`, `out_dim: ${c.outDim}`];
  if (c.inputBatchNorm === false) parts.push("input_batch_norm: false");
  if (c.featureConv === false) parts.push("feature_conv: false");
  const head = c.projectionHeadBatchNorm === undefined ? "" : ` (projection head ${c.projectionHeadBatchNorm ? "with BatchNorm: layers.{0,1,3,4}" : "without BatchNorm: layers.{0,2}"})`;
  return `{ ${parts.join(", ")} }${head}`;
}

// ---- errors ---------------------------------------------------------------------------------------
export interface ShapeMismatch {
  key: string;
  checkpoint: number[];
  model: number[];
}

/** A checkpoint that does not fit the model: what differs, and the settings that would fit. */
export class CheckpointMismatchError extends WinnowError {
  constructor(
    message: string,
    readonly missingKeys: string[],
    readonly unexpectedKeys: string[],
    readonly shapeMismatches: ShapeMismatch[],
    readonly modelConfig: ModelConfig | null,
    readonly fittingConfig: ModelConfig | null,
    where?: string,
  ) {
    super("checkpoint", message, { where });
  }
}

const fmt = (s: number[]): string => `[${s.join(", ")}]`;
function listSome(keys: string[], max = 12): string {
  const shown = keys.slice(0, max).join(", ");
  return keys.length > max ? `${shown}, … (${keys.length} in all)` : shown;
}

function mismatchMessage(
  source: string, missing: string[], unexpected: string[], shapes: ShapeMismatch[],
  modelCfg: ModelConfig | null, fit: ModelConfig | null, fitError: string | null,
): string {
  const lines = [
    `checkpoint ${source} does not fit the model${modelCfg ? ` configured as lightly_config.model = ${formatModelConfig(modelCfg)}` : ""}:`,
  ];
  if (shapes.length) {
    lines.push(`  ${shapes.length} shape mismatch(es) (checkpoint vs model):`);
    for (const m of shapes.slice(0, 12)) lines.push(`    ${m.key}: checkpoint ${fmt(m.checkpoint)}, model ${fmt(m.model)}`);
    if (shapes.length > 12) lines.push(`    … (${shapes.length} in all)`);
  }
  if (missing.length) lines.push(`  ${missing.length} key(s) missing from the checkpoint: ${listSome(missing)}`);
  if (unexpected.length) lines.push(`  ${unexpected.length} unexpected key(s) in the checkpoint: ${listSome(unexpected)}`);
  if (fit) lines.push(`The checkpoint fits lightly_config.model = ${formatModelConfig(fit)}.`);
  else if (fitError) lines.push(`No known model settings fit the checkpoint: ${fitError}`);
  return lines.join("\n");
}

// ---- save / load -------------------------------------------------------------------------------------
/**
 * Writes `model`'s state dict as torch.save({"state_dict": model.state_dict(prefix="model."), ...extra})
 * does (loadable by torch.load(path, weights_only=True) and by lightly).
 */
export function saveCheckpoint(model: Module, path: string, extra?: Record<string, ExtraValue>): void {
  const sd = new Map<string, TensorToWrite>();
  for (const [k, t] of model.stateDict("model.")) sd.set(k, tensorToWrite(t));
  saveTorchFile(path, sd, extra ? { extra } : {});
}

/** A checkpoint's state dict with lightly's key normalization applied (tensors still raw). */
export function readCheckpointStateDict(src: string | Uint8Array): Map<string, RawTensor> {
  return normalizeLightlyKeys(loadStateDictFile(src));
}

export interface LoadCheckpointResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Loads a checkpoint (path, bytes, or an already read state dict) into `model` in place.
 * Shape mismatches always fail; with `strict` (default) missing and unexpected keys do too. The
 * error lists the differences and the lightly_config.model settings the checkpoint fits.
 */
export function loadCheckpointInto(
  model: Module, src: string | Uint8Array | Map<string, RawTensor>, opts: { strict?: boolean } = {},
): LoadCheckpointResult {
  const strict = opts.strict ?? true;
  const dict = src instanceof Map ? normalizeLightlyKeys(src) : readCheckpointStateDict(src);
  const own = model.stateDict();
  const missingKeys = [...own.keys()].filter((k) => !dict.has(k));
  const unexpectedKeys = [...dict.keys()].filter((k) => !own.has(k));
  const shapeMismatches: ShapeMismatch[] = [];
  for (const [k, t] of own) {
    const r = dict.get(k);
    if (!r) continue;
    const a = t.shape;
    if (a.length !== r.shape.length || a.some((v, i) => v !== r.shape[i])) shapeMismatches.push({ key: k, checkpoint: [...r.shape], model: a });
  }
  if (shapeMismatches.length || (strict && (missingKeys.length || unexpectedKeys.length))) {
    const { config: fit, error: fitError } = tryInferModelConfig(dict);
    const modelCfg = (model as unknown as { config?: ModelConfig }).config ?? null;
    const source = typeof src === "string" ? src : "(in memory)";
    throw new CheckpointMismatchError(
      mismatchMessage(source, strict ? missingKeys : [], strict ? unexpectedKeys : [], shapeMismatches, modelCfg, fit, fitError),
      missingKeys, unexpectedKeys, shapeMismatches, modelCfg, fit, typeof src === "string" ? src : undefined,
    );
  }
  torch.noGrad(() => {
    for (const [k, t] of own) {
      const r = dict.get(k);
      if (r) torch.scope(() => t.copy_(rawToTensor(r)));
    }
  });
  return { missingKeys, unexpectedKeys };
}

/**
 * Builds the whole model a checkpoint fits (settings inferred from its shapes) and loads it strictly.
 * (The public `loadModelCheckpoint` of the documentation returns the embedding model: see embedding.ts.)
 */
export function loadModelCheckpoint(src: string | Uint8Array | Map<string, RawTensor>, method = "simclr"): { model: Module; config: ModelConfig } {
  const dict = src instanceof Map ? normalizeLightlyKeys(src) : readCheckpointStateDict(src);
  const config = inferModelConfig(dict);
  const model = buildModel(config, method);
  try {
    loadCheckpointInto(model, dict);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config };
}
