// The run detail page's 2-D embedding map: PCA of the run's EMBEDDINGS artifact (Lightly's CSV),
// computed once per artifact version in a worker thread (embedding-map-pool.ts) and kept in a small
// in-process cache (the map of a finished run never changes; a replica computes its own copy). The
// components are fitted on at most FIT_ROWS rows (a fixed, evenly spaced subsample) and every row
// is projected, so tens of thousands of points cost O(n·d) after the fit.
import { pcaAxes } from "../run/report-math.js";
import type { EmbeddingMap } from "../db/records.js";

export type { EmbeddingMap };

export const FIT_ROWS = 4000;
const CACHE_ENTRIES = 16;


/** Evenly spaced row indices, at most k of them. */
function subsample(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

export function embeddingMapOf(csv: { filenames: string[]; values: Float32Array; d: number }, selected: string[], datapool: string[]): EmbeddingMap {
  const n = csv.filenames.length;
  const d = csv.d;
  const { mean, axes, explained } = pcaAxes(csv.values, n, d, subsample(n, FIT_ROWS));
  const xy = new Array<number>(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (csv.values[i * d + j]! - mean[j]!) * axes[c]![j]!;
      xy[i * 2 + c] = Number(s.toPrecision(4));
    }
  }
  const index = new Map(csv.filenames.map((f, i) => [f, i]));
  const rows = (names: string[]): number[] => [...new Set(names.map((f) => index.get(f)).filter((i): i is number => i !== undefined))].sort((a, b) => a - b);
  const sel = rows(selected);
  const selSet = new Set(sel);
  return { method: "pca", n, d, explained, filenames: csv.filenames, xy, selected: sel, datapool: rows(datapool).filter((i) => !selSet.has(i)), };
}

/** Least-recently-used cache of computed values by key; concurrent requests share one computation. */
export class LruCache<T> {
  private readonly m = new Map<string, Promise<T>>();
  constructor(private readonly size = CACHE_ENTRIES) {}

  get(key: string, compute: () => Promise<T>): Promise<T> {
    let p = this.m.get(key);
    if (p) {
      this.m.delete(key);
      this.m.set(key, p);
      return p;
    }
    p = compute();
    this.m.set(key, p);
    p.catch(() => this.m.delete(key)); // a failure is not cached
    while (this.m.size > this.size) this.m.delete(this.m.keys().next().value!);
    return p;
  }
}
