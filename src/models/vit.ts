// DINOv2's ViT (facebookresearch/dinov2, DinoVisionTransformer as its torch.hub backbones build it:
// patch 14, img_size 518 → 37×37 positional grid, LayerScale, no register tokens, block_chunks=0).
// Parameter names are the publisher's: cls_token, pos_embed, mask_token, patch_embed.proj,
// blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}, norm.
// `forward` returns the CLS token after the final norm (x_norm_clstoken, what the hub model returns).
//
// Positional embeddings for another input size: DINOv2 resizes the 37×37 grid with
// F.interpolate(mode="bicubic", scale_factor=(h0 + 0.1) / 37) — the +0.1 offset changes the sampling
// positions, so a plain resize to h0×h0 would differ. Bicubic resizing is separable, so it is done
// here as two matrix products with weights computed exactly as PyTorch's upsample_bicubic2d
// (A = -0.75, border indices clamped, source = (dst + 0.5) / scale - 0.5): differentiable, and the
// same numbers on any device.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { Module, Sequential } from "../nn/index.js";
import { normal_ } from "../nn/init.js";
import { Block, LayerNorm, PatchEmbed } from "./vit-layers.js";

export interface VitConfig {
  embedDim: number;
  depth: number;
  numHeads: number;
  patchSize: number;
  /** Training image size of the positional grid (518 for DINOv2: 37×37 patches). */
  imgSize: number;
  mlpRatio: number;
  layerScaleInit: number;
}

export const DINOV2_CONFIGS: Record<string, VitConfig> = {
  vits14: { embedDim: 384, depth: 12, numHeads: 6, patchSize: 14, imgSize: 518, mlpRatio: 4, layerScaleInit: 1 },
  vitb14: { embedDim: 768, depth: 12, numHeads: 12, patchSize: 14, imgSize: 518, mlpRatio: 4, layerScaleInit: 1 },
};

const A = -0.75;
const cc1 = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1;
const cc2 = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/** [outSize, inSize] weights of PyTorch's bicubic resize along one axis with the given scale factor. */
export function bicubicMatrix(inSize: number, outSize: number, scaleFactor: number): Float32Array {
  const m = new Float64Array(outSize * inSize);
  const scale = 1 / scaleFactor;
  for (let o = 0; o < outSize; o++) {
    const real = scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(real);
    const t = real - i0;
    const c = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + idx] += c[k]!;
    }
  }
  return Float32Array.from(m);
}

export class DinoVisionTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly blocks: Sequential;
  readonly norm: LayerNorm;
  readonly gridSize: number;

  constructor(readonly arch: string, readonly cfg: VitConfig = DINOV2_CONFIGS[arch]!) {
    super();
    if (!cfg) throw new Error(`DINOv2: unknown architecture '${arch}'; known: ${Object.keys(DINOV2_CONFIGS).join(", ")}`);
    const d = cfg.embedDim;
    this.gridSize = Math.floor(cfg.imgSize / cfg.patchSize);
    this.registerParameter("cls_token", normal_(torch.empty([1, 1, d]), 0, 1e-6));
    this.registerParameter("pos_embed", normal_(torch.empty([1, this.gridSize * this.gridSize + 1, d]), 0, 0.02));
    this.patchEmbed = this.registerModule("patch_embed", new PatchEmbed(cfg.patchSize, d));
    const blocks: Block[] = [];
    for (let i = 0; i < cfg.depth; i++) blocks.push(new Block(d, cfg.numHeads, cfg.mlpRatio, cfg.layerScaleInit));
    this.blocks = this.registerModule("blocks", new Sequential(...blocks));
    this.norm = this.registerModule("norm", new LayerNorm(d, 1e-6));
    // Used only by masked training (iBOT); kept so the published files load strictly.
    this.registerParameter("mask_token", torch.zeros([1, d]));
  }

  override get typeName(): string {
    return "DinoVisionTransformer";
  }

  /** Width of the CLS embedding. */
  get numFeatures(): number {
    return this.cfg.embedDim;
  }

  /** As ResNetEmbedding (loadCheckpoint's result): the model.name, width 1, embedding width. */
  get modelName(): string {
    return `dinov2/${this.arch}`;
  }
  get width(): number {
    return 1;
  }
  get outputDim(): number {
    return this.cfg.embedDim;
  }

  /** pos_embed for an input of h×w px: [1, 1 + (h/p)(w/p), D] (interpolate_pos_encoding). */
  posEmbedFor(h: number, w: number): Tensor {
    const pos = this.param("pos_embed")!;
    const m = this.gridSize;
    const h0 = Math.floor(h / this.cfg.patchSize);
    const w0 = Math.floor(w / this.cfg.patchSize);
    if (h0 === m && w0 === m) return torch.scope(() => pos.view([1, m * m + 1, -1])); // the grid as trained (a view)
    return torch.scope(() => {
      const d = this.cfg.embedDim;
      const opts = { device: pos.device };
      const wh = torch.tensor(bicubicMatrix(m, h0, (h0 + 0.1) / m), { ...opts, shape: [h0, m] });
      const ww = torch.tensor(bicubicMatrix(m, w0, (w0 + 0.1) / m), { ...opts, shape: [w0, m] });
      const grid = pos.narrow(1, 1, m * m).reshape([m, m, d]).permute([2, 0, 1]); // [D, m, m]
      const resized = wh.to(pos.dtype).matmul(grid).matmul(ww.to(pos.dtype).t()); // [D, h0, w0]
      const patches = resized.permute([1, 2, 0]).reshape([1, h0 * w0, d]);
      return torch.cat([pos.narrow(1, 0, 1), patches], 1);
    });
  }

  /** Tokens after the blocks and the final norm: [B, 1 + patches, D]. */
  forwardFeatures(x: Tensor): Tensor {
    return torch.scope(() => {
      const [b, , h, w] = x.shape as [number, number, number, number];
      const patches = this.patchEmbed.forward(x);
      const cls = this.param("cls_token")!.expand([b, -1, -1]);
      let t = torch.cat([cls, patches], 1).add(this.posEmbedFor(h, w));
      t = this.blocks.forward(t);
      return this.norm.forward(t);
    });
  }

  /** The CLS token after the final norm: [B, D]. */
  override forward(x: Tensor): Tensor {
    return torch.scope(() => this.forwardFeatures(x).select(1, 0));
  }
}
