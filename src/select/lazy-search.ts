// The state of one lazy DIVERSITY search (the algorithm: diversity-lazy.ts's header) and its steps:
// refresh (bring stale rows up to date, choose the active rows), propose a batch of picks on the
// device, accept its proven prefix, flush the accepted picks into the active rows.
// Made and run inside one torch scope; the active set lives outside every scope (disposeActive).
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { applyCentres, sqDist } from "./centre-distances.js";
import type { DiversityResult } from "./diversity.js";
import type { LazyDiversityOptions } from "./diversity-lazy.js";

/** The active rows: kept exact, flushed every batch. */
interface Active {
  idx: Tensor; // global row indices, ascending
  x: Tensor;
  sq: Tensor;
  u: Tensor; // exact squared distance to the nearest centre (all picks flushed)
}

export class LazySearch {
  readonly indices: number[] = [];
  /** Squared distance of each pick to the selection before it. */
  readonly sqVals: number[] = [];
  stopped: DiversityResult["stopped"] = null;
  batches = 0;
  refreshes = 0;
  private readonly N: number;
  private readonly K: number;
  private readonly maxBatch: number;
  private readonly M: number;
  private readonly minSq: number | undefined;
  private readonly x: Tensor;
  private readonly sq: Tensor;
  private readonly device: string;
  /** Upper bound of each row's squared distance to the nearest centre (−inf: selected or not
   * eligible, never picked); exact w.r.t. the first E[j] picks (the datapool is in from the start). */
  private readonly U: Tensor;
  private readonly E: Tensor;
  /** Bound on every stale row (not in the active set). */
  private T = -Infinity;
  private act: Active | null = null;

  constructor(embeddings: Tensor, private readonly count: number, private readonly opts: LazyDiversityOptions) {
    const [N] = embeddings.shape;
    this.N = N;
    this.K = Math.max(1, Math.min(opts.candidates ?? 4096, N));
    this.maxBatch = Math.max(1, opts.maxBatch ?? 256);
    this.M = Math.max(1, Math.min(N, opts.active ?? Math.max(4 * this.K, Math.ceil(N / 4))));
    this.minSq = opts.minDistance !== undefined ? opts.minDistance * opts.minDistance : undefined;
    this.x = opts.normalize ? torch.F.normalize(embeddings.to("float32"), 2, 1) : embeddings.to("float32").contiguous();
    this.sq = this.x.square().sum(1);
    this.device = this.x.device;
    this.U = torch.full([N], Infinity, { device: this.device });
    if (opts.eligible) this.U.maskedFill_(torch.tensor(opts.eligible, { device: this.device }).eq(0), -Infinity);
    const pool = opts.alreadySelected ?? [];
    if (pool.length) {
      torch.scope(() => {
        const ids = this.i64(pool);
        applyCentres(this.x, this.sq, this.x, this.sq, this.U, ids, this.chunkFor);
        this.U.indexFill_(0, ids, -Infinity);
      });
    }
    this.E = torch.zeros([N], { dtype: "int64", device: this.device });
  }

  private i64(a: number[]): Tensor {
    return torch.tensor(a, { dtype: "int64", device: this.device });
  }

  /** Rows per chunk, so one chunk's [rows, centres] block stays around 4 MB. */
  private readonly chunkFor = (p: number): number => this.opts.chunk ?? Math.max(1024, Math.floor((1 << 20) / p));

  /** Rows at or above `thr` that can still be picked (−inf rows never matter). */
  private live(thr: number): Tensor {
    return thr === -Infinity ? this.U.gt(-Infinity) : this.U.ge(thr);
  }

  disposeActive(): void {
    if (this.act) for (const t of Object.values(this.act)) t.dispose();
    this.act = null;
  }

  /** Picks until `count`, nothing selectable is left, or the minimum distance. */
  run(): void {
    let want = Math.min(32, this.maxBatch); // speculative picks per batch; adapts to how many get accepted
    let fresh = false;
    while (this.indices.length < this.count) {
      if (!this.act) {
        if (!this.renew()) break;
        fresh = true;
      }
      const a = this.act as unknown as Active;
      const P = Math.min(want, this.count - this.indices.length);
      const host = this.propose(a, P);
      if (host[3] !== 1) {
        // Some stale row may be higher than every active one: re-partition and try again.
        if (fresh) throw new Error("selectDiverseLazy: no provable pick after a refresh (internal error)");
        if (!this.renew()) break;
        fresh = true;
        continue;
      }
      fresh = false;
      this.batches++;
      const local = this.accept(host, P);
      if (this.stopped || this.indices.length >= this.count) break;
      this.flush(a, local);
      // The first batches start from equal (infinite) bounds and activate every row: narrow down.
      if (a.idx.shape[0] > 2 * this.M) {
        if (!this.renew()) break;
        fresh = true;
      }
      want = local.length === P ? Math.min(this.maxBatch, 2 * P) : Math.max(8, Math.min(this.maxBatch, 2 * local.length));
    }
  }

  /** A refresh; false (and stopped) when nothing selectable is left. */
  private renew(): boolean {
    this.refresh();
    if (this.act) return true;
    this.stopped = "no_candidates_left";
    return false;
  }

