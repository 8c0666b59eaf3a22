// Layers with PyTorch's names, parameter/buffer names, defaults, initialization and reprs.
import * as torch from "../torch/index.js";
import { F, Tensor } from "../torch/index.js";
import { Module } from "./module.js";
import { kaimingUniform_, uniform_, calculateFanInAndFanOut, ones_, zeros_ } from "./init.js";
import { pyRepr } from "./repr.js";

/** PyTorch's Conv/Linear init: kaiming_uniform_(a=√5) for the weight, U(±1/√fan_in) for the bias. */
function resetWeightAndBias(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (!bias) return;
  const [fanIn] = calculateFanInAndFanOut(weight);
  if (fanIn > 0) uniform_(bias, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  else zeros_(bias); // an empty input: PyTorch's Linear uses bound 0 here
}

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

// ---- Conv2d ---------------------------------------------------------------------------------
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0) throw new Error("in_channels must be divisible by groups");
    if (outChannels % this.groups !== 0) throw new Error("out_channels must be divisible by groups");
    this.registerParameter("weight", torch.empty([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.registerParameter("bias", opts.bias ?? true ? torch.empty([outChannels]) : null);
    this.resetParameters();
  }

  get weight(): Tensor {
    return this.param("weight")!;
  }
  get bias(): Tensor | null {
    return this.param("bias");
  }

  resetParameters(): void {
    resetWeightAndBias(this.weight, this.bias);
  }

  override forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this.stride, this.padding, this.dilation, this.groups);
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyRepr(this.kernelSize)}, stride=${pyRepr(this.stride)}`;
    if (this.padding.some((p) => p !== 0)) s += `, padding=${pyRepr(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${pyRepr(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ", bias=False";
    return s;
  }
}

// ---- Linear ---------------------------------------------------------------------------------
export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.registerParameter("weight", torch.empty([outFeatures, inFeatures]));
    this.registerParameter("bias", opts.bias ?? true ? torch.empty([outFeatures]) : null);
    this.resetParameters();
  }
  get weight(): Tensor {
    return this.param("weight")!;
  }
  get bias(): Tensor | null {
    return this.param("bias");
  }
  resetParameters(): void {
    resetWeightAndBias(this.weight, this.bias);
  }
  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyRepr(this.bias !== null)}`;
  }
}

// ---- BatchNorm ------------------------------------------------------------------------------
export interface BatchNormOptions {
  eps?: number;
  /** null = cumulative moving average (PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/** Base of BatchNorm1d/2d (PyTorch's _BatchNorm). Normalization layers answer `isNormLayer`. */
export abstract class BatchNormBase extends Module {
  /** Marks normalization layers (see isNormLayer); other norm layers may set it too. */
  static readonly isNorm = true;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(readonly numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    if (this.affine) {
      this.registerParameter("weight", ones_(torch.empty([numFeatures])));
      this.registerParameter("bias", zeros_(torch.empty([numFeatures])));
    } else {
      this.registerParameter("weight", null);
      this.registerParameter("bias", null);
    }
    if (this.trackRunningStats) {
      this.registerBuffer("running_mean", torch.zeros([numFeatures]));
      this.registerBuffer("running_var", torch.ones([numFeatures]));
      this.registerBuffer("num_batches_tracked", torch.zeros([], { dtype: "int64" }));
    } else {
      this.registerBuffer("running_mean", null);
      this.registerBuffer("running_var", null);
      this.registerBuffer("num_batches_tracked", null);
    }
  }

  get weight(): Tensor | null {
    return this.param("weight");
  }
  get bias(): Tensor | null {
    return this.param("bias");
  }
  get runningMean(): Tensor | null {
    return this.buffer("running_mean");
  }
  get runningVar(): Tensor | null {
    return this.buffer("running_var");
  }
  get numBatchesTracked(): Tensor | null {
    return this.buffer("num_batches_tracked");
  }

  /** Resets running statistics to mean 0, var 1, count 0. */
  resetRunningStats(): void {
    torch.noGrad(() => {
      this.runningMean?.zero_();
      this.runningVar?.fill_(1);
      this.numBatchesTracked?.zero_();
    });
  }

  protected abstract checkInput(x: Tensor): void;

  override forward(x: Tensor): Tensor {
    this.checkInput(x);
    let factor = this.momentum ?? 0.0;
    if (this.training && this.trackRunningStats) {
      const nbt = this.numBatchesTracked;
      if (nbt) {
        torch.noGrad(() => nbt.add_(1));
        if (this.momentum === null) factor = 1.0 / nbt.item();
      }
    }
    const rm = this.runningMean;
    const rv = this.runningVar;
    const bnTraining = this.training || (rm === null && rv === null);
    const useStats = !this.training || this.trackRunningStats;
    return F.batchNorm(x, useStats ? rm : null, useStats ? rv : null, {
      weight: this.weight, bias: this.bias, training: bnTraining, momentum: factor, eps: this.eps,
    });
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyRepr(this.eps, true)}, momentum=${this.momentum === null ? "None" : pyRepr(this.momentum, true)}, affine=${pyRepr(this.affine)}, track_running_stats=${pyRepr(this.trackRunningStats)}`;
  }
}

