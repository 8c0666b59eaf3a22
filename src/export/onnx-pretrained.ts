// ONNX graphs of the pretrained backbones (src/models/pretrained.ts), in eval mode:
//   torchvision ResNet  conv/BN (folded), Relu, MaxPool, residual blocks, GlobalAveragePool → [B, C]
//   DINOv2 ViT          patchify Conv, CLS + positional embeddings, pre-norm blocks, final norm, CLS → [B, D]
// The ViT's positional embeddings are resized for one input size at export (the graph's height and
// width are fixed; batch stays dynamic). LayerNorm and GELU are written with opset-13 ops
// (ReduceMean/Sqrt, Erf), so the graph runs on every runtime that reads opset 13.
import * as torch from "../torch/index.js";
import type { Linear } from "../nn/index.js";
import type { TorchvisionResNet } from "../models/torchvision-resnet.js";
import { TvBasicBlock, TvBottleneck } from "../models/torchvision-resnet.js";
import type { DinoVisionTransformer } from "../models/vit.js";
import type { Block, LayerNorm } from "../models/vit-layers.js";
import { float32Of, type GraphBuilder } from "./onnx.js";

const at = (path: string, name: string): string => (path ? `${path}.${name}` : name);

export function torchvisionResNetToOnnx(g: GraphBuilder, x: string, m: TorchvisionResNet, path: string): string {
  let cur = g.node("Relu", [g.convBn(x, m.conv1, at(path, "conv1"), m.bn1, at(path, "bn1"))]);
  cur = g.node("MaxPool", [cur], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  for (const layer of ["layer1", "layer2", "layer3", "layer4"] as const) {
    [...m[layer]].forEach((b, i) => {
      const p = at(path, `${layer}.${i}`);
      const input = cur;
      let out: string;
      if (b instanceof TvBasicBlock) {
        const a = g.node("Relu", [g.convBn(input, b.conv1, `${p}.conv1`, b.bn1, `${p}.bn1`)]);
        out = g.convBn(a, b.conv2, `${p}.conv2`, b.bn2, `${p}.bn2`);
      } else if (b instanceof TvBottleneck) {
        const a = g.node("Relu", [g.convBn(input, b.conv1, `${p}.conv1`, b.bn1, `${p}.bn1`)]);
        const c = g.node("Relu", [g.convBn(a, b.conv2, `${p}.conv2`, b.bn2, `${p}.bn2`)]);
        out = g.convBn(c, b.conv3, `${p}.conv3`, b.bn3, `${p}.bn3`);
      } else throw new Error(`onnx export: ${p}: unexpected block ${b.typeName}`);
      const skip = b.downsample ? g.module(input, b.downsample, `${p}.downsample`) : input;
      cur = g.node("Relu", [g.node("Add", [out, skip])]);
    });
  }
  return g.node("Flatten", [g.node("GlobalAveragePool", [cur])], { axis: 1 });
}

/** x·Wᵀ + b over the last axis of a 3-d input. */
function linear3d(g: GraphBuilder, x: string, l: Linear, path: string): string {
  const wt = torch.scope(() => float32Of(l.weight.t().contiguous()));
  let y = g.node("MatMul", [x, g.initializer(`${path}.weight_t`, wt, [l.inFeatures, l.outFeatures])]);
  if (l.bias) y = g.node("Add", [y, g.initializer(`${path}.bias`, float32Of(l.bias), [l.outFeatures])]);
  return y;
}

function reduceMeanLast(g: GraphBuilder, x: string): string {
  return g.opset >= 18
    ? g.node("ReduceMean", [x, g.int64("axes_last", [-1])], { keepdims: 1 })
    : g.node("ReduceMean", [x], { axes: [-1], keepdims: 1 });
}

function layerNorm(g: GraphBuilder, x: string, ln: LayerNorm, path: string): string {
  const d = g.node("Sub", [x, reduceMeanLast(g, x)]);
  const variance = reduceMeanLast(g, g.node("Mul", [d, d]));
  const eps = g.initializer(`${path}.eps`, new Float32Array([ln.eps]), []);
  const y = g.node("Div", [d, g.node("Sqrt", [g.node("Add", [variance, eps])])]);
  const w = g.initializer(`${path}.weight`, float32Of(ln.weight), [ln.dim]);
  return g.node("Add", [g.node("Mul", [y, w]), g.initializer(`${path}.bias`, float32Of(ln.bias), [ln.dim])]);
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
function gelu(g: GraphBuilder, x: string, path: string): string {
  const e = g.node("Erf", [g.node("Mul", [x, g.initializer(`${path}.inv_sqrt2`, new Float32Array([Math.SQRT1_2]), [])])]);
  const one = g.initializer(`${path}.one`, new Float32Array([1]), []);
  const half = g.initializer(`${path}.half`, new Float32Array([0.5]), []);
  return g.node("Mul", [g.node("Mul", [x, half]), g.node("Add", [e, one])]);
}

export function dinoVitToOnnx(g: GraphBuilder, x: string, m: DinoVisionTransformer, path: string): string {
  if (!g.inputSize) throw new Error(`onnx export: ${path || "(root)"}: a ViT needs a fixed input size (inputSize [height, width]) to resize its positional embeddings`);
  const [h, w] = g.inputSize;
  const p = m.cfg.patchSize;
  if (h % p !== 0 || w % p !== 0) throw new Error(`onnx export: input ${h}×${w} px is not a multiple of the patch size ${p}`);
  const dim = m.cfg.embedDim;
  const nPatch = (h / p) * (w / p);
  const heads = m.cfg.numHeads;
  const hd = dim / heads;
  // Positional embeddings for this size; the CLS token gets its own (cls_token + pos_embed[0]) ahead of time.
  const { clsPos, patchPos } = torch.noGrad(() => torch.scope(() => {
    const pos = m.posEmbedFor(h, w);
    return { clsPos: float32Of(m.param("cls_token")!.add(pos.narrow(1, 0, 1))), patchPos: float32Of(pos.narrow(1, 1, nPatch)) };
  }));
  const conv = g.conv(x, m.patchEmbed.proj, at(path, "patch_embed.proj"), null);
  const patches = g.node("Transpose", [g.node("Reshape", [conv, g.int64("shape_b_d_p", [0, dim, -1])])], { perm: [0, 2, 1] });
  const tokensP = g.node("Add", [patches, g.initializer(at(path, "pos_embed.patches"), patchPos, [1, nPatch, dim])]);
  // CLS row per image: Expand the constant to [B, 1, D], B taken from the input's shape.
  const batch = g.node("Slice", [g.node("Shape", [x]), g.int64("zero", [0]), g.int64("one", [1])]);
  const clsShape = g.node("Concat", [batch, g.int64("one_dim", [1, dim])], { axis: 0 });
  const cls = g.node("Expand", [g.initializer(at(path, "cls_token.pos"), clsPos, [1, 1, dim]), clsShape]);
  let t = g.node("Concat", [cls, tokensP], { axis: 1 });
  const qkvShape = g.int64("shape_qkv", [0, 0, 3, heads, hd]);
  const mergeShape = g.int64("shape_b_n_d", [0, 0, dim]);
  const idx = [0, 1, 2].map((i) => g.int64(`index_${i}`, [i], []));
  const scale = g.initializer("attn.scale", new Float32Array([hd ** -0.5]), []);
  [...m.blocks].forEach((b0, i) => {
    const b = b0 as Block;
    const bp = at(path, `blocks.${i}`);
    const n1 = layerNorm(g, t, b.norm1, `${bp}.norm1`);
    const qkv = g.node("Transpose", [g.node("Reshape", [linear3d(g, n1, b.attn.qkv, `${bp}.attn.qkv`), qkvShape])], { perm: [2, 0, 3, 1, 4] });
    const [q, k, v] = idx.map((ix) => g.node("Gather", [qkv, ix], { axis: 0 }));
    const scores = g.node("MatMul", [g.node("Mul", [q!, scale]), g.node("Transpose", [k!], { perm: [0, 1, 3, 2] })]);
    const ctx = g.node("MatMul", [g.node("Softmax", [scores], { axis: -1 }), v!]);
    const merged = g.node("Reshape", [g.node("Transpose", [ctx], { perm: [0, 2, 1, 3] }), mergeShape]);
    const attn = linear3d(g, merged, b.attn.proj, `${bp}.attn.proj`);
    t = g.node("Add", [t, g.node("Mul", [attn, g.initializer(`${bp}.ls1.gamma`, float32Of(b.ls1.gamma), [dim])])]);
    const n2 = layerNorm(g, t, b.norm2, `${bp}.norm2`);
    const mlp = linear3d(g, gelu(g, linear3d(g, n2, b.mlp.fc1, `${bp}.mlp.fc1`), `${bp}.mlp`), b.mlp.fc2, `${bp}.mlp.fc2`);
    t = g.node("Add", [t, g.node("Mul", [mlp, g.initializer(`${bp}.ls2.gamma`, float32Of(b.ls2.gamma), [dim])])]);
  });
  const normed = layerNorm(g, t, m.norm, at(path, "norm"));
  return g.node("Gather", [normed, idx[0]!], { axis: 1 });
}
