// The embedding model of the documentation's "Load Model from Checkpoint" recipe: the SimCLR
// backbone's ResNet feature layers with global pooling, WITHOUT the 1×1 projection conv
// (backbone.7) and the projection head:
//   Sequential(BatchNorm2d(3), conv1, bn1, layer1..4, AdaptiveAvgPool2d(1), Flatten(1))
// so the features are the ResNet's last-stage channels: 512·width for resnet-18, 2048·width for
// resnet-50. Indices 0..6 have the checkpoint's backbone.0..6 keys, so the weights load by name.
import { Sequential, BatchNorm2d, AdaptiveAvgPool2d, Flatten } from "../nn/index.js";
import type { RawTensor } from "../checkpoint/index.js";
import { getBackbone } from "./registry.js";
import {
  CheckpointMismatchError, formatModelConfig, loadCheckpointInto, normalizeLightlyKeys, tryInferModelConfig, rawToTensor, readCheckpointStateDict,
  type ShapeMismatch,
} from "./checkpoint.js";
import * as torch from "../torch/index.js";
import { buildPretrainedBackbone, isPretrainedBackbone, publisherStateDict } from "./pretrained.js";
import type { TorchvisionResNet } from "./torchvision-resnet.js";
import type { DinoVisionTransformer } from "./vit.js";

export interface LoadCheckpointOptions {
  /** lightly_config.model.name, e.g. "resnet-18". Default: the architecture the checkpoint has (checked when given). */
  modelName?: string;
  /** lightly_config.model.width. Default: the width the checkpoint has (checked when given). */
  width?: number;
}

/** A ResNet feature extractor: x [N,3,H,W] → features [N, outputDim]. */
export class ResNetEmbedding extends Sequential {
  constructor(readonly modelName: string, readonly width: number, readonly outputDim: number, ...modules: ConstructorParameters<typeof Sequential>) {
    super(...modules);
  }
  override get typeName(): string {
    return "Sequential";
  }
}

/** An untrained embedding model of the recipe's architecture. */
export function buildEmbeddingModel(modelName = "resnet-18", width = 1): ResNetEmbedding {
  const parts = getBackbone(modelName).build({ width });
  return new ResNetEmbedding(modelName, width, parts.outChannels, new BatchNorm2d(3), ...parts.layers, new AdaptiveAvgPool2d(1), new Flatten(1));
}

/**
 * Loads a checkpoint (PyTorch/Lightly-made or Winnow-made: path, bytes or a state dict) as an
 * embedding model in eval mode. Only the backbone's ResNet layers are read (backbone.0..6); the
 * 1×1 conv and the projection head are ignored. A checkpoint of another architecture or width
 * fails with the differing keys/shapes and the settings that fit.
 */
export function loadCheckpoint(
  src: string | Uint8Array | Map<string, RawTensor>, opts: LoadCheckpointOptions = {},
): ResNetEmbedding | TorchvisionResNet | DinoVisionTransformer {
  let dict = src instanceof Map ? normalizeLightlyKeys(src) : readCheckpointStateDict(src);
  // A publisher's file (torchvision's resnet50-….pth, dinov2_vits14_pretrain.pth) has the backbone's keys unprefixed.
  if (!dict.has("backbone.conv1.weight") && (dict.has("conv1.weight") || dict.has("cls_token"))) {
    const prefixed = new Map<string, RawTensor>();
    for (const [k, v] of publisherStateDict(dict)) prefixed.set(`backbone.${k}`, v);
    dict = prefixed;
  }
  const { config: fit, error: fitError } = tryInferModelConfig(dict);
  const modelName = opts.modelName ?? fit?.name;
  if (modelName !== undefined && isPretrainedBackbone(modelName)) return loadPretrainedEmbedding(dict, modelName, src);
  const width = opts.width ?? fit?.width;
  if (modelName === undefined || width === undefined) throw new Error(`loadCheckpoint: cannot tell the architecture of ${typeof src === "string" ? src : "the checkpoint"} (${fitError}); pass { modelName, width }`);
  const model = buildEmbeddingModel(modelName, width);
  try {
    const own = model.stateDict();
    const missing: string[] = [];
    const shapes: ShapeMismatch[] = [];
    for (const [k, t] of own) {
      const r = dict.get(`backbone.${k}`);
      if (!r) missing.push(`backbone.${k}`);
      else if (r.shape.length !== t.shape.length || r.shape.some((v, i) => v !== t.shape[i])) shapes.push({ key: `backbone.${k}`, checkpoint: [...r.shape], model: t.shape });
    }
    if (missing.length || shapes.length) {
      const lines = [`checkpoint ${typeof src === "string" ? src : "(in memory)"} does not fit the embedding model ${modelName} width ${width}:`];
      for (const m of shapes.slice(0, 8)) lines.push(`  ${m.key}: checkpoint [${m.checkpoint.join(", ")}], model [${m.model.join(", ")}]`);
      if (shapes.length > 8) lines.push(`  … (${shapes.length} shape mismatches in all)`);
      if (missing.length) lines.push(`  ${missing.length} key(s) missing from the checkpoint: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", …" : ""}`);
      lines.push(fit ? `The checkpoint fits { modelName: "${fit.name}", width: ${fit.width} } (lightly_config.model = ${formatModelConfig(fit)}).` : `No known model settings fit the checkpoint: ${fitError}`);
      throw new CheckpointMismatchError(lines.join("\n"), missing, [], shapes, null, fit, typeof src === "string" ? src : undefined);
    }
    torch.noGrad(() => {
      for (const [k, t] of own) torch.scope(() => t.copy_(rawToTensor(dict.get(`backbone.${k}`)!)));
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return model;
}

/** A pretrained backbone (publisher's layout under backbone.*) loaded strictly, in eval mode. */
function loadPretrainedEmbedding(dict: Map<string, RawTensor>, name: string, src: unknown): TorchvisionResNet | DinoVisionTransformer {
  const model = buildPretrainedBackbone(name);
  const own = new Map<string, RawTensor>();
  for (const [k, v] of dict) if (k.startsWith("backbone.")) own.set(k.slice("backbone.".length), v);
  try {
    loadCheckpointInto(model, own);
  } catch (e) {
    model.dispose();
    throw new Error(`checkpoint ${typeof src === "string" ? src : "(in memory)"} as ${name}: ${(e as Error).message}`);
  }
  return model.eval();
}
