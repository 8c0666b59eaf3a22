// DIVERSITY (farthest-point) with the same picks as diversity.ts, but reading the N×D matrix once
// per batch of picks instead of once per pick.
//
// minD[j] holds the squared distance from j to the nearest *flushed* centre; it is an upper bound of
// j's true value while picks are pending. Per batch: the first pick is argmax(minD) (exact: nothing is
// pending). Then the K rows with the largest minD become candidates; their exact values are kept up to
// date against each new pick (K×D work), and the best candidate (lowest index on ties) is the true
// argmax when its exact value is strictly above the (K+1)-th largest minD, which bounds every row
// outside the candidates. The first pick that fails this ends the batch; the accepted picks are then
// flushed into minD for all rows, a chunk of rows at a time, with one matrix product per chunk.
// The batch is computed on the device without reading anything back; one small array (picks, values,
// whether each was proven) comes back per batch.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import type { DiversityOptions, DiversityResult } from "./diversity.js";

export interface LazyDiversityOptions extends DiversityOptions {
  /** Candidates per batch (rows with the largest upper bounds). */
  candidates?: number;
  /** Most picks per batch (pending centres per flush). */
  maxBatch?: number;
}

export interface LazyDiversityResult extends DiversityResult {
  /** Batches run (= flushes of pending picks into every row), and picks accepted per batch on average. */
  batches: number;
  picksPerBatch: number;
}

/**
 * Squared distances of `rows` to `centres` as [R, P], in one product:
 * (||c||² − 2 x·c) + ||x||². `negTwoCt` is −2·centresᵀ [D, P] (scaling by 2 is exact), `csq` [1, P].
 * Both the flush and the candidate updates use this form so their values agree up to the BLAS's
 * summation order.
 */
function sqDist(rows: Tensor, rowsSq: Tensor, negTwoCt: Tensor, csq: Tensor): Tensor {
  return torch.addmm(csq, rows, negTwoCt).add_(rowsSq.unsqueeze(1));
}

/** minD ← min(minD, distance to `ids`) for every row, `chunk` rows at a time; the ids get −inf. */
function flush(x: Tensor, sq: Tensor, minD: Tensor, ids: Tensor, chunk: number): void {
  torch.scope(() => {
    const c = x.indexSelect(0, ids);
    const negTwoCt = c.mul(-2).t().contiguous();
    const csq = sq.indexSelect(0, ids).unsqueeze(0);
    const [N] = x.shape;
    for (let s = 0; s < N; s += chunk) {
      torch.scope(() => {
        const r = Math.min(chunk, N - s);
        // min over centres before adding ||x||²: rounding is monotonic, so this equals adding first.
        const d = torch.addmm(csq, x.narrow(0, s, r), negTwoCt).amin(1).add_(sq.narrow(0, s, r));
        minD.narrow(0, s, r).minimum_(d);
      });
    }
    minD.indexFill_(0, ids, -Infinity);
  });
}

