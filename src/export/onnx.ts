// ONNX export of Winnow modules, written with our own protobuf writer (./protobuf.ts) from the
// public onnx.proto field numbers. Inference semantics (eval mode: BatchNorm uses its running
// statistics). The graph is built by walking the module tree; the module types a Lightly SimCLR
// model is made of are supported (Sequential, Conv2d, BatchNorm1d/2d, ReLU, Linear, Flatten,
// AdaptiveAvgPool2d(1), Identity, the ResNet blocks, projection heads, EmbeddingModel, SimCLR);
// anything else fails with the module's path and type.
//
// BatchNorm: by default a BatchNorm directly after a Conv2d is folded into that convolution
// (w' = w·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε) + β, computed in float64, stored as float32); other
// BatchNorms (the input BatchNorm2d(3), the heads' BatchNorm1d) become BatchNormalization nodes.
// `foldBatchNorm: false` keeps every BatchNorm as a node.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { Module, Sequential, Conv2d, Linear, BatchNormBase, ReLU, Identity, Flatten, AdaptiveAvgPool2d } from "../nn/index.js";
import { BasicBlock, Bottleneck } from "../models/resnet.js";
import { ProjectionHead } from "../models/heads.js";
import { EmbeddingModel, SimCLR } from "../models/simclr.js";
import { ProtoWriter } from "./protobuf.js";
import { TorchvisionResNet } from "../models/torchvision-resnet.js";
import { DinoVisionTransformer } from "../models/vit.js";
import { dinoVitToOnnx, torchvisionResNetToOnnx } from "./onnx-pretrained.js";

/** onnx.proto: TensorProto.DataType.FLOAT, AttributeProto.AttributeType values. */
const FLOAT = 1;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;
/** IR version 7 is the one that goes with opset 13 (the oldest runtime that reads opset 13 reads it). */
export const DEFAULT_OPSET = 13;
const IR_VERSION_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

type Attr = number | number[] | string | { float: number };

export interface OnnxExportOptions {
  /** Opset of the default domain, 13..21 (default 13). */
  opset?: number;
  /** Fold BatchNorm layers that follow a convolution into it (default true). */
  foldBatchNorm?: boolean;
  /** Graph input / output names (default "input" / "output"). */
  inputName?: string;
  outputName?: string;
  /** Output width, for the output's declared shape [batch, outputDim]; unknown when omitted. */
  outputDim?: number;
  /** Fixed input [height, width] (required by ViTs: their positional embeddings are resized for it at export). */
  inputSize?: [number, number];
  /** Free text stored as the model's doc_string (e.g. the model settings). */
  docString?: string;
  graphName?: string;
  producerVersion?: string;
}

const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
export const float32Of = (t: Tensor): Float32Array => {
  const d = torch.scope(() => t.float().data()); // .float() may make a new handle: the scope frees it
  if (!(d instanceof Float32Array)) throw new Error("onnx export: expected float32 data");
  return d;
};

export class GraphBuilder {
  readonly nodes: Uint8Array[] = [];
  readonly initializers: Uint8Array[] = [];
  private readonly names = new Set<string>();
  private count = 0;

  constructor(readonly fold: boolean, readonly opset = DEFAULT_OPSET, readonly inputSize: [number, number] | null = null) {}

