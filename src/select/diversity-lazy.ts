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

/**
 * Squared distances of `rows` to `centres` as [R, P], in one product:
 * (||c||² − 2 x·c) + ||x||². `negTwoCt` is −2·centresᵀ [D, P] (scaling by 2 is exact), `csq` [1, P].
 * Both the flush and the candidate updates use this form so their values agree up to the BLAS's
 * summation order.
 */
function sqDist(rows: Tensor, rowsSq: Tensor, negTwoCt: Tensor, csq: Tensor): Tensor {
  return torch.addmm(csq, rows, negTwoCt).add_(rowsSq.unsqueeze(1));
}

/** vals ← min(vals, squared distance to the centres `ids`) for the rows of `rows`, `chunk` rows at a time. */
function applyCentres(x: Tensor, sq: Tensor, rows: Tensor, rowsSq: Tensor, vals: Tensor, ids: Tensor, chunkFor: (p: number) => number): void {
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

interface Active {
  idx: Tensor; // global row indices, ascending
  x: Tensor;
  sq: Tensor;
  u: Tensor; // exact squared distance to the nearest centre (all picks flushed)
}

/** Selects up to `n` rows of `embeddings` [N, D] by farthest-point sampling (same picks as selectDiverse). */
export function selectDiverseLazy(embeddings: Tensor, n: number, opts: LazyDiversityOptions = {}): LazyDiversityResult {
  const [N] = embeddings.shape;
  const eligibleCount = opts.eligible ? opts.eligible.reduce((a, b) => a + b, 0) : N;
  const pool = opts.alreadySelected ?? [];
  const poolCount = opts.eligible ? pool.filter((p) => opts.eligible![p]).length : pool.length;
  const count = Math.min(n, eligibleCount - poolCount);
  const empty = { indices: [], distances: [], batches: 0, refreshes: 0, picksPerBatch: 0 };
  if (count <= 0) return { ...empty, stopped: n > 0 ? "no_candidates_left" : null };
  const K = Math.max(1, Math.min(opts.candidates ?? 4096, N));
  const maxBatch = Math.max(1, opts.maxBatch ?? 256);
  const M = Math.max(1, Math.min(N, opts.active ?? Math.max(4 * K, Math.ceil(N / 4))));
  const minSq = opts.minDistance !== undefined ? opts.minDistance * opts.minDistance : undefined;
  const indices: number[] = [];
  const sqVals: number[] = [];
  let stopped: DiversityResult["stopped"] = null;
  let batches = 0;
  let refreshes = 0;
  let act: Active | null = null;
  try {
    torch.noGrad(() =>
      torch.scope(() => {
        const x = opts.normalize ? torch.F.normalize(embeddings.to("float32"), 2, 1) : embeddings.to("float32").contiguous();
        const sq = x.square().sum(1);
        const device = x.device;
        const i64 = (a: number[]): Tensor => torch.tensor(a, { dtype: "int64", device });
        // Chunk rows so one chunk's [rows, centres] block stays around 4 MB.
        const chunkFor = (p: number): number => opts.chunk ?? Math.max(1024, Math.floor((1 << 20) / p));
        // U: upper bound of each row's squared distance to the nearest centre (−inf: selected or not
        // eligible, never picked); exact w.r.t. the first E[j] picks (the datapool is in from the start).
        const U = torch.full([N], Infinity, { device });
        if (opts.eligible) U.maskedFill_(torch.tensor(opts.eligible, { device }).eq(0), -Infinity);
        if (pool.length) {
          torch.scope(() => {
            const ids = i64(pool);
            applyCentres(x, sq, x, sq, U, ids, chunkFor);
            U.indexFill_(0, ids, -Infinity);
          });
        }
        const E = torch.zeros([N], { dtype: "int64", device });
        let T = -Infinity; // bound on every stale row (not in the active set)

        // Active set: the rows that can be picked soon (U ≥ the M-th largest U), all made exact; the
        // others stay stale (their bound only gets lower), so flushes touch M rows, not N.
        // Rows at or above `thr` that can still be picked (−inf rows never matter).
        const live = (thr: number): Tensor => (thr === -Infinity ? U.gt(-Infinity) : U.ge(thr));
        const refresh = (): void => {
          const now = indices.length;
          refreshes++;
          if (act) {
            U.indexPut_(act.idx, act.u);
            E.indexFill_(0, act.idx, now);
            for (const t of Object.values(act)) t.dispose();
            act = null;
          }
          torch.scope(() => {
            // thr: the M-th largest bound. Stale rows at or above it are brought up to date (grouped
            // by how many picks they have seen); their values only drop, so afterwards every row at or
            // above thr is exact and every row below it is bounded by thr.
            let thr = -Infinity;
            let idx: Tensor;
            for (;;) {
              thr = M >= N ? -Infinity : torch.scope(() => U.topk(M)[0].narrow(0, M - 1, 1).item());
              const stale = live(thr).logicalAnd(E.lt(now)).nonzero().view(-1);
              if (stale.shape[0] > 0) {
                const epochs = E.indexSelect(0, stale).toArray();
                const rowsHost = stale.toArray();
                const byEpoch = new Map<number, number[]>();
                epochs.forEach((e, k) => (byEpoch.get(e) ?? byEpoch.set(e, []).get(e)!).push(rowsHost[k]));
                for (const [e, rs] of byEpoch) {
                  torch.scope(() => {
                    const rows = i64(rs);
                    const u = U.indexSelect(0, rows);
                    applyCentres(x, sq, x.indexSelect(0, rows), sq.indexSelect(0, rows), u, i64(indices.slice(e, now)), chunkFor);
                    U.indexPut_(rows, u);
                    E.indexFill_(0, rows, now);
                  });
                }
              }
              idx = live(thr).nonzero().view(-1);
              if (idx.shape[0] > 0) break;
              if (thr === -Infinity) return null; // nothing selectable is left
              // every row at the threshold dropped below it once exact: try again lower down
            }
            act = { idx: torch.keep(idx), x: torch.keep(x.indexSelect(0, idx)), sq: torch.keep(sq.indexSelect(0, idx)), u: torch.keep(U.indexSelect(0, idx)) };
            U.indexFill_(0, idx, -Infinity);
            T = U.max().item();
            return null;
          });
        };

        let want = Math.min(32, maxBatch); // speculative picks this batch; adapts to how many get accepted
        let fresh = false;
        while (indices.length < count) {
          if (!act) {
            refresh();
            fresh = true;
            if (!act) {
              stopped = "no_candidates_left";
              break;
            }
          }
          const a = act as unknown as Active;
          const P = Math.min(want, count - indices.length);
          const host = torch.scope(() => {
            // Per pick: [global index, index in the active set, squared distance, proven].
            const row = (local: Tensor, v: Tensor, ok: Tensor): Tensor =>
              torch.cat([a.idx.indexSelect(0, local).to("float64"), local.to("float64"), v.to("float64"), ok.to("float64")]);
            // The first pick: argmax over the active rows (first index among equal maxima, as the
            // dense kernel); proven when it beats every stale row.
            const first = a.u.argmax(0).view(1);
            const v0 = a.u.indexSelect(0, first);
            const outs: Tensor[] = [row(first, v0, T === -Infinity ? torch.ones([1], { device }) : v0.gt(T))];
            const na = a.idx.shape[0];
            if (P > 1) {
              const kk = Math.min(K + 1, na);
              const [tv, ti] = a.u.topk(kk);
              // Anything outside the candidates is at most the (K+1)-th largest bound (or a stale row's).
              const bound = kk > K ? tv.narrow(0, K, 1).clampMin(T) : torch.full([1], T, { device });
              const [ci] = ti.narrow(0, 0, Math.min(K, kk)).sort(); // by index: argmax then breaks ties by lowest index
              const cand = a.u.indexSelect(0, ci);
              const cx = a.x.indexSelect(0, ci);
              const csq = a.sq.indexSelect(0, ci);
              let pick = first;
              for (let p = 1; p < P; p++) {
                const [next, out] = torch.scope(() => {
                  const c = a.x.indexSelect(0, pick);
                  const d = sqDist(cx, csq, c.mul(-2).t(), a.sq.indexSelect(0, pick).unsqueeze(0)).view(-1);
                  cand.minimum_(d).maskedFill_(ci.eq(pick), -Infinity);
                  const j = cand.argmax(0).view(1);
                  const v = cand.indexSelect(0, j);
                  const local = ci.indexSelect(0, j);
                  return [local, row(local, v, v.gt(bound))];
                });
                pick = next;
                outs.push(out);
              }
            }
            return torch.cat(outs).cpu().data() as Float64Array;
          });
          if (host[3] !== 1) {
            // Some stale row may be higher than every active one: re-partition and try again.
            if (fresh) throw new Error("selectDiverseLazy: no provable pick after a refresh (internal error)");
            refresh();
            fresh = true;
            if (!act) {
              stopped = "no_candidates_left";
              break;
            }
            continue;
          }
          fresh = false;
          batches++;
          // Accept the proven prefix; stop at the first pick that is not a real one.
          const local: number[] = [];
          for (let p = 0; p < P; p++) {
            const [j, l, v, ok] = [host[4 * p], host[4 * p + 1], host[4 * p + 2], host[4 * p + 3]];
            if (ok !== 1) break;
            if (v === -Infinity) stopped = "no_candidates_left";
            else if (minSq !== undefined && v < minSq) stopped = "stopping_condition_minimum_distance";
            if (stopped) break;
            local.push(l);
            indices.push(j);
            sqVals.push(v);
          }
          if (stopped || indices.length >= count) break;
          torch.scope(() => {
            const ids = i64(local);
            applyCentres(a.x, a.sq, a.x, a.sq, a.u, ids, chunkFor);
            a.u.indexFill_(0, ids, -Infinity);
          });
          // The first batches start from equal (infinite) bounds and activate every row: narrow down.
          if (a.idx.shape[0] > 2 * M) {
            refresh();
            fresh = true;
            if (!act) {
              stopped = "no_candidates_left";
              break;
            }
          }
          want = local.length === P ? Math.min(maxBatch, 2 * P) : Math.max(8, Math.min(maxBatch, 2 * local.length));
        }
        return null;
      }),
    );
  } finally {
    // the active set lives outside every scope
    if (act) for (const t of Object.values(act as Active)) t.dispose();
  }
  // squared → distance (rounding can leave tiny negatives).
  const distances = sqVals.map((v) => Math.sqrt(Math.max(0, v)));
  if (!stopped && indices.length < n) stopped = "no_candidates_left";
  return { indices, distances, stopped, batches, refreshes, picksPerBatch: batches ? indices.length / batches : 0 };
}
