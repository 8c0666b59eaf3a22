// The layers of DINOv2's ViT (facebookresearch/dinov2, dinov2/layers): LayerNorm, PatchEmbed,
// Attention, Mlp, LayerScale, Block, with the publisher's parameter names (norm1, attn.qkv,
// attn.proj, ls1.gamma, mlp.fc1, …), so `blocks.N.*` keys match the published files.
import * as torch from "../torch/index.js";
import { F, type Tensor } from "../torch/index.js";
import { Module, Conv2d, Linear } from "../nn/index.js";
import { normal_, zeros_ } from "../nn/init.js";

export class LayerNorm extends Module {
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.registerParameter("weight", torch.ones([dim]));
    this.registerParameter("bias", torch.zeros([dim]));
  }
  get weight(): Tensor {
    return this.param("weight")!;
  }
  get bias(): Tensor {
    return this.param("bias")!;
  }
  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `(${this.dim},), eps=${this.eps}, elementwise_affine=True`;
  }
}

/** timm/DINOv2 Linear init: N(0, 0.02) weights (DINOv2 truncates at ±2, i.e. ±100σ: no effect), zero bias. */
export function vitLinear(i: number, o: number, bias = true): Linear {
  const l = new Linear(i, o, { bias });
  normal_(l.weight, 0, 0.02);
  if (l.bias) zeros_(l.bias);
  return l;
}

/** Conv patchify: [B, 3, H, W] → tokens [B, (H/p)(W/p), D]. H and W must be multiples of p (DINOv2 asserts it). */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(readonly patchSize: number, readonly embedDim: number) {
    super();
    this.proj = this.registerModule("proj", new Conv2d(3, embedDim, patchSize, { stride: patchSize }));
  }
  override forward(x: Tensor): Tensor {
    const [, , h, w] = x.shape;
    const p = this.patchSize;
    if (h! % p !== 0 || w! % p !== 0) {
      throw new Error(`ViT patch embedding: input ${h}×${w} px is not a multiple of the patch size ${p} (set collate.input_size to a multiple of ${p}, e.g. ${16 * p})`);
    }
    return torch.scope(() => this.proj.forward(x).flatten(2).transpose(1, 2));
  }
}

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  constructor(readonly dim: number, readonly numHeads: number) {
    super();
    this.headDim = dim / numHeads;
    this.qkv = this.registerModule("qkv", vitLinear(dim, dim * 3));
    this.proj = this.registerModule("proj", vitLinear(dim, dim));
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const [b, n, c] = x.shape as [number, number, number];
      const qkv = this.qkv.forward(x).reshape([b, n, 3, this.numHeads, this.headDim]).permute([2, 0, 3, 1, 4]);
      const q = qkv.select(0, 0).mul(this.headDim ** -0.5);
      const attn = q.matmul(qkv.select(0, 1).transpose(-2, -1)).softmax(-1);
      const out = attn.matmul(qkv.select(0, 2)).transpose(1, 2).reshape([b, n, c]);
      return this.proj.forward(out);
    });
  }
}

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.registerModule("fc1", vitLinear(dim, hidden));
    this.fc2 = this.registerModule("fc2", vitLinear(hidden, dim));
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => this.fc2.forward(F.gelu(this.fc1.forward(x))));
  }
}

export class LayerScale extends Module {
  constructor(dim: number, initValues: number) {
    super();
    this.registerParameter("gamma", torch.full([dim], initValues));
  }
  get gamma(): Tensor {
    return this.param("gamma")!;
  }
  override forward(x: Tensor): Tensor {
    return x.mul(this.gamma);
  }
}

/** Pre-norm block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))). */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly ls1: LayerScale;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly ls2: LayerScale;
  constructor(dim: number, numHeads: number, mlpRatio: number, initValues: number) {
    super();
    this.norm1 = this.registerModule("norm1", new LayerNorm(dim, 1e-6));
    this.attn = this.registerModule("attn", new Attention(dim, numHeads));
    this.ls1 = this.registerModule("ls1", new LayerScale(dim, initValues));
    this.norm2 = this.registerModule("norm2", new LayerNorm(dim, 1e-6));
    this.mlp = this.registerModule("mlp", new Mlp(dim, dim * mlpRatio));
    this.ls2 = this.registerModule("ls2", new LayerScale(dim, initValues));
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      const y = x.add(this.ls1.forward(this.attn.forward(this.norm1.forward(x))));
      return y.add(this.ls2.forward(this.mlp.forward(this.norm2.forward(y))));
    });
  }
}