  /** An int64 initializer (shapes, axes, indices); dims [] for a scalar. */
  int64(name: string, values: number[], dims: number[] = [values.length]): string {
    const n = this.unique(name);
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d);
    t.int(2, 7); // INT64
    t.string(8, n);
    const b = new BigInt64Array(values.map((v) => BigInt(v)));
    t.bytes(9, new Uint8Array(b.buffer));
    this.initializers.push(t.finish());
    return n;
  }

  private unique(base: string): string {
    let n = base;
    for (let k = 1; this.names.has(n); k++) n = `${base}_${k}`;
    this.names.add(n);
    return n;
  }

  initializer(name: string, values: Float32Array, dims: number[]): string {
    const n = this.unique(name);
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d); // dims
    t.int(2, FLOAT); // data_type
    t.string(8, n); // name
    t.bytes(9, f32Bytes(values)); // raw_data (little-endian)
    this.initializers.push(t.finish());
    return n;
  }

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, outName?: string): string {
    const name = `${op}_${this.count++}`;
    const out = outName ?? this.unique(`${name}_out`);
    const w = new ProtoWriter();
    for (const i of inputs) w.string(1, i);
    w.string(2, out);
    w.string(3, name);
    w.string(4, op);
    for (const [k, v] of Object.entries(attrs)) {
      const a = new ProtoWriter().string(1, k);
      if (Array.isArray(v)) {
        for (const x of v) a.int(8, x);
        a.int(20, ATTR.INTS);
      } else if (typeof v === "number") {
        a.int(3, v).int(20, ATTR.INT);
      } else if (typeof v === "string") {
        a.string(4, v).int(20, ATTR.STRING);
      } else {
        a.float(2, v.float).int(20, ATTR.FLOAT);
      }
      w.message(5, a);
    }
    this.nodes.push(w.finish());
    return out;
  }

  // ---- layers ------------------------------------------------------------------------------------
  conv(x: string, conv: Conv2d, path: string, bn: BatchNormBase | null): string {
    const w = float32Of(conv.weight);
    const outC = conv.outChannels;
    let weight = w;
    let bias: Float32Array | null = conv.bias ? float32Of(conv.bias) : null;
    if (bn) {
      const { scale, shift } = bnAffine(bn, path);
      const per = w.length / outC;
      weight = new Float32Array(w.length);
      const b = new Float32Array(outC);
      for (let o = 0; o < outC; o++) {
        for (let k = 0; k < per; k++) weight[o * per + k] = w[o * per + k]! * scale[o]!;
        b[o] = (bias ? bias[o]! : 0) * scale[o]! + shift[o]!;
      }
      bias = b;
    }
    const inputs = [x, this.initializer(`${path}.weight`, weight, conv.weight.shape)];
    if (bias) inputs.push(this.initializer(`${path}.bias`, bias, [outC]));
    const [ph, pw] = conv.padding;
    return this.node("Conv", inputs, {
      kernel_shape: conv.kernelSize, strides: conv.stride, pads: [ph, pw, ph, pw], dilations: conv.dilation, group: conv.groups,
    });
  }

  batchNorm(x: string, bn: BatchNormBase, path: string): string {
    const { mean, variance } = bnStats(bn, path);
    const c = bn.numFeatures;
    const scale = bn.weight ? float32Of(bn.weight) : new Float32Array(c).fill(1);
    const shift = bn.bias ? float32Of(bn.bias) : new Float32Array(c);
    return this.node("BatchNormalization", [
      x,
      this.initializer(`${path}.weight`, scale, [c]),
      this.initializer(`${path}.bias`, shift, [c]),
      this.initializer(`${path}.running_mean`, mean, [c]),
      this.initializer(`${path}.running_var`, variance, [c]),
    ], { epsilon: { float: bn.eps } });
  }

  linear(x: string, l: Linear, path: string): string {
    const inputs = [x, this.initializer(`${path}.weight`, float32Of(l.weight), l.weight.shape)];
    if (l.bias) inputs.push(this.initializer(`${path}.bias`, float32Of(l.bias), [l.outFeatures]));
    return this.node("Gemm", inputs, { transB: 1 });
  }

  /** conv followed by an optional BatchNorm: folded, or as two nodes. */
  convBn(x: string, conv: Conv2d, convPath: string, bn: BatchNormBase, bnPath: string): string {
    if (this.fold) return this.conv(x, conv, convPath, bn);
    return this.batchNorm(this.conv(x, conv, convPath, null), bn, bnPath);
  }

  module(x: string, m: Module, path: string): string {
    const at = (name: string): string => (path ? `${path}.${name}` : name);
    if (m instanceof Sequential) {
      const mods = [...m];
      let cur = x;
      for (let i = 0; i < mods.length; i++) {
        const a = mods[i]!;
        const b = mods[i + 1];
        if (a instanceof Conv2d && b instanceof BatchNormBase) {
          cur = this.convBn(cur, a, at(String(i)), b, at(String(i + 1)));
          i++;
        } else cur = this.module(cur, a, at(String(i)));
      }
      return cur;
    }
    if (m instanceof Conv2d) return this.conv(x, m, path, null);
    if (m instanceof BatchNormBase) return this.batchNorm(x, m, path);
    if (m instanceof Linear) return this.linear(x, m, path);
    if (m instanceof ReLU) return this.node("Relu", [x]);
    if (m instanceof Identity) return x;
    if (m instanceof Flatten) {
      if (m.startDim !== 1 || (m.endDim !== -1)) throw new Error(`onnx export: ${path}: only Flatten(1, -1) is supported`);
      return this.node("Flatten", [x], { axis: 1 });
    }
    if (m instanceof AdaptiveAvgPool2d) {
      const o = m.outputSize;
      if (!(o === 1 || (Array.isArray(o) && o[0] === 1 && o[1] === 1))) throw new Error(`onnx export: ${path}: only AdaptiveAvgPool2d(1) is supported`);
      return this.node("GlobalAveragePool", [x]);
    }
    if (m instanceof BasicBlock) {
      const a = this.node("Relu", [this.convBn(x, m.conv1, at("conv1"), m.bn1, at("bn1"))]);
      const out = this.convBn(a, m.conv2, at("conv2"), m.bn2, at("bn2"));
      return this.node("Relu", [this.node("Add", [out, this.module(x, m.shortcut, at("shortcut"))])]);
    }
    if (m instanceof Bottleneck) {
      const a = this.node("Relu", [this.convBn(x, m.conv1, at("conv1"), m.bn1, at("bn1"))]);
      const b = this.node("Relu", [this.convBn(a, m.conv2, at("conv2"), m.bn2, at("bn2"))]);
      const out = this.convBn(b, m.conv3, at("conv3"), m.bn3, at("bn3"));
      return this.node("Relu", [this.node("Add", [out, this.module(x, m.shortcut, at("shortcut"))])]);
    }
    if (m instanceof TorchvisionResNet) return torchvisionResNetToOnnx(this, x, m, path);
    if (m instanceof DinoVisionTransformer) return dinoVitToOnnx(this, x, m, path);
    if (m instanceof ProjectionHead) return this.module(x, m.layers, at("layers"));
    if (m instanceof EmbeddingModel) return this.node("Flatten", [this.module(x, m.backbone, at("backbone"))], { axis: 1 });
    if (m instanceof SimCLR) {
      const h = this.node("Flatten", [this.module(x, m.backbone, at("backbone"))], { axis: 1 });
      return this.module(h, m.projectionHead, at("projection_head"));
    }
    throw new Error(`onnx export: module ${path || "(root)"} of type ${m.typeName} is not supported`);
  }
}