export class BatchNorm1d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new Error(`expected 2D or 3D input (got ${x.ndim}D input)`);
  }
}
export class BatchNorm2d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new Error(`expected 4D input (got ${x.ndim}D input)`);
  }
}

// ---- parameter-free layers -----------------------------------------------------------------
export class ReLU extends Module {
  constructor(readonly inplace = false) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return this.inplace ? x.relu_() : x.relu();
  }
  override extraRepr(): string {
    return this.inplace ? "inplace=True" : "";
  }
}

export class Identity extends Module {
  /** Returns its input itself (as PyTorch does). */
  override forward(x: Tensor): Tensor {
    return x;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${pyRepr(this.outputSize)}`;
  }
}

export class MaxPool2d extends Module {
  readonly stride: Pair;
  constructor(
    readonly kernelSize: Pair,
    opts: { stride?: Pair | null; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly ceilMode: boolean;
  override forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.stride, this.padding, this.dilation, this.ceilMode);
  }
  override extraRepr(): string {
    return `kernel_size=${pyRepr(this.kernelSize)}, stride=${pyRepr(this.stride)}, padding=${pyRepr(this.padding)}, dilation=${pyRepr(this.dilation)}, ceil_mode=${pyRepr(this.ceilMode)}`;
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new Error(`dropout probability has to be between 0 and 1, but got ${p}`);
  }
  override forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${pyRepr(this.p, true)}, inplace=False`;
  }
}

// ---- Sequential -------------------------------------------------------------------------------
/** Children named "0", "1", … run in order. Intermediate outputs are freed as soon as consumed. */
export class Sequential extends Module {
  private readonly seq: Module[] = [];

  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  /** A Sequential with named children (PyTorch's Sequential(OrderedDict(...))). */
  static fromNamed(entries: Iterable<[string, Module]>): Sequential {
    const s = new Sequential();
    for (const [n, m] of entries) {
      s.registerModule(n, m);
      s.seq.push(m);
    }
    return s;
  }

  append(m: Module): this {
    this.registerModule(String(this.seq.length), m);
    this.seq.push(m);
    return this;
  }
  get length(): number {
    return this.seq.length;
  }
  at(i: number): Module {
    const m = this.seq[i < 0 ? this.seq.length + i : i];
    if (!m) throw new Error(`index ${i} is out of range for a Sequential of length ${this.seq.length}`);
    return m;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.seq[Symbol.iterator]();
  }

  override forward(x: Tensor): Tensor {
    return torch.scope(() => {
      let cur = x;
      for (const m of this.seq) {
        const next = m.forward(cur);
        if (cur !== x && cur !== next) cur.dispose();
        cur = next;
      }
      return cur;
    });
  }
}

/** Whether `m` is a normalization layer (a class with a static `isNorm = true`, e.g. BatchNorm). */
export function isNormLayer(m: Module): boolean {
  return (m.constructor as { isNorm?: boolean }).isNorm === true;
}
