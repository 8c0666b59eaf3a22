// Prefetching the trainer's views on a second thread, as PyTorch's DataLoader workers do: a
// worker_thread reads step k+1's batch from the image cache and augments its two views while the
// training thread runs step k's forward/backward.
//
// - Engine handles cannot cross threads (the addon is loaded per thread), so views cross as bytes:
//   a ring of 2 SharedArrayBuffer slots, float32 NCHW (the layout the trainer feeds the model), with an
//   Int32Array of flags and Atomics for signalling. The training thread copies a slot into a tensor
//   (fromBuffer refuses SharedArrayBuffer memory, so via a staging array: two ~1.5 MB copies per view).
// - Determinism: the worker draws each epoch's order and each step's augmentation parameters after
//   torch.manualSeed(deriveSeed(seed, epoch, step)), as the training thread does without it.
//   libtorch's CPU generator is process-wide: once the worker has begun, the training thread must
//   draw no random numbers (the SimCLR step draws none). Before it begins, the trainer prepares
//   batches itself, so the worker's start-up (~0.2-1 s) is not waited for.
// - The worker runs with 1 intra-op thread (OpenMP thread counts are per calling thread in libtorch
//   1.13: measured, the training thread keeps its own). Augmentation values do not depend on the
//   thread count (measured: bit-identical views with 1 and 2 threads at 32 and 224 px).
// - Shutdown is cooperative (a stop flag; the worker finishes the batch in hand and exits): a worker
//   terminated during a native call aborts the process (measured with worker.terminate()).
import { isMainThread, parentPort, workerData, type Worker } from "node:worker_threads";
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { openImageCache } from "../data/index.js";
import { simclrViews, type AugmentOptions, type CollateConfig } from "../transforms/index.js";
import { startModuleWorker, type WorkerErrorMessage } from "../util/module-worker.js";
import { batchLength, deriveSeed, epochOrder } from "./seeds.js";

/** What the worker needs to produce the run's batches, in the trainer's order. */
export interface PrefetchPlan {
  /** Folder of the image cache (ImageCache.dir) and how it was opened. */
  cacheDir: string;
  removeExactDuplicates: boolean;
  /** ImageCache.excluded of the trainer's view. */
  exclude?: readonly string[];
  /** Number of images the trainer sees (checked against the cache the worker opens). */
  n: number;
  seed: number;
  shuffle: boolean;
  batchSize: number;
  stepsPerEpoch: number;
  maxEpochs: number;
  collate: CollateConfig;
  augment: Omit<AugmentOptions, "sourceSizes" | "profile">;
  /** Intra-op threads of the worker's engine. Default 1. */
  numThreads?: number;
}

// Control flags (Int32Array over a SharedArrayBuffer).
const READY = 0; // worker: 1 when its engine and cache are open
const START = 1; // trainer: 1 = begin at (START_EPOCH, START_STEP)
const START_EPOCH = 2;
const START_STEP = 3;
const STOP = 4; // trainer: 1 = finish the batch in hand and exit
const SLOT0 = 8; // per slot: state, epoch, step, count
const SLOT_FIELDS = 4;
const SLOTS = 2;
const EMPTY = 0;
const FULL = 1;
const CONTROL_INTS = SLOT0 + SLOTS * SLOT_FIELDS;

interface PrefetchData {
  __winnowPrefetch: true;
  plan: PrefetchPlan;
  control: Int32Array;
  slots: Float32Array[];
}

