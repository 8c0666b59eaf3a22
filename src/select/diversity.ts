// DIVERSITY as Lightly defines it: greedily pick the sample farthest (Euclidean) from everything
// already selected (datapool samples count as selected). The loop stays on the tensor device:
// no value is read back per pick, so on a GPU it runs as a stream of small kernels.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";

export interface DiversityOptions {
  /** Indices (into `embeddings`) that are already selected, e.g. the datapool. */
  alreadySelected?: number[];
  /** Stop once no remaining sample is at least this far from the selection. */
  minDistance?: number;
  /** L2-normalise embeddings first (worker_config.normalize_embeddings). */
  normalize?: boolean;
  /** Rows per chunk when initialising distances to many already-selected samples. */
  chunk?: number;
}

export interface DiversityResult {
  indices: number[];
  /** Distance of each pick to the nearest earlier selection at the time it was picked. */
  distances: number[];
}

/** Selects up to `n` rows of `embeddings` [N, D] by farthest-point sampling. */
export function selectDiverse(embeddings: Tensor, n: number, opts: DiversityOptions = {}): DiversityResult {
  const [N] = embeddings.shape;
  const count = Math.min(n, N - (opts.alreadySelected?.length ?? 0));
  if (count <= 0) return { indices: [], distances: [] };
  const [idxT, valT] = torch.noGrad(() =>
    torch.scope(() => {
      const x = opts.normalize ? torch.F.normalize(embeddings.to("float32"), 2, 1) : embeddings.to("float32");
      const sq = x.square().sum(1); // ||x||²
      const device = x.device;
      // minD[j] = squared distance from j to its nearest selected sample (+inf: none yet,
      // -inf: j itself is selected, so it is never picked again).
      const minD = torch.full([N], Infinity, { device });
      const pool = opts.alreadySelected ?? [];
      const chunk = opts.chunk ?? 4096;
      for (let s = 0; s < pool.length; s += chunk) {
        torch.scope(() => {
          const ids = torch.tensor(pool.slice(s, s + chunk), { dtype: "int64", device });
          const c = x.indexSelect(0, ids);
          const d = sq.unsqueeze(1).add(sq.indexSelect(0, ids).unsqueeze(0)).sub(x.mm(c.t()).mul(2)).amin(1);
          minD.minimum_(d);
          minD.indexFill_(0, ids, -Infinity);
        });
      }
      const picks: Tensor[] = [];
      const vals: Tensor[] = [];
      for (let k = 0; k < count; k++) {
        torch.scope(() => {
          // With nothing selected yet every distance is +inf and the first pick is sample 0
          // (Lightly starts from a random sample; a fixed start keeps runs reproducible).
          const [v, i] = minD.max(0);
          const iv = i.view(1);
          // ||x - c||² = ||x||² - 2 x·c + ||c||²: one matrix-vector product with the bias fused in.
          const d = sq.addmv(x, x.indexSelect(0, iv).view(-1), 1, -2).add_(sq.indexSelect(0, iv));
          minD.minimum_(d);
          minD.indexFill_(0, iv, -Infinity);
          picks.push(torch.keep(i));
          vals.push(torch.keep(v));
          return null;
        });
      }
      const idx = torch.stack(picks);
      const val = torch.stack(vals).clampMin(0).sqrt(); // rounding can leave tiny negatives
      for (const t of [...picks, ...vals]) t.dispose();
      return [idx.cpu(), val.cpu()];
    }),
  );
  const indices = idxT.toArray();
  const distances = valT.toArray();
  idxT.dispose();
  valT.dispose();
  if (opts.minDistance !== undefined) {
    const stop = distances.findIndex((d) => d < opts.minDistance!);
    if (stop >= 0) return { indices: indices.slice(0, stop), distances: distances.slice(0, stop) };
  }
  return { indices, distances };
}
