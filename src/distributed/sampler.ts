// torch.utils.data.DistributedSampler's index lists, exactly: the permutation is libtorch's own
// randperm with a private generator seeded seed+epoch (so the lists equal PyTorch's, and the
// global RNG stream is untouched), padded by repeating the head or cut to a multiple of the
// world size, then every world-size-th index from `rank`.
import { native } from "../torch/native.js";
import { Tensor } from "../torch/tensor.js";
import { WinnowError } from "../util/errors.js";

export interface ShardOptions {
  shuffle?: boolean; // default true, as DistributedSampler
  dropLast?: boolean; // default false
}

/** torch.randperm(n, generator=torch.Generator().manual_seed(seed)) as numbers. */
export function seededPermutation(n: number, seed: number): number[] {
  const t = new Tensor(native.randpermSeeded(n, seed));
  try {
    return Array.from(t.data() as BigInt64Array, Number);
  } finally {
    t.dispose();
  }
}

/** The indices rank `rank` of `worldSize` visits in `epoch` (DistributedSampler.__iter__). */
export function shardIndices(n: number, rank: number, worldSize: number, epoch = 0, seed = 0, o: ShardOptions = {}): number[] {
  const shuffle = o.shuffle ?? true;
  const dropLast = o.dropLast ?? false;
  const int = (v: number, name: string, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) throw new WinnowError("invalid_input", `shardIndices: ${name} must be an integer ≥ ${min}, got ${v}`, { where: name });
  };
  int(n, "n", 0);
  int(worldSize, "worldSize", 1);
  int(rank, "rank", 0);
  int(epoch, "epoch", 0);
  if (!Number.isSafeInteger(seed)) throw new WinnowError("invalid_input", `shardIndices: seed must be an integer, got ${seed}`, { where: "seed" });
  if (rank >= worldSize) throw new WinnowError("invalid_input", `shardIndices: rank ${rank} is not below worldSize ${worldSize}`, { where: "rank" });

  const numSamples = dropLast && n % worldSize !== 0 ? Math.ceil((n - worldSize) / worldSize) : Math.ceil(n / worldSize);
  const totalSize = numSamples * worldSize;
  let indices = shuffle ? seededPermutation(n, seed + epoch) : Array.from({ length: n }, (_, i) => i);
  if (!dropLast) {
    const head = indices.slice();
    while (indices.length < totalSize) indices = indices.concat(head.slice(0, totalSize - indices.length));
  } else {
    indices = indices.slice(0, totalSize);
  }
  const out: number[] = [];
  for (let i = rank; i < totalSize; i += worldSize) out.push(indices[i]);
  return out;
}
