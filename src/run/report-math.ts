// Small numeric helpers for the report (plain JavaScript on the CPU: the report's sizes are small
// and it must not need the engine): a 2-D PCA map, nearest-neighbour distances, histograms.

/** The two leading principal axes of the rows `fit` of `values` [n, d], by power iteration with deflation. */
export function pcaAxes(values: Float32Array, n: number, d: number, fit: number[], iters = 80): { mean: Float64Array; axes: Float64Array[]; explained: [number, number] } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += values[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(1, n);
  const m = fit.length;
  const x = new Float64Array(m * d);
  let total = 0;
  fit.forEach((r, i) => {
    for (let j = 0; j < d; j++) {
      const v = values[r * d + j]! - mean[j]!;
      x[i * d + j] = v;
      total += v * v;
    }
  });
  const axes: Float64Array[] = [];
  const variance: number[] = [];
  const xv = new Float64Array(m);
  for (let c = 0; c < 2; c++) {
    let v = Float64Array.from({ length: d }, (_, j) => 1 + ((j * 7919) % 13) / 13); // fixed, non-degenerate start
    let lambda = 0;
    for (let it = 0; it < iters; it++) {
      for (const a of axes) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += v[j]! * a[j]!;
        for (let j = 0; j < d; j++) v[j]! -= dot * a[j]!;
      }
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += x[i * d + j]! * v[j]!;
        xv[i] = s;
      }
      const w = new Float64Array(d);
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) w[j]! += x[i * d + j]! * xv[i]!;
      for (const a of axes) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += w[j]! * a[j]!;
        for (let j = 0; j < d; j++) w[j]! -= dot * a[j]!;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += w[j]! * w[j]!;
      norm = Math.sqrt(norm);
      if (norm < 1e-30) {
        v = new Float64Array(d); // rank < 2: this coordinate stays 0
        lambda = 0;
        break;
      }
      lambda = norm;
      v = w.map((t) => t / norm);
    }
    axes.push(v);
    variance.push(lambda);
  }
  const ex = (k: number): number => (total > 0 ? Number((variance[k]! / total).toPrecision(4)) : 0);
  return { mean, axes, explained: [ex(0), ex(1)] };
}

/** The first two principal components' coordinates of the rows of values [n, d]. */
export function pca2(values: Float32Array, n: number, d: number, iters = 60): Float64Array {
  const { mean, axes } = pcaAxes(values, n, d, Array.from({ length: n }, (_, i) => i), iters);
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (values[i * d + j]! - mean[j]!) * axes[c]![j]!;
      out[i * 2 + c] = s;
    }
  }
  return out;
}

/** For each row in `rows`, the Euclidean distance to the nearest other row in `rows`. */
export function nearestNeighbourDistances(values: Float32Array, d: number, rows: readonly number[]): number[] {
  const out: number[] = [];
  for (const a of rows) {
    let best = Infinity;
    for (const b of rows) {
      if (a === b) continue;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = values[a * d + j]! - values[b * d + j]!;
        s += t * t;
      }
      if (s < best) best = s;
    }
    if (Number.isFinite(best)) out.push(Math.sqrt(best));
  }
  return out;
}

export interface Histogram {
  edges: number[];
  counts: number[];
  median: number | null;
  n: number;
}

export function histogram(v: readonly number[], bins: number, lo: number, hi: number): Histogram {
  const counts = new Array<number>(bins).fill(0);
  const width = hi > lo ? (hi - lo) / bins : 1;
  for (const x of v) counts[Math.min(bins - 1, Math.max(0, Math.floor((x - lo) / width)))]!++;
  const edges = Array.from({ length: bins + 1 }, (_, k) => lo + k * width);
  const sorted = [...v].sort((a, b) => a - b);
  const median = sorted.length ? (sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2) : null;
  return { edges, counts, median, n: v.length };
}

/** A deterministic subset of 0..n-1 of at most k indices that always contains `must`. */
export function capIndices(n: number, k: number, must: readonly number[] = []): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const set = new Set(must.slice(0, k));
  const step = n / Math.max(1, k - set.size);
  for (let t = 0; set.size < k && t * step < n; t++) set.add(Math.floor(t * step));
  return [...set].sort((a, b) => a - b);
}
