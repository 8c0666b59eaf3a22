// Approximate K nearest neighbours for TYPICALITY on large sets (placeholder until the IVF search lands).
import type { Tensor } from "../torch/index.js";
import { meanKnnDistanceExact } from "./typicality.js";

export function meanKnnDistanceIvf(x: Tensor, k: number): { means: Float64Array } {
  return { means: meanKnnDistanceExact(x, k) };
}