/** Selects up to `n` rows of `embeddings` [N, D] by farthest-point sampling (same picks as selectDiverse). */
export function selectDiverseLazy(embeddings: Tensor, n: number, opts: LazyDiversityOptions = {}): LazyDiversityResult {
  const [N] = embeddings.shape;
  const eligibleCount = opts.eligible ? opts.eligible.reduce((a, b) => a + b, 0) : N;
  const pool = opts.alreadySelected ?? [];
  const poolCount = opts.eligible ? pool.filter((p) => opts.eligible![p]).length : pool.length;
  const count = Math.min(n, eligibleCount - poolCount);
  const empty = { indices: [], distances: [], batches: 0, picksPerBatch: 0 };
  if (count <= 0) return { ...empty, stopped: n > 0 ? "no_candidates_left" : null };
  const K = Math.max(1, Math.min(opts.candidates ?? 4096, N));
  const maxBatch = Math.max(1, opts.maxBatch ?? 256);
  const minSq = opts.minDistance !== undefined ? opts.minDistance * opts.minDistance : undefined;
  const indices: number[] = [];
  const sqVals: number[] = [];
  let stopped: DiversityResult["stopped"] = null;
  let batches = 0;
  torch.noGrad(() =>
    torch.scope(() => {
      const x = opts.normalize ? torch.F.normalize(embeddings.to("float32"), 2, 1) : embeddings.to("float32").contiguous();
      const sq = x.square().sum(1);
      const device = x.device;
      // Chunk rows so one chunk's [rows, P] distance block stays around 4 MB.
      const chunkFor = (p: number): number => opts.chunk ?? Math.max(1024, Math.floor((1 << 20) / p));
      const minD = torch.full([N], Infinity, { device });
      if (opts.eligible) minD.maskedFill_(torch.tensor(opts.eligible, { device }).eq(0), -Infinity);
      for (let s = 0; s < pool.length; s += 4096) {
        torch.scope(() => flush(x, sq, minD, torch.tensor(pool.slice(s, s + 4096), { dtype: "int64", device }), chunkFor(Math.min(4096, pool.length - s))));
      }
      let want = Math.min(32, maxBatch); // speculative picks this batch; adapts to how many get accepted
      while (indices.length < count) {
        const P = Math.min(want, count - indices.length);
        const host = torch.scope(() => {
          // The first pick: exact argmax (first index among equal maxima, as the dense kernel).
          const first = minD.argmax(0).view(1);
          const outs: Tensor[] = [torch.cat([first.to("float64"), minD.indexSelect(0, first).to("float64"), torch.ones([1], { dtype: "float64", device })])];
          if (P > 1) {
            const kk = Math.min(K + 1, N);
            const [tv, ti] = minD.topk(kk);
            // Anything outside the candidates is at most the (K+1)-th largest upper bound.
            const bound = kk > K ? tv.narrow(0, K, 1) : torch.full([1], -Infinity, { device });
            const [ci] = ti.narrow(0, 0, Math.min(K, kk)).sort(); // by index: argmax then breaks ties by lowest index
            const cand = minD.indexSelect(0, ci);
            const cx = x.indexSelect(0, ci);
            const csq = sq.indexSelect(0, ci);
            let pick = first;
            for (let p = 1; p < P; p++) {
              const [next, row] = torch.scope(() => {
                const c = x.indexSelect(0, pick);
                const d = sqDist(cx, csq, c.mul(-2).t(), sq.indexSelect(0, pick).unsqueeze(0)).view(-1);
                cand.minimum_(d).maskedFill_(ci.eq(pick), -Infinity);
                const j = cand.argmax(0).view(1);
                const v = cand.indexSelect(0, j);
                const i = ci.indexSelect(0, j);
                return [i, torch.cat([i.to("float64"), v.to("float64"), v.gt(bound).to("float64")])];
              });
              pick = next;
              outs.push(row);
            }
          }
          return torch.cat(outs).cpu().data() as Float64Array;
        });
        batches++;
        // Accept the proven prefix; stop at the first pick that is not a real one.
        const accepted: number[] = [];
        for (let p = 0; p < P; p++) {
          const [j, v, ok] = [host[3 * p], host[3 * p + 1], host[3 * p + 2]];
          if (p > 0 && ok !== 1) break;
          if (v === -Infinity) stopped = "no_candidates_left";
          else if (minSq !== undefined && v < minSq) stopped = "stopping_condition_minimum_distance";
          if (stopped) break;
          accepted.push(j);
          indices.push(j);
          sqVals.push(v);
        }
        if (stopped || indices.length >= count) break;
        torch.scope(() => flush(x, sq, minD, torch.tensor(accepted, { dtype: "int64", device }), chunkFor(accepted.length)));
        want = accepted.length === P ? Math.min(maxBatch, 2 * P) : Math.max(8, Math.min(maxBatch, 2 * accepted.length));
      }
      return null;
    }),
  );
  // squared → distance (rounding can leave tiny negatives).
  const distances = sqVals.map((v) => Math.sqrt(Math.max(0, v)));
  if (!stopped && indices.length < n) stopped = "no_candidates_left";
  return { indices, distances, stopped, batches, picksPerBatch: batches ? indices.length / batches : 0 };
}
