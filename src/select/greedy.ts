// The general greedy loop (DIVERSITY or BALANCE combined with other strategies): per pick,
// total = base + Σ_div s·log(d) + Σ_bal s·log(balance score), ineligible items at -inf; argmax (first
// index on ties); one value read back per pick. The scores live on the embeddings' device.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { isExactDuplicate } from "./duplicates.js";
import { hostRows } from "./item-rows.js";
import { CLAMP, type Prepared } from "./prepare.js";
import { Sums } from "./sums.js";
import type { StopReason } from "./types.js";

const BALANCE_FLOOR = 1e-6; // keeps an over-represented class selectable when nothing else is left

/** BALANCE on the device: class membership P [N, C+1], the target shares, the counts so far. */
interface BalanceState {
  strength: number;
  rows: Float64Array;
  width: number;
  P: Tensor;
  target: Tensor;
  counts: Tensor;
  /** How many (fractional) class memberships are counted. */
  m: number;
}

/** The loop's device tensors; made and freed inside the loop's scope. */
class GreedyScores {
  /** 0 = may be picked, -inf = selected or not eligible. */
  readonly pen: Tensor;
  readonly base: Tensor;
  private readonly sq: Tensor | null;
  /** One running nearest-centre squared distance, shared by every DIVERSITY strategy (same embeddings). */
  readonly minD: Tensor | null;
  centres = 0;
  private readonly bal: BalanceState[];
  private readonly vals: ({ t: Tensor; max: number } | null)[];
  readonly minDist: number;

  constructor(private readonly prep: Prepared, n: number, private readonly x: Tensor | null, readonly sums: Sums, private readonly device: string) {
    const f64 = (a: Float64Array | Uint8Array): Tensor => torch.tensor(Float64Array.from(a), { device });
    this.pen = f64(Float64Array.from(prep.eligible, (e) => (e ? 0 : -Infinity)));
    this.base = prep.base ? f64(prep.base) : torch.zeros([n], { dtype: "float64", device });
    this.sq = x ? x.square().sum(1) : null;
    this.minD = x ? torch.full([n], Infinity, { device }) : null;
    this.bal = prep.balance.map((b) => ({
      strength: b.strength, rows: b.rows, width: b.target.length,
      P: torch.tensor(b.rows, { device, shape: [n, b.target.length] }),
      target: torch.tensor(b.target, { device }),
      counts: torch.zeros([b.target.length], { dtype: "float64", device }),
      m: 0,
    }));
    this.minDist = Math.max(0, ...prep.diversity.map((d) => d.minDistance ?? 0));
    this.vals = prep.sums.map((t) => (t.maxSum !== undefined ? { t: f64(t.values), max: t.maxSum } : null));
  }

  private index(j: number): Tensor {
    return torch.tensor([j], { dtype: "int64", device: this.device });
  }

  /** Item j joins the selection (or the datapool's centres): distances and class counts. */
  add(j: number): void {
    const { x, minD, sq } = this;
    if (x && minD && sq) {
      torch.scope(() => {
        const iv = this.index(j);
        minD.minimum_(sq.addmv(x, x.indexSelect(0, iv).view(-1), 1, -2).add_(sq.indexSelect(0, iv)).clampMin(0));
      });
      this.centres++;
    }
    for (const b of this.bal) {
      const row = b.rows.subarray(j * b.width, (j + 1) * b.width);
      b.counts.add_(torch.tensor(row, { device: this.device }));
      b.m += row.reduce((a, v) => a + v, 0);
    }
  }

  /** The best item now and its total score (-inf: nothing selectable). */
  best(): [number, number] {
    return torch.scope(() => {
      let total = this.base.clone();
      if (this.centres > 0 && this.minD) {
        const logd = this.minD.to("float64").clampMin(0).log().mul(0.5);
        for (const d of this.prep.diversity) if (d.strength !== 0) total = total.add(logd.mul(d.strength));
      }
      for (const b of this.bal) {
        const deficit = b.target.sub(b.counts.div(b.m + 1)).clampMin(0);
        total = total.add(b.P.matmul(deficit).add(BALANCE_FLOOR).log().mul(b.strength));
      }
      total = total.clamp(-CLAMP, CLAMP);
      total = total.maskedFill(total.isnan(), -CLAMP).add(this.pen);
      if (this.centres > 0 && this.minD && this.minDist > 0) total = total.maskedFill(this.minD.lt(this.minDist * this.minDist), -Infinity);
      this.vals.forEach((v, k) => {
        if (v) total = total.maskedFill(v.t.add(this.sums.sum[k]).gt(v.max), -Infinity);
      });
      const j = total.argmax(0);
      return [j.item(), total.indexSelect(0, j.view(1)).item()] as [number, number];
    });
  }

  /** Why nothing was selectable: the distance stop when candidates were left but all too close. */
  stopReason(): StopReason {
    const left = torch.scope(() => this.pen.eq(0).sum().item());
    return left > 0 && this.minDist > 0 ? "stopping_condition_minimum_distance" : left > 0 && this.sums.hasMax ? "target_range" : "no_candidates_left";
  }

  /** Item j is never picked again. */
  exclude(j: number): void {
    torch.scope(() => {
      this.pen.indexFill_(0, this.index(j), -Infinity);
    });
  }

  /** Euclidean distance of j to the nearest centre (Infinity with none yet). */
  distance(j: number): number {
    if (this.centres === 0 || !this.minD) return Infinity;
    const minD = this.minD;
    return Math.sqrt(Math.max(0, torch.scope(() => minD.indexSelect(0, this.index(j)).item())));
  }
}

export function greedy(prep: Prepared, n: number, dim: number, pool: number[], want: number, x: Tensor | null): { selected: number[]; stoppedBy: StopReason; distances?: number[] } {
  const selected: number[] = [];
  const distances: number[] = [];
  let stoppedBy: StopReason = "n_samples";
  const rows = x ? hostRows(x) : null;
  torch.noGrad(() =>
    torch.scope(() => {
      const g = new GreedyScores(prep, n, x, new Sums(prep.sums), x?.device ?? "cpu");
      for (const p of pool) g.add(p);
      while (selected.length < want || g.sums.belowMin()) {
        const [j, v] = g.best();
        if (v === -Infinity) {
          stoppedBy = g.stopReason();
          break;
        }
        g.exclude(j);
        const dist = rows ? g.distance(j) : Infinity;
        // Exact duplicates of a selected sample are never selected (Lightly drops them).
        if (rows && isExactDuplicate(rows, dim, j, dist, () => [...pool, ...selected])) continue;
        selected.push(j);
        distances.push(dist);
        g.add(j);
        if (g.sums.add(j)) {
          stoppedBy = "stopping_condition_max_sum";
          break;
        }
      }
      return null;
    }),
  );
  return { selected, stoppedBy, ...(x ? { distances } : {}) };
}
