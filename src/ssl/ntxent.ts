// NT-Xent (normalized temperature-scaled cross entropy), SimCLR's loss, as lightly's NTXentLoss
// without memory bank: for 2N projections, each one's positive is its other view and the 2N-2
// remaining projections are negatives; the loss is the mean cross entropy over all 2N rows.
import * as torch from "../torch/index.js";
import { F, type Tensor } from "../torch/index.js";
import { Module } from "../nn/index.js";

/** NT-Xent of two views' projections (N×D each); temperature as lightly's (default 0.5). */
export function ntXentLoss(out0: Tensor, out1: Tensor, temperature = 0.5): Tensor {
  if (Math.abs(temperature) < 1e-8) throw new Error(`Illegal temperature: abs(${temperature}) < 1e-8`);
  const [n] = out0.shape;
  if (out1.shape[0] !== n) throw new Error(`ntXentLoss: the two views have ${n} and ${out1.shape[0]} rows`);
  return torch.scope(() => {
    const z = torch.cat([F.normalize(out0, 2, 1), F.normalize(out1, 2, 1)], 0);
    // cosine similarities / T with each row's own entry masked out (never a candidate).
    const logits = z.mm(z.t()).div(temperature);
    const self = torch.eye(2 * n, 2 * n, { dtype: "bool", device: z.device });
    const masked = logits.maskedFill(self, -Infinity);
    // row i (view 0) has its positive at i + N; row N + i (view 1) at i.
    const idx = torch.arange(0, n, 1, { device: z.device });
    const labels = torch.cat([idx.add(n), idx], 0);
    return F.crossEntropy(masked, labels);
  });
}

export class NTXentLoss extends Module {
  constructor(readonly temperature = 0.5) {
    super();
    if (Math.abs(temperature) < 1e-8) throw new Error(`Illegal temperature: abs(${temperature}) < 1e-8`);
  }
  override forward(out0: Tensor, out1: Tensor): Tensor {
    return ntXentLoss(out0, out1, this.temperature);
  }
  override extraRepr(): string {
    return "";
  }
}
