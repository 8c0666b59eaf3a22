// The SimCLR model of lightly's "Train a Self-Supervised Model" docs (build_model()):
//   backbone = Sequential(BatchNorm2d(3), *resnet.children()[:-1], Conv2d(C, num_ftrs, 1), AdaptiveAvgPool2d(1))
//   projection_head = SimCLRProjectionHead(num_ftrs, num_ftrs, out_dim, batch_norm=…)
// State-dict keys therefore read backbone.{0..8}… and projection_head.layers.…
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { Module, Sequential, BatchNorm2d, Conv2d, AdaptiveAvgPool2d } from "../nn/index.js";
import { SimCLRProjectionHead } from "./heads.js";
import { getBackbone, type ModelConfig } from "./registry.js";

/** The docs' backbone: input BatchNorm2d(3), the registered feature layers, 1x1 conv to num_ftrs, global pool. */
export function buildSslBackbone(cfg: Pick<ModelConfig, "name" | "width" | "numFtrs">): Sequential {
  const input = new BatchNorm2d(3);
  const parts = getBackbone(cfg.name).build({ width: cfg.width });
  return new Sequential(input, ...parts.layers, new Conv2d(parts.outChannels, cfg.numFtrs, 1), new AdaptiveAvgPool2d(1));
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
    this.config = { ...cfg };
    this.backbone = this.registerModule("backbone", backbone ?? buildSslBackbone(cfg));
    this.projectionHead = this.registerModule(
      "projection_head",
      new SimCLRProjectionHead(cfg.numFtrs, cfg.numFtrs, cfg.outDim, 2, cfg.projectionHeadBatchNorm),
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
