// Training off the main thread: the trainer runs in a worker_thread with its own engine instance
// (the addon is loaded per thread; libtorch's grad mode and autocast state are per OS thread), so the
// main thread stays free for the CLI, progress output and Ctrl-C. The worker reads the image cache
// from its folder (openImageCache); checkpoints go to disk as in train().
//
// Messages worker → main: progress (after each step), epoch-done, log, done (the result, without the
// model), error. Abort: a shared flag the trainer polls after every step; the worker then writes a
// checkpoint and reports done with aborted = true.
//
// Note: libtorch's default CPU random generator is process-wide, not per thread. The trainer reseeds
// before every epoch and step, so runs stay reproducible, but do not draw random numbers on the main
// thread while a worker trains if you rely on bit-exact results.
import { type Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { startModuleWorker } from "../util/module-worker.js";
import { WinnowError, type ErrorCode } from "../util/errors.js";
import type { LightlyConfig } from "../config/lightly-config.js";
import type { AugmentOptions } from "../transforms/index.js";
import type { TrainProgress, EpochSummary } from "../util/progress.js";
import type { TrainResult } from "./trainer.js";

/** Everything the worker needs; must survive structured cloning (no functions, no live objects). */
export interface WorkerTrainOptions {
  /** Folder of a built image cache (ImageCache.dir). */
  cacheDir: string;
  /** As the cache was built (default true). */
  removeExactDuplicates?: boolean;
  /** Entries the caller's view leaves out (ImageCache.excluded: frames of videos dropped as corrupt). */
  exclude?: string[];
  /** Resolved lightly_config (parseLightlyConfig). */
  config: LightlyConfig;
  outDir: string;
  device?: string;
  startFrom?: string;
  resumeFrom?: string;
  projectionHeadBatchNorm?: boolean;
  augment?: Omit<AugmentOptions, "sourceSizes" | "profile">;
  /** Intra-op threads of the worker's engine (default: the engine's default). */
  numThreads?: number;
  /** train()'s prefetch option (a second worker prepares the next step's views). */
  prefetch?: boolean | { waitFromStep?: number };
}

export interface TrainInWorkerOptions extends WorkerTrainOptions {
  onProgress?: (p: TrainProgress) => void;
  onEpochEnd?: (e: EpochSummary) => void;
  log?: (msg: string) => void;
}

/** The training result as it crosses the thread boundary (no model). */
export type WorkerTrainResult = Omit<TrainResult, "model">;

export interface TrainHandle {
  /** Resolves when the worker has finished (completed or aborted) and exited. */
  result: Promise<WorkerTrainResult>;
  /** Stops after the current step; the worker writes a checkpoint, then `result` resolves with aborted = true. */
  abort(): void;
  readonly worker: Worker;
}

export type WorkerMessage =
  | { type: "progress"; progress: TrainProgress }
  | { type: "epoch-done"; summary: EpochSummary }
  | { type: "log"; message: string }
  | { type: "done"; result: WorkerTrainResult }
  | { type: "error"; error: { name: string; message: string; stack?: string; code?: ErrorCode; where?: string } };

interface WorkerData {
  __winnowTrainWorker: true;
  options: WorkerTrainOptions;
  stopFlag: Int32Array;
}

/** Starts training in a worker thread. */
export function trainInWorker(opts: TrainInWorkerOptions): TrainHandle {
  const { onProgress, onEpochEnd, log, ...options } = opts;
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const data: WorkerData = { __winnowTrainWorker: true, options, stopFlag };
  const worker = startModuleWorker(import.meta.url, data);
  const result = new Promise<WorkerTrainResult>((resolve, reject) => {
    let done: WorkerTrainResult | null = null;
    let failure: Error | null = null;
    worker.on("message", (m: WorkerMessage) => {
      try {
        switch (m.type) {
          case "progress": onProgress?.(m.progress); break;
          case "epoch-done": onEpochEnd?.(m.summary); break;
          case "log": log?.(m.message); break;
          case "done": done = m.result; break;
          case "error": failure = errorFromWorker(m.error); break;
        }
      } catch (e) {
        failure ??= e as Error; // a throwing callback fails the run, after the worker stops
        Atomics.store(stopFlag, 0, 1);
      }
    });
    worker.on("error", (e) => {
      failure ??= e;
    });
    worker.on("exit", (code) => {
      if (failure) reject(failure);
      else if (done) resolve(done);
      else reject(new Error(`the training worker exited (code ${code}) without a result`));
    });
  });
  return {
    result,
    abort: () => Atomics.store(stopFlag, 0, 1),
    worker,
  };
}

/** The worker's error on this thread: a WinnowError again when it was one (its code and where kept). */
function errorFromWorker(m: Extract<WorkerMessage, { type: "error" }>["error"]): Error {
  const e = m.code ? new WinnowError(m.code, m.message, { where: m.where }) : new Error(m.message);
  e.name = m.name;
  if (m.stack) e.stack = `${m.name}: ${m.message}\n    (in the training worker)\n${m.stack.split("\n").slice(1).join("\n")}`;
  return e;
}

// ---- the worker side ----------------------------------------------------------------------------------

async function runInWorker(d: WorkerData): Promise<void> {
  const port = parentPort!;
  const post = (m: WorkerMessage): void => port.postMessage(m);
  let cache: { close(): void } | null = null;
  try {
    // Loaded here, not at the top: the main thread importing trainInWorker needs no engine.
    const torch = await import("../torch/index.js");
    const { openImageCache } = await import("../data/index.js");
    const { train } = await import("./trainer.js");
    const o = d.options;
    if (o.numThreads) torch.setNumThreads(o.numThreads);
    const c = openImageCache(o.cacheDir, { removeExactDuplicates: o.removeExactDuplicates ?? true, exclude: o.exclude });
    cache = c;
    const r = await train({
      cache: c, config: o.config, outDir: o.outDir, device: o.device, startFrom: o.startFrom, resumeFrom: o.resumeFrom,
      projectionHeadBatchNorm: o.projectionHeadBatchNorm, augment: o.augment, keepModel: false, prefetch: o.prefetch,
      onProgress: (progress) => post({ type: "progress", progress }),
      onEpochEnd: (summary) => post({ type: "epoch-done", summary }),
      log: (message) => post({ type: "log", message }),
      shouldStop: () => Atomics.load(d.stopFlag, 0) === 1,
    });
    const { model: _none, ...result } = r;
    post({ type: "done", result });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const coded = e instanceof WinnowError ? { code: e.code as ErrorCode, where: e.where } : {};
    post({ type: "error", error: { name: err.name, message: err.message, stack: err.stack, ...coded } });
  } finally {
    cache?.close();
  }
}

if (!isMainThread && (workerData as Partial<WorkerData> | null)?.__winnowTrainWorker) {
  void runInWorker(workerData as WorkerData);
}
