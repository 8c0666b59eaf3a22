// TYPICALITY's score per item: exact neighbours up to `exactMax` items, the approximate
// (inverted-file) search above it. Both give 1 / mean distance to the K nearest, normalised to max 1.
import type { Tensor } from "../torch/index.js";
import { meanKnnDistanceExact, typicalityFromMeans } from "./typicality.js";
import { meanKnnDistanceIvf } from "./typicality-ivf.js";

/** Above this many items the exact N² search gives way to the approximate one (≈ 20 s exact at 100k×32 on 2 cores). */
export const TYPICALITY_EXACT_MAX = 100_000;

export function typicalityScores(x: Tensor, k: number, exactMax = TYPICALITY_EXACT_MAX): Float64Array {
  const n = x.shape[0];
  return typicalityFromMeans(n <= exactMax ? meanKnnDistanceExact(x, k) : meanKnnDistanceIvf(x, k).means);
}
