// torch.nn.functional: PyTorch's names, argument order and defaults.
import { native } from "./native.js";
import { Tensor } from "./tensor.js";
import { dtypeCode, type DType } from "./dtype.js";
import { scope } from "./scope.js";

type Pair = number | [number, number];
const pair = (v: Pair): number[] => (Array.isArray(v) ? v : [v, v]);

export function conv2d(
  input: Tensor, weight: Tensor, bias?: Tensor | null,
  stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1, groups = 1,
): Tensor {
  return new Tensor(native.conv2d(input.h, weight.h, bias?.h, pair(stride), pair(padding), pair(dilation), groups));
}

export function batchNorm(
  input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  opts: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {},
): Tensor {
  return new Tensor(native.batchNorm(
    input.h, opts.weight?.h, opts.bias?.h, runningMean?.h, runningVar?.h,
    opts.training ?? false, opts.momentum ?? 0.1, opts.eps ?? 1e-5,
  ));
}

export function layerNorm(input: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return new Tensor(native.layerNorm(input.h, normalizedShape, weight?.h, bias?.h, eps));
}

export function groupNorm(input: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return new Tensor(native.groupNorm(input.h, numGroups, weight?.h, bias?.h, eps));
}

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(native.linear(input.h, weight.h, bias?.h));
}

export const relu = (x: Tensor): Tensor => x.relu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const tanh = (x: Tensor): Tensor => x.tanh();
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  return new Tensor(native.gelu(x.h, approximate === "tanh"));
}
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  return new Tensor(native.softplus(x.h, beta, threshold));
}
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return new Tensor(native.leakyRelu(x.h, negativeSlope));
}
export function silu(x: Tensor): Tensor {
  return new Tensor(native.silu(x.h));
}

export function maxPool2d(input: Tensor, kernelSize: Pair, stride?: Pair | null, padding: Pair = 0, dilation: Pair = 1, ceilMode = false): Tensor {
  return new Tensor(native.maxPool2d(input.h, pair(kernelSize), stride == null ? pair(kernelSize) : pair(stride), pair(padding), pair(dilation), ceilMode));
}

export function avgPool2d(input: Tensor, kernelSize: Pair, stride?: Pair | null, padding: Pair = 0, ceilMode = false, countIncludePad = true): Tensor {
  return new Tensor(native.avgPool2d(input.h, pair(kernelSize), stride == null ? pair(kernelSize) : pair(stride), pair(padding), ceilMode, countIncludePad));
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.adaptiveAvgPool2d(input.h, pair(outputSize)));
}

export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  return new Tensor(native.dropout(input.h, p, training));
}

export function softmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return new Tensor(native.softmax(input.h, dim, dtype ? dtypeCode(dtype) : undefined));
}

export function logSoftmax(input: Tensor, dim: number, dtype?: DType): Tensor {
  return new Tensor(native.logSoftmax(input.h, dim, dtype ? dtypeCode(dtype) : undefined));
}

const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;
type Reduction = keyof typeof REDUCTION;

export function crossEntropy(
  input: Tensor, target: Tensor,
  opts: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return new Tensor(native.crossEntropy(
    input.h, target.h, opts.weight?.h, REDUCTION[opts.reduction ?? "mean"], opts.ignoreIndex ?? -100, opts.labelSmoothing ?? 0,
  ));
}

export function nllLoss(input: Tensor, target: Tensor, opts: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number } = {}): Tensor {
  return new Tensor(native.nllLoss(input.h, target.h, opts.weight?.h, REDUCTION[opts.reduction ?? "mean"], opts.ignoreIndex ?? -100));
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = "mean"): Tensor {
  return new Tensor(native.mseLoss(input.h, target.h, REDUCTION[reduction]));
}

export function oneHot(t: Tensor, numClasses = -1): Tensor {
  return new Tensor(native.oneHot(t.h, numClasses));
}

/** F.normalize: x / max(||x||_p, eps) along `dim`. */
export function normalize(x: Tensor, p = 2, dim = 1, eps = 1e-12): Tensor {
  return scope(() => x.div(x.norm(p, dim, true).clampMin(eps).expandAs(x)));
}

/** F.cosine_similarity along `dim` (PyTorch ≥1.12 semantics: each norm clamped by eps). */
export function cosineSimilarity(a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor {
  return scope(() => {
    const na = a.norm(2, dim).clampMin(eps);
    const nb = b.norm(2, dim).clampMin(eps);
    return a.mul(b).sum(dim).div(na.mul(nb));
  });
}

const INTERP = { nearest: 0, bilinear: 1, bicubic: 3 } as const;

/** F.interpolate for 4-d input with an explicit output size. */
export function interpolate(
  input: Tensor, size: Pair,
  opts: { mode?: "nearest" | "bilinear" | "bicubic"; alignCorners?: boolean; antialias?: boolean } = {},
): Tensor {
  const mode = opts.mode ?? "nearest";
  let code: number = INTERP[mode];
  if (opts.antialias) {
    if (mode !== "bilinear") throw new Error(`interpolate: antialias is supported for mode 'bilinear', not '${mode}'`);
    code = 2;
  }
  return new Tensor(native.interpolate(input.h, pair(size), code, opts.alignCorners ?? false));
}

export function affineGrid(theta: Tensor, size: number[], alignCorners = false): Tensor {
  return new Tensor(native.affineGrid(theta.h, size, alignCorners));
}

export function gridSample(
  input: Tensor, grid: Tensor,
  opts: { mode?: "bilinear" | "nearest" | "bicubic"; paddingMode?: "zeros" | "border" | "reflection"; alignCorners?: boolean } = {},
): Tensor {
  const mode = { bilinear: 0, nearest: 1, bicubic: 2 }[opts.mode ?? "bilinear"];
  const pad = { zeros: 0, border: 1, reflection: 2 }[opts.paddingMode ?? "zeros"];
  return new Tensor(native.gridSample(input.h, grid.h, mode, pad, opts.alignCorners ?? false));
}

/** F.pad; `pad` lists (left, right, top, bottom, …) from the last dim backwards. */
export function pad(input: Tensor, padding: number[], mode: "constant" | "reflect" | "replicate" = "constant", value = 0): Tensor {
  const code = { constant: 0, reflect: 1, replicate: 2 }[mode];
  return new Tensor(native.pad(input.h, padding, code, value));
}
