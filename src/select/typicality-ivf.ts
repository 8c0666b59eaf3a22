// Approximate K nearest neighbours for TYPICALITY on large sets: an inverted file (IVF).
// 1. k-means (nlist ≈ √N centroids, a few Lloyd steps on a sample of ≤ 64·nlist rows) on the engine;
// 2. every row goes to its nearest centroid; rows are sorted by cluster;
// 3. per cluster, its rows are the queries and the rows of its `nprobe` nearest clusters (its own
//    first, more while they hold fewer than K+1 rows) the candidates: one [queries × candidates]
//    distance block (matmul) and a top-k per cluster.
// Probing per cluster (not per query) keeps each block a dense matmul; the cost is recall for rows
// near a cluster's border. Recall is measured, not assumed: test/select-typicality-ivf.test.ts and
// bench/select-speed.ts compare the neighbour sets with the exact search.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { randomValues } from "./inputs.js";

export interface IvfOptions {
  /** Number of clusters (default round(√N)). */
  nlist?: number;
  /** Clusters searched per query cluster, its own included (default 6). */
  nprobe?: number;
  /** Lloyd iterations (default 6). */
  iterations?: number;
  /** Also return each row's neighbour indices (K per row, for recall checks). */
  keepNeighbours?: boolean;
}

/** Squared distances [a, b] between the rows of a and b. */
function sqDist(a: Tensor, b: Tensor): Tensor {
  return torch.addmm(b.square().sum(1).unsqueeze(0), a, b.t().mul(-2)).add_(a.square().sum(1).unsqueeze(1));
}

/** Nearest centroid of every row, in blocks (int64 [N]). */
function assign(x: Tensor, c: Tensor): Tensor {
  const n = x.shape[0];
  const B = Math.max(1, Math.floor((8 << 20) / Math.max(1, c.shape[0])));
  const parts: Tensor[] = [];
  for (let s = 0; s < n; s += B) parts.push(torch.scope(() => sqDist(x.narrow(0, s, Math.min(B, n - s)), c).argmin(1)));
  const out = torch.cat(parts);
  for (const p of parts) p.dispose();
  return out;
}

function kmeans(x: Tensor, nlist: number, iterations: number): Tensor {
  const n = x.shape[0];
  // Deterministic sample: the rows with the smallest hash values (same rows every run).
  const h = randomValues(12345, n);
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => h[a] - h[b]);
  const sample = torch.scope(() => x.indexSelect(0, torch.tensor(order.slice(0, Math.min(n, 64 * nlist)), { dtype: "int64", device: x.device })));
  let c = torch.scope(() => sample.narrow(0, 0, nlist).clone());
  for (let it = 0; it < iterations; it++) {
    const next = torch.scope(() => {
      const a = assign(sample, c);
      const sums = torch.zeros([nlist, x.shape[1]], { device: x.device }).indexAdd_(0, a, sample);
      const counts = a.bincount(undefined, nlist).to("float32").unsqueeze(1);
      // An empty cluster keeps its centroid.
      return torch.where(counts.gt(0), sums.div(counts.clampMin(1)), c);
    });
    c.dispose();
    c = next;
  }
  sample.dispose();
  return c;
}

/** Mean distance of every row to its (approximate) K nearest other rows. */
export function meanKnnDistanceIvf(x: Tensor, k: number, o: IvfOptions = {}): { means: Float64Array; neighbours?: Int32Array } {
  const n = x.shape[0];
  const kk = Math.min(k, n - 1);
  const means = new Float64Array(n);
  const neighbours = o.keepNeighbours ? new Int32Array(n * kk) : undefined;
  if (kk < 1) return { means, neighbours };
  const nlist = Math.max(1, Math.min(n, o.nlist ?? Math.round(Math.sqrt(n))));
  const nprobe = Math.min(nlist, o.nprobe ?? 6);
  torch.noGrad(() =>
    torch.scope(() => {
      const c = kmeans(x, nlist, o.iterations ?? 6);
      const a = assign(x, c);
      const perm = a.argsort(0);
      const xs = x.indexSelect(0, perm);
      const sq = xs.square().sum(1);
      const counts = a.bincount(undefined, nlist).toArray() as number[];
      const permHost = perm.toArray() as number[];
      const offs = new Array<number>(nlist);
      for (let p = 0, s = 0; p < nlist; s += counts[p], p++) offs[p] = s;
      // Clusters by distance from each cluster's centroid (itself first).
      const byDist = sqDist(c, c).argsort(1).toArray() as number[];
      for (let q = 0; q < nlist; q++) {
        const m = counts[q];
        if (!m) continue;
        const probes: number[] = [];
        let have = m;
        for (let r = 0; r < nlist && (probes.length < nprobe - 1 || have < kk + 1); r++) {
          const p = byDist[q * nlist + r];
          if (p === q) continue;
          probes.push(p);
          have += counts[p];
        }
        torch.scope(() => {
          // Candidates: the query cluster's rows first (so row i's own column is i), then the probes'.
          const idx: number[] = [];
          for (const p of [q, ...probes]) for (let t = 0; t < counts[p]; t++) idx.push(offs[p] + t);
          const ci = torch.tensor(idx, { dtype: "int64", device: x.device });
          const cand = xs.indexSelect(0, ci);
          const d2 = torch.addmm(sq.indexSelect(0, ci).unsqueeze(0), xs.narrow(0, offs[q], m), cand.t().mul(-2)).add_(sq.narrow(0, offs[q], m).unsqueeze(1));
          d2.scatter_(1, torch.arange(0, m, 1, { dtype: "int64", device: x.device }).unsqueeze(1), torch.full([m, 1], Infinity, { device: x.device }));
          const kq = Math.min(kk, idx.length - 1);
          const [v, i] = d2.topk(kq, 1, false, false);
          const mv = v.clampMin(0).sqrt().mean([1]).to("float64").cpu().toArray() as number[];
          for (let t = 0; t < m; t++) means[permHost[offs[q] + t]] = mv[t];
          if (neighbours) {
            const li = i.cpu().toArray() as number[];
            for (let t = 0; t < m; t++) for (let u = 0; u < kq; u++) neighbours[permHost[offs[q] + t] * kk + u] = permHost[idx[li[t * kq + u]]];
          }
        });
      }
    }),
  );
  return { means, neighbours };
}
