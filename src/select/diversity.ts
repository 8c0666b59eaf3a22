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
  /** 0 = never pick this row (filtered out by a THRESHOLD); it is no centre either. */
  eligible?: Uint8Array;
  /** Rows per chunk when initialising distances to many already-selected samples. */
  chunk?: number;
}

export interface DiversityResult {
  indices: number[];
  /** Distance of each pick to the nearest earlier selection at the time it was picked. */
  distances: number[];
  /** Why fewer than `n` came back: nothing eligible left, or the minimum distance; null when `n` did. */
  stopped: "no_candidates_left" | "stopping_condition_minimum_distance" | null;
}

/** Selects up to `n` rows of `embeddings` [N, D] by farthest-point sampling. */
export function selectDiverse(embeddings: Tensor, n: number, opts: DiversityOptions = {}): DiversityResult {
  const [N] = embeddings.shape;
  const eligibleCount = opts.eligible ? opts.eligible.reduce((a, b) => a + b, 0) : N;
  const poolCount = opts.eligible ? (opts.alreadySelected ?? []).filter((p) => opts.eligible![p]).length : (opts.alreadySelected?.length ?? 0);
  const count = Math.min(n, eligibleCount - poolCount);
  if (count <= 0) return { indices: [], distances: [], stopped: n > 0 ? "no_candidates_left" : null };
  const [idxT, valT] = torch.noGrad(() =>
    torch.scope(() => {
      const x = opts.normalize ? torch.F.normalize(embeddings.to("float32"), 2, 1) : embeddings.to("float32");
      const sq = x.square().sum(1); // ||x||²
      const device = x.device;
      // minD[j] = squared distance from j to its nearest selected sample (+inf: none yet,
      // -inf: j itself is selected, so it is never picked again).
      const minD = torch.full([N], Infinity, { device });
      if (opts.eligible) minD.maskedFill_(torch.tensor(opts.eligible, { device }).eq(0), -Infinity);
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
          const i = minD.argmax(0); // the first index among equal maxima
          const iv = i.view(1);
          const v = minD.indexSelect(0, iv).view([]);
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
      const val = torch.stack(vals);
      for (const t of [...picks, ...vals]) t.dispose();
      return [idx.cpu(), val.cpu()];
    }),
  );
  const indices = idxT.toArray();
  // squared → distance (rounding can leave tiny negatives); -inf: nothing eligible was left (NaN).
  const distances = valT.toArray().map((v) => (v === -Infinity ? NaN : Math.sqrt(Math.max(0, v))));
  idxT.dispose();
  valT.dispose();
  // Picks are computed blindly on the device; cut them where they stopped being real.
  const stop = distances.findIndex((d) => Number.isNaN(d) || (opts.minDistance !== undefined && d < opts.minDistance));
  if (stop >= 0) {
    const why = Number.isNaN(distances[stop]) ? "no_candidates_left" : "stopping_condition_minimum_distance";
    return { indices: indices.slice(0, stop), distances: distances.slice(0, stop), stopped: why };
  }
  return { indices, distances, stopped: count < n ? "no_candidates_left" : null };
}
