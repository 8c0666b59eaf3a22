// LOADING_DATASET: the input folder decoded into the cache, and for runs that read predictions
// (src/run/object-level.ts) the crop caches of the crop tasks and the values of the others. With
// videos, frames are images here too: their predictions are read and their crops cut by frame name.
import * as path from "node:path";
import { prepareImages, imageCacheOptions } from "../../pipeline/index.js";
import type { ImageCache, Listing } from "../../data/index.js";
import type { RunContext } from "../context.js";
import { predictionsDirFor, checkTasksListed, RunPredictions, type TaskIssues } from "../object-level.js";
import { CountProgress } from "../progress.js";
import { winnowHome } from "../store.js";
import { listWithVideos, RunVideos, type CorruptVideo } from "../videos.js";

export interface RunData {
  /** The input's images. */
  cache: ImageCache;
  /** What is embedded and selected: the images, or the crops of the selection's task. */
  items: ImageCache;
  /** What is trained on: the images, or the crops of worker_config.training.task_name. */
  trainItems: ImageCache;
  predictions: RunPredictions | null;
  predictionIssues: TaskIssues[];
  /** The input's videos (worker_config.videos), null when videos are not taken. */
  videos: RunVideos | null;
  /** Videos dropped as corrupt, with the reason (set by CHECKING_CORRUPTNESS). */
  corruptVideos?: CorruptVideo[];
}

/** Decodes (or reuses) the cache; the caches opened are also in ctx.open, so the run closes them whatever happens. */
export async function loadDataset(ctx: RunContext): Promise<RunData> {
  const wc = ctx.config.worker_config;
  const lc = ctx.config.lightly_config;
  const cacheDir = ctx.options.cacheDir ?? path.join(winnowHome(), "cache");
  const decodeBar = new CountProgress("decoding", ctx.stream);
  const listing = wc.videos ? await listWithVideos(ctx.input, wc.num_threads, imageCacheOptions({ cacheDir, config: lc })) : undefined;
  const videos = listing && listing.videos.videos.size ? new RunVideos(listing.videos) : null;
  if (videos) ctx.log(`videos: ${videos.names.length} (${listing!.videos.of.size} frames or unreadable videos as samples)`);
  const cache = await prepareImages(ctx.input, {
    cacheDir, config: lc, removeExactDuplicates: wc.remove_exact_duplicates, listing,
    onProgress: (d, t) => (decodeBar.update(d, t), ctx.live("decoding", d, t)), log: ctx.log,
  });
  ctx.open.cache = cache;
  decodeBar.done();
  if (wc.training.task_name && !wc.enable_training) ctx.note(`worker_config.training.task_name ${JSON.stringify(wc.training.task_name)} has no effect: enable_training is false`);
  const data: RunData = { cache, items: cache, trainItems: cache, predictions: null, predictionIssues: [], videos };
  if (ctx.plan.tasks.length) await loadPredictions(ctx, data, cacheDir, listing);
  return data;
}

/** `listing`: the run's listing with videos (crops are then cut from frames too); undefined without videos. */
async function loadPredictions(ctx: RunContext, data: RunData, cacheDir: string, listing: Listing | undefined): Promise<void> {
  const { plan } = ctx;
  const wc = ctx.config.worker_config;
  const dir = predictionsDirFor(ctx.input, ctx.options.lightlyPath);
  const why = (t: string): string =>
    t === plan.selectTask ? "selection_config (crop selection)" : t === plan.trainTask ? "worker_config.training.task_name" : "selection_config (SCORES/PREDICTIONS input)";
  checkTasksListed(dir, plan.tasks, why);
  ctx.log(`predictions: ${dir} (task${plan.tasks.length === 1 ? "" : "s"} ${plan.tasks.join(", ")})`);
  const preds = new RunPredictions(dir, wc.object_level.padding);
  ctx.open.predictions = preds;
  data.predictions = preds;
  const prepOpts = { cacheDir, config: ctx.config.lightly_config, removeExactDuplicates: wc.remove_exact_duplicates, log: ctx.log, listing };
  for (const task of [plan.selectTask, plan.trainTask]) {
    if (!task || preds.crops.has(task)) continue;
    const bar = new CountProgress(`cropping ${task}`, ctx.stream);
    await preds.cropCache(ctx.input, task, { ...prepOpts, onProgress: (dn, t) => bar.update(dn, t) });
    bar.done();
  }
  for (const task of plan.valueTasks) preds.imagePredictions(task, data.cache.filenames, ctx.log);
  if (plan.selectTask) data.items = preds.crops.get(plan.selectTask)!;
  if (plan.trainTask) data.trainItems = preds.crops.get(plan.trainTask)!;
  data.predictionIssues = preds.issues(data.cache.filenames);
}
