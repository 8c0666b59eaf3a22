// Squared distances from rows to picked centres, as the lazy DIVERSITY search computes them: one
// matrix product per block, so the flush and the candidate updates agree up to the BLAS's summation order.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";

/**
 * Squared distances of `rows` to `centres` as [R, P], in one product:
 * (||c||² − 2 x·c) + ||x||². `negTwoCt` is −2·centresᵀ [D, P] (scaling by 2 is exact), `csq` [1, P].
 * Both the flush and the candidate updates use this form so their values agree up to the BLAS's
 * summation order.
 */
export function sqDist(rows: Tensor, rowsSq: Tensor, negTwoCt: Tensor, csq: Tensor): Tensor {
  return torch.addmm(csq, rows, negTwoCt).add_(rowsSq.unsqueeze(1));
}

/** vals ← min(vals, squared distance to the centres `ids`) for the rows of `rows`, `chunk` rows at a time. */
export function applyCentres(x: Tensor, sq: Tensor, rows: Tensor, rowsSq: Tensor, vals: Tensor, ids: Tensor, chunkFor: (p: number) => number): void {
  const [R] = rows.shape;
  const all = ids.shape[0];
  // Centres 256 at a time: a refresh may bring a long backlog.
  for (let c0 = 0; c0 < all; c0 += 256) {
    torch.scope(() => {
      const cid = ids.narrow(0, c0, Math.min(256, all - c0));
      const negTwoCt = x.indexSelect(0, cid).mul(-2).t().contiguous();
      const csq = sq.indexSelect(0, cid).unsqueeze(0);
      const chunk = chunkFor(cid.shape[0]);
      for (let s = 0; s < R; s += chunk) {
        torch.scope(() => {
          const r = Math.min(chunk, R - s);
          // min over centres before adding ||x||²: rounding is monotonic, so this equals adding first.
          const d = torch.addmm(csq, rows.narrow(0, s, r), negTwoCt).amin(1).add_(rowsSq.narrow(0, s, r));
          vals.narrow(0, s, r).minimum_(d);
        });
      }
    });
  }
}
