// Seeds of the SimCLR trainer: every epoch's order and every step's augmentations draw from a seed
// derived from (seed, epoch, step), so a step's randomness depends on nothing run before it (exact
// resume) and may be drawn on another thread (the prefetcher) as long as nobody else draws meanwhile
// (libtorch's CPU generator is process-wide).
import * as torch from "../torch/index.js";

const MASK64 = (1n << 64n) - 1n;
function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * A seed for (seed, epoch, step) that does not depend on anything run before: step -1 is the
 * epoch's permutation. 48 bits, so it is exact as a JavaScript number.
 */
export function deriveSeed(seed: number, epoch: number, step: number): number {
  let h = splitmix64(BigInt(seed));
  h = splitmix64(h ^ BigInt(epoch));
  h = splitmix64(h ^ BigInt(step + 1));
  return Number(h & ((1n << 48n) - 1n));
}

/** The augmentation seed of a data-parallel rank: rank 0 keeps the run's seed, the others draw their own. */
export const rankSeed = (seed: number, rank: number): number => (rank === 0 ? seed : deriveSeed(seed, rank, -2));

/** The image order of an epoch: a seeded permutation (shuffle) or 0..n-1. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): number[] {
  if (!shuffle) return Array.from({ length: n }, (_, i) => i);
  torch.manualSeed(deriveSeed(seed, epoch, -1));
  const p = torch.scope(() => torch.randperm(n).data() as BigInt64Array);
  return Array.from(p, (v) => Number(v));
}

/** Number of images in batch `step` of an epoch of n images (the last one may be short without drop_last). */
export const batchLength = (n: number, batchSize: number, step: number): number => Math.max(0, Math.min(batchSize, n - step * batchSize));

/**
 * The batches of an epoch of n images and the steps of a run of maxEpochs epochs (what the cosine lr
 * schedule spans): a last batch of one image is skipped, as NT-Xent needs two.
 */
export function stepPlan(n: number, batchSize: number, dropLast: boolean, maxEpochs: number): { stepsPerEpoch: number; totalSteps: number } {
  const stepsPerEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  const skipped = batchLength(n, batchSize, stepsPerEpoch - 1) < 2 ? 1 : 0;
  return { stepsPerEpoch, totalSteps: maxEpochs * (stepsPerEpoch - skipped) };
}
