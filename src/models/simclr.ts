// The SimCLR model of lightly's "Train a Self-Supervised Model" docs (build_model()):
//   backbone = Sequential(BatchNorm2d(3), *resnet.children()[:-1], Conv2d(C, num_ftrs, 1), AdaptiveAvgPool2d(1))
//   projection_head = SimCLRProjectionHead(num_ftrs, num_ftrs, out_dim, batch_norm=…)
// State-dict keys therefore read backbone.{0..8}… and projection_head.layers.…
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { Module, Sequential, BatchNorm2d, Conv2d, AdaptiveAvgPool2d } from "../nn/index.js";
import { SimCLRProjectionHead } from "./heads.js";
import { getBackbone, type ModelConfig } from "./registry.js";

/**
 * The docs' backbone: input BatchNorm2d(3), the registered feature layers, 1x1 conv to num_ftrs, global
 * pool. Without `inputBatchNorm` / `featureConv` it is lightly's library backbone (its benchmarks' model):
 * the feature layers and the pool only, so its keys start at backbone.0 = the stem conv. `dim` is the
 * embedding's size (num_ftrs, or the feature layers' channels without the 1×1 conv).
 */
export function buildSslBackbone(
  cfg: Pick<ModelConfig, "name" | "width" | "numFtrs" | "inputBatchNorm" | "featureConv">,
): { backbone: Sequential; dim: number } {
  const parts = getBackbone(cfg.name).build({ width: cfg.width });
  const mods: Module[] = [];
  if (cfg.inputBatchNorm ?? true) mods.push(new BatchNorm2d(3));
  mods.push(...parts.layers);
  const conv = cfg.featureConv ?? true;
  if (conv) mods.push(new Conv2d(parts.outChannels, cfg.numFtrs, 1));
  mods.push(new AdaptiveAvgPool2d(1));
  return { backbone: new Sequential(...mods), dim: conv ? cfg.numFtrs : parts.outChannels };
}

/** Backbone output flattened: the embedding (what lightly embeds with; no projection head). */
export class EmbeddingModel extends Module {
  readonly backbone: Module;
  constructor(backbone: Module) {
    super();
    this.backbone = this.registerModule("backbone", backbone);
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => this.backbone.forward(x).flatten(1));
  }
}

export class SimCLR extends Module {
  readonly backbone: Module;
  readonly projectionHead: SimCLRProjectionHead;
  readonly config: ModelConfig;

  /** `backbone`: another feature extractor (e.g. a pretrained one) whose output is num_ftrs wide. */
  constructor(cfg: ModelConfig, backbone?: Module) {
    super();
    // A backbone given (a pretrained one, publisher's layout): no input BN, no 1×1 conv; its width is num_ftrs.
    const built = backbone ? { backbone, dim: cfg.numFtrs } : buildSslBackbone(cfg);
    const dim = built.dim;
    // numFtrs is the embedding's size: the ResNet's channels when there is no 1×1 conv.
    this.config = backbone
      ? { ...cfg, inputBatchNorm: false, featureConv: false }
      : { ...cfg, inputBatchNorm: cfg.inputBatchNorm ?? true, featureConv: cfg.featureConv ?? true, numFtrs: dim };
    this.backbone = this.registerModule("backbone", built.backbone);
    this.projectionHead = this.registerModule(
      "projection_head",
      new SimCLRProjectionHead(dim, dim, cfg.outDim, 2, cfg.projectionHeadBatchNorm),
    );
  }

  /** Projection-head output z = g(h), h = backbone(x).flatten(1). */
  override forward(x: Tensor): Tensor {
    return torch.scope(() => this.projectionHead.forward(this.backbone.forward(x).flatten(1)));
  }

  /** The embedding h = backbone(x).flatten(1). */
  embed(x: Tensor): Tensor {
    return torch.scope(() => this.backbone.forward(x).flatten(1));
  }

  /** A module computing `embed` that shares (does not copy) this model's backbone. */
  embeddingModel(): EmbeddingModel {
    return new EmbeddingModel(this.backbone);
  }
}
