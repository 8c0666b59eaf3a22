// DIVERSITY (farthest-point) with the same picks as diversity.ts, but reading the N×D matrix at most
// once per batch of picks instead of once per pick, and mostly only the rows that can still matter.
//
// Each row j has an upper bound U[j] of its squared distance to the nearest selected sample; it is
// exact once every pick so far has been applied to j. Only an *active* set (the rows with the largest
// bounds, about N/4) is kept exact; the other rows are stale, bounded by T (the largest stale bound),
// and only get the picks they missed when the active rows fall to T (a refresh, which also picks a
// new active set). Per batch: the first pick is the argmax over the active rows, proven when it is
// above T. The K active rows with the largest values become candidates; their exact values are kept up
// to date against each new pick (K×D work), and the best candidate (lowest index on ties) is the true
// argmax when its value is strictly above both the (K+1)-th largest active value and T. The first pick
// that fails this ends the batch; the accepted picks are then applied to every active row, a chunk of
// rows at a time, with one matrix product per chunk.
// A batch runs on the device with nothing read back until its end; then one small array (picks,
// values, whether each was proven) comes back. Refreshes read back a few scalars and row lists.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import type { DiversityOptions, DiversityResult } from "./diversity.js";
import { LazySearch } from "./lazy-search.js";

export interface LazyDiversityOptions extends DiversityOptions {
  /** Candidates per batch (rows with the largest upper bounds). */
  candidates?: number;
  /** Most picks per batch (pending centres per flush). */
  maxBatch?: number;
  /** Rows kept exact and flushed every batch (the others wait as upper bounds); N = all. */
  active?: number;
}

export interface LazyDiversityResult extends DiversityResult {
  /** Batches run (= flushes of accepted picks into the active rows), picks accepted per batch on
   * average, and refreshes (stale rows brought up to date, new active set). */
  batches: number;
  refreshes: number;
  picksPerBatch: number;
}

/** Selects up to `n` rows of `embeddings` [N, D] by farthest-point sampling (same picks as selectDiverse). */
export function selectDiverseLazy(embeddings: Tensor, n: number, opts: LazyDiversityOptions = {}): LazyDiversityResult {
  const [N] = embeddings.shape;
  const eligibleCount = opts.eligible ? opts.eligible.reduce((a, b) => a + b, 0) : N;
  const pool = opts.alreadySelected ?? [];
  const poolCount = opts.eligible ? pool.filter((p) => opts.eligible![p]).length : pool.length;
  const count = Math.min(n, eligibleCount - poolCount);
  if (count <= 0) return { indices: [], distances: [], batches: 0, refreshes: 0, picksPerBatch: 0, stopped: n > 0 ? "no_candidates_left" : null };
  let search: LazySearch | null = null;
  try {
    torch.noGrad(() =>
      torch.scope(() => {
        search = new LazySearch(embeddings, count, opts);
        search.run();
        return null;
      }),
    );
  } finally {
    (search as LazySearch | null)?.disposeActive();
  }
  const { indices, sqVals, batches, refreshes } = search!;
  let stopped = search!.stopped;
  // squared → distance (rounding can leave tiny negatives).
  const distances = sqVals.map((v) => Math.sqrt(Math.max(0, v)));
  if (!stopped && indices.length < n) stopped = "no_candidates_left";
  return { indices, distances, stopped, batches, refreshes, picksPerBatch: batches ? indices.length / batches : 0 };
}