  /**
   * Active set: the rows that can be picked soon (U ≥ the M-th largest U), all made exact; the others
   * stay stale (their bound only gets lower), so flushes touch M rows, not N.
   */
  private refresh(): void {
    const now = this.indices.length;
    this.refreshes++;
    if (this.act) {
      this.U.indexPut_(this.act.idx, this.act.u);
      this.E.indexFill_(0, this.act.idx, now);
      this.disposeActive();
    }
    torch.scope(() => {
      // thr: the M-th largest bound. Stale rows at or above it are brought up to date; their values
      // only drop, so afterwards every row at or above thr is exact and every row below it is bounded by thr.
      let idx: Tensor;
      for (;;) {
        const thr = this.M >= this.N ? -Infinity : torch.scope(() => this.U.topk(this.M)[0].narrow(0, this.M - 1, 1).item());
        this.catchUp(this.live(thr).logicalAnd(this.E.lt(now)).nonzero().view(-1), now);
        idx = this.live(thr).nonzero().view(-1);
        if (idx.shape[0] > 0) break;
        if (thr === -Infinity) return null; // nothing selectable is left
        // every row at the threshold dropped below it once exact: try again lower down
      }
      const { x, sq, U } = this;
      this.act = { idx: torch.keep(idx), x: torch.keep(x.indexSelect(0, idx)), sq: torch.keep(sq.indexSelect(0, idx)), u: torch.keep(U.indexSelect(0, idx)) };
      U.indexFill_(0, idx, -Infinity);
      this.T = U.max().item();
      return null;
    });
  }

  /** Applies the picks each of the `stale` rows missed (grouped by how many picks it has seen). */
  private catchUp(stale: Tensor, now: number): void {
    if (stale.shape[0] === 0) return;
    const epochs = this.E.indexSelect(0, stale).toArray();
    const rowsHost = stale.toArray();
    const byEpoch = new Map<number, number[]>();
    epochs.forEach((e, k) => (byEpoch.get(e) ?? byEpoch.set(e, []).get(e)!).push(rowsHost[k]));
    for (const [e, rs] of byEpoch) {
      torch.scope(() => {
        const rows = this.i64(rs);
        const u = this.U.indexSelect(0, rows);
        applyCentres(this.x, this.sq, this.x.indexSelect(0, rows), this.sq.indexSelect(0, rows), u, this.i64(this.indices.slice(e, now)), this.chunkFor);
        this.U.indexPut_(rows, u);
        this.E.indexFill_(0, rows, now);
      });
    }
  }

  /**
   * Up to P picks on the device, read back at once: per pick [global index, index in the active set,
   * squared distance, proven]. The first pick is the argmax over the active rows (first index among
   * equal maxima, as the dense kernel); proven when it beats every stale row.
   */
  private propose(a: Active, P: number): Float64Array {
    return torch.scope(() => {
      const first = a.u.argmax(0).view(1);
      const v0 = a.u.indexSelect(0, first);
      const outs: Tensor[] = [this.row(a, first, v0, this.T === -Infinity ? torch.ones([1], { device: this.device }) : v0.gt(this.T))];
      if (P > 1) this.proposeFromCandidates(a, P, first, outs);
      return torch.cat(outs).cpu().data() as Float64Array;
    });
  }

  private row(a: Active, local: Tensor, v: Tensor, ok: Tensor): Tensor {
    return torch.cat([a.idx.indexSelect(0, local).to("float64"), local.to("float64"), v.to("float64"), ok.to("float64")]);
  }

  /** Picks 2..P among the K candidates, each proven when above every row outside them. */
  private proposeFromCandidates(a: Active, P: number, first: Tensor, outs: Tensor[]): void {
    const { K, T } = this;
    const na = a.idx.shape[0];
    const kk = Math.min(K + 1, na);
    const [tv, ti] = a.u.topk(kk);
    // Anything outside the candidates is at most the (K+1)-th largest bound (or a stale row's).
    const bound = kk > K ? tv.narrow(0, K, 1).clampMin(T) : torch.full([1], T, { device: this.device });
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
        return [local, this.row(a, local, v, v.gt(bound))];
      });
      pick = next;
      outs.push(out);
    }
  }

  /** Takes the proven prefix of a batch; stops at the first pick that is not a real one. Returns the active-set indices taken. */
  private accept(host: Float64Array, P: number): number[] {
    const local: number[] = [];
    for (let p = 0; p < P; p++) {
      const [j, l, v, ok] = [host[4 * p], host[4 * p + 1], host[4 * p + 2], host[4 * p + 3]];
      if (ok !== 1) break;
      if (v === -Infinity) this.stopped = "no_candidates_left";
      else if (this.minSq !== undefined && v < this.minSq) this.stopped = "stopping_condition_minimum_distance";
      if (this.stopped) break;
      local.push(l);
      this.indices.push(j);
      this.sqVals.push(v);
    }
    return local;
  }

  /** Applies the accepted picks to every active row. */
  private flush(a: Active, local: number[]): void {
    torch.scope(() => {
      const ids = this.i64(local);
      applyCentres(a.x, a.sq, a.x, a.sq, a.u, ids, this.chunkFor);
      a.u.indexFill_(0, ids, -Infinity);
    });
  }
}
