// NT-Xent (normalized temperature-scaled cross entropy), SimCLR's loss, as lightly's NTXentLoss
// without memory bank: for 2N projections, each one's positive is its other view and the 2N-2
// remaining projections are negatives; the loss is the mean cross entropy over all 2N rows.
//
// With a process group (lightly's gather_distributed=True): each rank's rows are its own 2N
// projections, their candidates are every rank's 2N·W projections (gathered with gradients flowing
// back) minus the row itself; the mean is over this rank's 2N rows, as lightly's. DDP's averaging of
// the ranks' gradients then makes the step the one of the single-process loss on the concatenated
// batch. A masked (-inf) column is a removed one for the cross entropy, so one logits matrix serves.
import * as torch from "../torch/index.js";
import { F, type Tensor } from "../torch/index.js";
import { Module } from "../nn/index.js";

/** What the gathered loss needs of a process group (src/distributed's ProcessGroup has it). */
export interface NegativesGroup {
  readonly rank: number;
  readonly worldSize: number;
  /** Every rank's rows concatenated along dim 0, gradients flowing back to this rank's rows. */
  gatherWithGrad(t: Tensor): Tensor;
}

/** NT-Xent of two views' projections (N×D each); temperature as lightly's (default 0.5); `group`: negatives from every rank. */
export function ntXentLoss(out0: Tensor, out1: Tensor, temperature = 0.5, group?: NegativesGroup): Tensor {
  if (Math.abs(temperature) < 1e-8) throw new Error(`Illegal temperature: abs(${temperature}) < 1e-8`);
  const [n] = out0.shape;
  if (out1.shape[0] !== n) throw new Error(`ntXentLoss: the two views have ${n} and ${out1.shape[0]} rows`);
  const world = group && group.worldSize > 1 ? group.worldSize : 1;
  const base = world > 1 ? group!.rank * 2 * n : 0; // this rank's first row among the gathered ones
  return torch.scope(() => {
    const z = torch.cat([F.normalize(out0, 2, 1), F.normalize(out1, 2, 1)], 0);
    // Candidates: every rank's [view 0; view 1] rows in rank order (one collective).
    const all = world > 1 ? group!.gatherWithGrad(z) : z;
    // cosine similarities / T with each row's own entry masked out (never a candidate).
    const logits = z.mm(all.t()).div(temperature);
    const idx = torch.arange(0, n, 1, { device: z.device });
    const self = world > 1
      ? torch.arange(0, 2 * n * world, 1, { device: z.device }).unsqueeze(0).eq(torch.arange(base, base + 2 * n, 1, { device: z.device }).unsqueeze(1))
      : torch.eye(2 * n, 2 * n, { dtype: "bool", device: z.device });
    const masked = logits.maskedFill(self, -Infinity);
    // row i (view 0) has its positive at i + N (view 1 of the same image), row N + i at i.
    const labels = torch.cat([idx.add(base + n), idx.add(base)], 0);
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
