// Registries by name: backbones (feature extractors) and models (one builder per SSL method), so
// new architectures and methods plug in without edits elsewhere.
import type { Module } from "../nn/index.js";

/** lightly_config.model, camelCased: what `buildModel` needs. */
export interface ModelConfig {
  name: string;
  width: number;
  numFtrs: number;
  outDim: number;
  /** SimCLR head variant: true = Linear/BN1d/ReLU/Linear/BN1d, false = Linear/ReLU/Linear with biases. */
  projectionHeadBatchNorm: boolean;
  /**
   * The docs/worker model's BatchNorm2d(3) on the input (backbone.0). lightly's library models
   * (its benchmarks, `Sequential(*resnet.children()[:-1], AdaptiveAvgPool2d(1))`) have none. Default true.
   */
  inputBatchNorm?: boolean;
  /**
   * The docs/worker model's 1×1 conv from the ResNet's channels to numFtrs. Without it the embedding
   * has the ResNet's channels (512·width for resnet-18/34) and numFtrs is that number. Default true.
   */
  featureConv?: boolean;
}

export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  name: "resnet-18",
  width: 1,
  numFtrs: 32,
  outDim: 128,
  projectionHeadBatchNorm: true,
  inputBatchNorm: true,
  featureConv: true,
});

/** What a backbone factory returns: the feature layers (in order) and their output channels. */
export interface BackboneParts {
  layers: Module[];
  outChannels: number;
}

/** Parameter shapes by key (relative to the backbone, e.g. "1.weight" → [64, 3, 3, 3]). */
export type ShapeMap = Map<string, number[]>;

export interface BackboneEntry {
  name: string;
  build: (opts: { width: number }) => BackboneParts;
  /**
   * Recognizes this backbone in a checkpoint: given the shapes of the backbone's keys as the
   * SimCLR model lays them out (index 0 = input BatchNorm, then `layers`), returns the width that
   * reproduces them, or null when they are not this architecture.
   */
  infer?: (shapes: ShapeMap) => number | null;
  /** A backbone whose embedding width is fixed (pretrained backbones): num_ftrs is this. */
  numFeatures?: number;
}

const backbones = new Map<string, BackboneEntry>();

export function registerBackbone(
  name: string,
  build: BackboneEntry["build"],
  infer?: BackboneEntry["infer"],
  numFeatures?: number,
): void {
  backbones.set(name, { name, build, infer, numFeatures });
}

export function getBackbone(name: string): BackboneEntry {
  const b = backbones.get(name);
  if (!b) throw new Error(`unknown backbone '${name}'; registered: ${[...backbones.keys()].join(", ")}`);
  return b;
}

export function listBackbones(): string[] {
  return [...backbones.keys()];
}

export type ModelBuilder = (cfg: ModelConfig) => Module;
const models = new Map<string, ModelBuilder>();

export function registerModel(method: string, builder: ModelBuilder): void {
  models.set(method, builder);
}

export function listModels(): string[] {
  return [...models.keys()];
}

/** Builds the model of `method` (default SimCLR) with lightly_config.model-style settings. */
export function buildModel(cfg: Partial<ModelConfig> = {}, method = "simclr"): Module {
  const b = models.get(method);
  if (!b) throw new Error(`unknown model/method '${method}'; registered: ${[...models.keys()].join(", ")}`);
  return b({ ...DEFAULT_MODEL_CONFIG, ...cfg });
}
