// TYPICALITY (Lightly's strategy, after TypiClust, Hacohen et al. 2022): a sample is typical when
// it lies in a dense region: typicality = 1 / (mean Euclidean distance to its K nearest other
// samples), normalised here to a maximum of 1 so stopping_condition_minimum_typicality is in (0, 1].
// Neighbours are searched among all items (the data distribution), not only the eligible ones.
// Exact: one [rows × N] distance block per chunk (matmul) and a top-k on the engine. Large sets
// can take the approximate path in typicality-ivf.ts.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";

/** Rows per distance block: keeps a block near 64 MB of float32 whatever N is. */
const blockRows = (n: number): number => Math.max(1, Math.min(4096, Math.floor((16 << 20) / Math.max(1, n))));

/** Mean distance of every row of `x` [N, D] to its k nearest other rows (float64 out). */
export function meanKnnDistanceExact(x: Tensor, k: number): Float64Array {
  const n = x.shape[0];
  const kk = Math.min(k, n - 1);
  const out = new Float64Array(n);
  if (kk < 1) return out;
  torch.noGrad(() =>
    torch.scope(() => {
      const sq = x.square().sum(1);
      const negTwoXt = x.t().mul(-2);
      const B = blockRows(n);
      for (let s = 0; s < n; s += B) {
        const r = Math.min(B, n - s);
        const m = torch.scope(() => {
          const rows = x.narrow(0, s, r);
          const d2 = torch.addmm(sq.unsqueeze(0), rows, negTwoXt).add_(sq.narrow(0, s, r).unsqueeze(1));
          // Self is not its own neighbour (a duplicate elsewhere is, at distance 0).
          const self = torch.arange(s, s + r, 1, { dtype: "int64", device: x.device }).unsqueeze(1);
          d2.scatter_(1, self, torch.full([r, 1], Infinity, { device: x.device }));
          return d2.topk(kk, 1, false, false)[0].clampMin(0).sqrt().mean([1]).to("float64").cpu().toArray() as number[];
        });
        out.set(m, s);
      }
    }),
  );
  return out;
}

/** Typicality from mean neighbour distances: 1/mean, normalised to a maximum of 1. */
export function typicalityFromMeans(mean: Float64Array): Float64Array {
  // K exact duplicates give a mean of 0: floored so they rank first instead of making the rest 0.
  const t = Float64Array.from(mean, (m) => 1 / Math.max(m, 1e-12));
  let max = 0;
  for (const v of t) if (v > max) max = v;
  return max > 0 ? t.map((v) => v / max) : t.fill(1);
}
