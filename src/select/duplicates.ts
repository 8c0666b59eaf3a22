// Lightly never selects an exact duplicate of a selected sample. The device's distances are rounded,
// so a pick at (near) zero distance is checked exactly on the host before it is taken.
/** Exact Euclidean distance (float64) from row j to its nearest row among `centres`. */
export function exactMinDistance(x: Float32Array, dim: number, j: number, centres: Iterable<number>): number {
  let best = Infinity;
  for (const c of centres) {
    let s = 0;
    for (let k = 0; k < dim; k++) {
      const d = x[j * dim + k] - x[c * dim + k];
      s += d * d;
    }
    if (s < best) best = s;
  }
  return Math.sqrt(best);
}

const rmsCache = new WeakMap<Float32Array, number>();
/** Root mean square row norm of `x` (cached per array): the scale "near zero" is measured against. */
function rms(x: Float32Array, dim: number): number {
  let v = rmsCache.get(x);
  if (v === undefined) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    v = Math.sqrt(s / Math.max(1, x.length / dim));
    rmsCache.set(x, v);
  }
  return v;
}

/** Row j, picked at `distance` from the selection, duplicates one of `centres` exactly. */
export function isExactDuplicate(rows: Float32Array, dim: number, j: number, distance: number, centres: () => Iterable<number>): boolean {
  return distance <= 1e-3 * rms(rows, dim) && exactMinDistance(rows, dim, j, centres()) === 0;
}
