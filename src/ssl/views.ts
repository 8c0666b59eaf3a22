// The two augmented views of each training step, in the layout the model takes: from the prefetch
// worker (src/ssl/prefetch.ts, CPU only) once it has begun, else made on the training thread. The
// prefetcher is this data source's business, not a callback's: like PyTorch's DataLoader workers, it
// changes where batches are made, never what they are.
import * as os from "node:os";
import * as torch from "../torch/index.js";
import { isCuda, type Device, type Tensor } from "../torch/index.js";
import type { ImageCache } from "../data/index.js";
import { simclrViews, type AugmentOptions } from "../transforms/index.js";
import { deriveSeed, epochOrder, rankSeed } from "./seeds.js";
import { shardIndices } from "../distributed/index.js";
import { ViewPrefetcher, type PrefetchPlan } from "./prefetch.js";

/**
 * Whether train() prefetches views on a second thread when not told: on the CPU only (on CUDA the
 * training thread augments on the GPU), and only when the machine has at least two cores more than
 * the training thread's intra-op threads. Without a spare core the worker takes CPU from the model
 * step (OpenMP regions wait for their slowest thread): on the 2-core bench machine prefetch was
 * slower with 2 training threads and with 1 (docs/benchmarks.md), as PyTorch's DataLoader workers
 * there slow its model step more than they save. `os.availableParallelism()` does not see other
 * processes' load, hence the margin of two cores.
 */
export function prefetchByDefault(device: Device, intraOpThreads: number): boolean {
  return !isCuda(String(device)) && os.availableParallelism() >= intraOpThreads + 2;
}

/** The batch plan is the prefetch worker's (one definition of what makes an epoch's batches). */
export interface ViewSourceOptions extends Pick<PrefetchPlan, "seed" | "shuffle" | "batchSize" | "stepsPerEpoch" | "maxEpochs" | "collate"> {
  cache: ImageCache;
  device: Device;
  onCuda: boolean;
  augment?: Omit<AugmentOptions, "sourceSizes">;
  /** train()'s prefetch option. */
  prefetch?: boolean | { waitFromStep?: number };
  note: (msg: string) => void;
  /**
   * Data-parallel: this rank's shard of every epoch (DistributedSampler's lists, seeded seed +
   * epoch), with augmentations drawn from a seed of this rank's own. Views are then made here
   * (no prefetch worker: it draws the single-process order).
   */
  shard?: { rank: number; worldSize: number };
}

export class ViewSource {
  /** Steps whose views the prefetch worker prepared. */
  prefetchedSteps = 0;
  private pf: ViewPrefetcher | null = null;
  private prefetching = false;
  private calls = 0;
  private order: { epoch: number; order: number[] } | null = null;
  private readonly waitFromStep: number;
  private readonly sourceSizes: Array<[number, number]>;
  // channels_last: oneDNN (CPU) and cuDNN (GPU) convolutions are faster in it (measured here:
  // ~4x on this CPU for resnet-18 at 32 px, 0.9x the step time on an H200); values are unchanged.
  // On the CPU the views stay NCHW: the backbone's first layer, BatchNorm2d(3), is ~6x slower on a
  // 3-channel channels_last input there (forward + backward, 128 × 3 × 32² and 64²), and the first
  // conv (channels_last weights) gives channels_last activations from there on: 8-16% off a CPU
  // step. On CUDA they are channels_last, the layout the GPU benchmarks measured.
  private readonly viewFormat: "channels_last" | "contiguous";

  /** Starts the prefetch worker when it is used (early, so that its start-up overlaps the model set-up). */
  constructor(private readonly o: ViewSourceOptions) {
    const { cache } = o;
    this.viewFormat = o.onCuda ? "channels_last" : "contiguous";
    this.waitFromStep = typeof o.prefetch === "object" ? o.prefetch.waitFromStep ?? Infinity : Infinity;
    this.sourceSizes = Array.from({ length: cache.length }, (_, i) => [cache.heights[i]!, cache.widths[i]!]);
    const use = !o.shard && (o.prefetch ?? prefetchByDefault(o.device, torch.getNumThreads())) !== false && !o.onCuda && !o.augment?.profile;
    if (!use) return;
    const dup = cache.duplicates[0];
    this.pf = ViewPrefetcher.start({
      cacheDir: cache.dir, removeExactDuplicates: dup !== undefined && !cache.filenames.includes(dup.filename), exclude: cache.excluded, n: cache.length,
      seed: o.seed, shuffle: o.shuffle, batchSize: o.batchSize, stepsPerEpoch: o.stepsPerEpoch, maxEpochs: o.maxEpochs,
      collate: o.collate, augment: o.augment ?? {},
    });
  }

  /** The views of step (epoch, step) of `count` images; the caller disposes them. */
  async next(epoch: number, step: number, count: number): Promise<[Tensor, Tensor]> {
    const pf = this.pf;
    if (pf && !this.prefetching) {
      // Batches go over to the worker once it is ready (waited for from step waitFromStep on).
      if (this.calls >= this.waitFromStep) while (!pf.ready && !pf.error) await new Promise((r) => setTimeout(r, 5));
      if (pf.error) {
        this.o.note(`prefetch worker failed to start (${pf.error.message}): views are prepared on the training thread`);
        await this.close();
      } else if (pf.ready) {
        pf.begin(epoch, step);
        this.prefetching = true;
      }
    }
    this.calls++;
    if (this.prefetching) {
      this.prefetchedSteps++;
      return this.pf!.next(epoch, step, count);
    }
    return this.makeHere(epoch, step, count);
  }

  /** Draws the epoch's order and the step's augmentations here, on the training thread. */
  private makeHere(epoch: number, step: number, count: number): [Tensor, Tensor] {
    const { o } = this;
    if (this.order?.epoch !== epoch) this.order = { epoch, order: this.epochOrder(epoch) };
    const idx = this.order.order.slice(step * o.batchSize, step * o.batchSize + count);
    torch.manualSeed(deriveSeed(o.shard ? rankSeed(o.seed, o.shard.rank) : o.seed, epoch, step));
    return torch.scope(() => {
      const x = o.cache.batchTensor(idx, o.device);
      const [a0, a1] = simclrViews(x, o.collate, { ...o.augment, sourceSizes: idx.map((i) => this.sourceSizes[i]!) });
      return [a0.contiguous(this.viewFormat), a1.contiguous(this.viewFormat)] as [Tensor, Tensor];
    });
  }

  /** The images of an epoch in the order this process visits them. */
  epochOrder(epoch: number): number[] {
    const { o } = this;
    if (!o.shard) return epochOrder(o.cache.length, o.seed, epoch, o.shuffle);
    return shardIndices(o.cache.length, o.shard.rank, o.shard.worldSize, epoch, o.seed, { shuffle: o.shuffle });
  }

  /** Stops the prefetch worker, if any. Never throws. */
  async close(): Promise<void> {
    await this.pf?.close();
    this.pf = null;
  }
}