// Atomics.waitAsync (Node ≥ 16) is not in TypeScript's ES2022 library.
type WaitAsync = (a: Int32Array, i: number, v: number, timeoutMs?: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

let running = 0;

/** The training thread's end of a prefetch worker. */
export class ViewPrefetcher {
  /** Prefetch workers started and not yet exited (in this thread). */
  static get running(): number {
    return running;
  }

  private readonly worker: Worker;
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  private readonly staging: Float32Array;
  private readonly exited: Promise<void>;
  private readonly size: number;
  private readonly pixels: number;
  private readonly batchSize: number;
  private hasExited = false;
  private failure: Error | null = null;
  private seq = 0;
  private begun = false;

  private constructor(plan: PrefetchPlan) {
    const S = plan.collate.input_size;
    this.batchSize = plan.batchSize;
    this.size = S;
    this.pixels = S * S * 3;
    const floats = 2 * plan.batchSize * this.pixels;
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
    this.slots = Array.from({ length: SLOTS }, () => new Float32Array(new SharedArrayBuffer(floats * 4)));
    this.staging = new Float32Array(plan.batchSize * this.pixels);
    const data: PrefetchData = { __winnowPrefetch: true, plan, control: this.control, slots: this.slots };
    this.worker = startModuleWorker(import.meta.url, data);
    // Kept ref'd: Atomics.waitAsync and the awaited exit do not keep the event loop alive by themselves.
    running++;
    this.worker.on("message", (m: WorkerErrorMessage) => {
      if (m?.type !== "error") return;
      const e = new Error(`prefetch worker: ${m.error.message}`);
      e.name = m.error.name;
      this.failure ??= e;
    });
    this.worker.on("error", (e) => {
      this.failure ??= e;
    });
    this.exited = new Promise((resolve) => {
      this.worker.once("exit", (code) => {
        this.hasExited = true;
        running--;
        if (code !== 0) this.failure ??= new Error(`the prefetch worker exited with code ${code}`);
        resolve();
      });
    });
  }

  /** Starts the worker (it loads its engine and opens the cache, then waits for begin()). */
  static start(plan: PrefetchPlan): ViewPrefetcher {
    return new ViewPrefetcher(plan);
  }

  /** True once the worker can begin. */
  get ready(): boolean {
    return Atomics.load(this.control, READY) === 1 && !this.failure && !this.hasExited;
  }

  /** The error that stopped the worker, if any (seen by the training thread's event loop). */
  get error(): Error | null {
    return this.failure ?? (this.hasExited ? new Error("the prefetch worker exited") : null);
  }

  /**
   * From now on the worker prepares the batches from (epoch, step) on, in the trainer's order, and
   * draws random numbers: the calling thread must not draw any until close().
   */
  begin(epoch: number, step: number): void {
    if (this.begun) throw new Error("ViewPrefetcher.begin: already begun");
    this.begun = true;
    Atomics.store(this.control, START_EPOCH, epoch);
    Atomics.store(this.control, START_STEP, step);
    Atomics.store(this.control, START, 1);
    Atomics.notify(this.control, START);
  }

  /** Waits for batch (epoch, step) of `count` images: its two views, float32 [count, 3, S, S] contiguous. */
  async next(epoch: number, step: number, count: number): Promise<[Tensor, Tensor]> {
    const base = SLOT0 + (this.seq % SLOTS) * SLOT_FIELDS;
    while (Atomics.load(this.control, base) !== FULL) {
      if (this.failure) throw this.failure;
      if (this.hasExited) throw new Error("the prefetch worker exited before producing the next batch");
      // Async so that the worker's error and exit events reach us while we wait; the timer keeps
      // the event loop alive (a pending waitAsync does not, and the worker may have exited).
      const w = waitAsync(this.control, base, EMPTY, 200);
      if (w.async) {
        const keepAlive = setTimeout(() => {}, 250);
        await w.value;
        clearTimeout(keepAlive);
      }
    }
    const got = [Atomics.load(this.control, base + 1), Atomics.load(this.control, base + 2), Atomics.load(this.control, base + 3)];
    if (got[0] !== epoch || got[1] !== step || got[2] !== count) {
      throw new Error(`prefetch out of step: expected epoch ${epoch}, step ${step} (${count} images), the worker sent epoch ${got[0]}, step ${got[1]} (${got[2]} images)`);
    }
    const slot = this.slots[this.seq % SLOTS]!;
    const len = count * this.pixels;
    const S = this.size;
    const views = [0, 1].map((v) => {
      this.staging.set(slot.subarray(v * this.batchSize * this.pixels, v * this.batchSize * this.pixels + len));
      const bytes = new Uint8Array(this.staging.buffer, 0, len * 4);
      return torch.fromBytes(bytes, [count, 3, S, S], "float32");
    }) as [Tensor, Tensor];
    Atomics.store(this.control, base, EMPTY);
    Atomics.notify(this.control, base);
    this.seq++;
    return views;
  }

  /** Stops the worker and waits until it has exited (it finishes the batch in hand first). Never throws. */
  async close(): Promise<void> {
    Atomics.store(this.control, STOP, 1);
    for (const i of [START, ...Array.from({ length: SLOTS }, (_, k) => SLOT0 + k * SLOT_FIELDS)]) Atomics.notify(this.control, i);
    await this.exited;
  }
}

// ---- the worker side ----------------------------------------------------------------------------

function runPrefetcher(d: PrefetchData): void {
  const { plan, control, slots } = d;
  const stopped = (): boolean => Atomics.load(control, STOP) === 1;
  let cache: ReturnType<typeof openImageCache> | null = null;
  try {
    torch.setNumThreads(plan.numThreads ?? 1);
    cache = openImageCache(plan.cacheDir, { removeExactDuplicates: plan.removeExactDuplicates, exclude: plan.exclude });
    if (cache.length !== plan.n) throw new Error(`${plan.cacheDir} holds ${cache.length} images, the trainer has ${plan.n}`);
    const sizes: Array<[number, number]> = Array.from({ length: cache.length }, (_, i) => [cache!.heights[i]!, cache!.widths[i]!]);
    const pixels = plan.collate.input_size * plan.collate.input_size * 3;
    Atomics.store(control, READY, 1);
    while (Atomics.load(control, START) === 0) {
      if (stopped()) return;
      Atomics.wait(control, START, 0, 1000);
    }
    const e0 = Atomics.load(control, START_EPOCH);
    const s0 = Atomics.load(control, START_STEP);
    let seq = 0;
    for (let epoch = e0; epoch < plan.maxEpochs; epoch++) {
      const order = epochOrder(plan.n, plan.seed, epoch, plan.shuffle);
      for (let step = epoch === e0 ? s0 : 0; step < plan.stepsPerEpoch; step++) {
        const count = batchLength(plan.n, plan.batchSize, step);
        if (count < 2) continue; // as the trainer: NT-Xent needs two images
        const base = SLOT0 + (seq % SLOTS) * SLOT_FIELDS;
        while (Atomics.load(control, base) === FULL) {
          if (stopped()) return;
          Atomics.wait(control, base, FULL, 1000);
        }
        if (stopped()) return;
        const idx = order.slice(step * plan.batchSize, step * plan.batchSize + count);
        const slot = slots[seq % SLOTS]!;
        torch.manualSeed(deriveSeed(plan.seed, epoch, step));
        torch.scope(() => {
          const x = cache!.batchTensor(idx, "cpu");
          const vs = simclrViews(x, plan.collate, { ...plan.augment, sourceSizes: idx.map((i) => sizes[i]!) });
          vs.forEach((v, k) => slot.set(v.contiguous().data() as Float32Array, k * plan.batchSize * pixels));
        });
        Atomics.store(control, base + 1, epoch);
        Atomics.store(control, base + 2, step);
        Atomics.store(control, base + 3, count);
        Atomics.store(control, base, FULL);
        Atomics.notify(control, base);
        seq++;
      }
    }
  } catch (e) {
    // The message reaches the trainer's event loop; the notify wakes a trainer waiting for a slot.
    const err = e instanceof Error ? e : new Error(String(e));
    for (let k = 0; k < SLOTS; k++) Atomics.notify(control, SLOT0 + k * SLOT_FIELDS);
    parentPort!.postMessage({ type: "error", error: { name: err.name, message: err.message, stack: err.stack } } satisfies WorkerErrorMessage);
  } finally {
    cache?.close();
  }
}

if (!isMainThread && (workerData as Partial<PrefetchData> | null)?.__winnowPrefetch) {
  runPrefetcher(workerData as PrefetchData);
}
