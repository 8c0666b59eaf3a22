// torch.nn.init: the same formulas (and the same RNG draws, so the same values for the same seed).
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";

export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu";

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case "linear": case "conv2d": case "sigmoid": return 1;
    case "tanh": return 5.0 / 3;
    case "relu": return Math.sqrt(2.0);
    case "leaky_relu": {
      const slope = param ?? 0.01;
      return Math.sqrt(2.0 / (1 + slope ** 2));
    }
  }
}

/** [fan_in, fan_out] of a weight: dims 1 and 0 times the receptive field size. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
  let receptive = 1;
  for (const d of s.slice(2)) receptive *= d;
  return [s[1] * receptive, s[0] * receptive];
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return torch.noGrad(() => t.uniform_(a, b));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return torch.noGrad(() => t.normal_(mean, std));
}
export function constant_(t: Tensor, v: number): Tensor {
  return torch.noGrad(() => t.fill_(v));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export function kaimingUniform_(
  t: Tensor, a = 0, mode: "fan_in" | "fan_out" = "fan_in", nonlinearity: Nonlinearity = "leaky_relu",
): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = mode === "fan_in" ? fanIn : fanOut;
  const gain = calculateGain(nonlinearity, a);
  const std = gain / Math.sqrt(fan);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound);
}

export function kaimingNormal_(
  t: Tensor, a = 0, mode: "fan_in" | "fan_out" = "fan_in", nonlinearity: Nonlinearity = "leaky_relu",
): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = mode === "fan_in" ? fanIn : fanOut;
  const std = calculateGain(nonlinearity, a) / Math.sqrt(fan);
  return normal_(t, 0, std);
}

export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a);
}