function bnStats(bn: BatchNormBase, path: string): { mean: Float32Array; variance: Float32Array } {
  if (!bn.runningMean || !bn.runningVar) throw new Error(`onnx export: ${path}: BatchNorm without running statistics cannot be exported for inference`);
  return { mean: float32Of(bn.runningMean), variance: float32Of(bn.runningVar) };
}

/** BatchNorm in eval mode as y = x·scale + shift per channel (float64 arithmetic). */
function bnAffine(bn: BatchNormBase, path: string): { scale: Float64Array; shift: Float64Array } {
  const { mean, variance } = bnStats(bn, path);
  const c = bn.numFeatures;
  const g = bn.weight ? float32Of(bn.weight) : null;
  const b = bn.bias ? float32Of(bn.bias) : null;
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = (g ? g[i]! : 1) / Math.sqrt(variance[i]! + bn.eps);
    shift[i] = (b ? b[i]! : 0) - mean[i]! * scale[i]!;
  }
  return { scale, shift };
}

function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === "number" ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

/**
 * The ONNX model (bytes) computing `module.forward(input)` in eval mode for float32 NCHW input
 * [batch, 3, height, width]; batch, height and width are symbolic (dynamic) axes.
 */
export function moduleToOnnx(module: Module, opts: OnnxExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? DEFAULT_OPSET;
  const ir = IR_VERSION_FOR_OPSET[opset];
  if (ir === undefined) throw new Error(`onnx export: opset ${opset} is not supported (13..21)`);
  const inputName = opts.inputName ?? "input";
  const outputName = opts.outputName ?? "output";
  const g = new GraphBuilder(opts.foldBatchNorm ?? true, opset, opts.inputSize ?? null);
  const last = g.module(inputName, module, "");
  // Name the graph output: an Identity keeps every node's own output name unique and simple.
  g.node("Identity", [last], {}, outputName);
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.bytes(1, n);
  graph.string(2, opts.graphName ?? module.typeName);
  for (const t of g.initializers) graph.bytes(5, t);
  graph.message(11, valueInfo(inputName, ["batch", 3, opts.inputSize?.[0] ?? "height", opts.inputSize?.[1] ?? "width"]));
  graph.message(12, valueInfo(outputName, ["batch", opts.outputDim ?? "features"]));
  const model = new ProtoWriter()
    .int(1, ir) // ir_version
    .string(2, "winnow") // producer_name
    .string(3, opts.producerVersion ?? "0.1.0");
  if (opts.docString) model.string(6, opts.docString);
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, "").int(2, opset)); // opset_import
  return model.finish();
}
