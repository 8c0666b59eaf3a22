// GENERATING_REPORT: report.json and report.html, written last so a folder that has them is complete.
import { l2NormalizeRows } from "../../pipeline/index.js";
import type { WorkerTrainResult } from "../../ssl/index.js";
import type { RunContext } from "../context.js";
import { writeReport, REPORT_MAX_THUMBNAILS, type RunReport } from "../report.js";
import type { RunEmbeddings } from "./embed.js";
import type { RunData } from "./load-dataset.js";
import type { RunSelection } from "./sample.js";
import { frameThumbnails } from "../video-report.js";

export interface ReportParts {
  data: RunData;
  training: WorkerTrainResult | null;
  embeddings: RunEmbeddings;
  selection: RunSelection;
  /** Row indices of the datapool before this run (saveResults's). */
  datapoolIdx: number[];
}

export async function generateReport(ctx: RunContext, parts: ReportParts): Promise<RunReport> {
  const { record, config, plan } = ctx;
  const wc = config.worker_config;
  const { data, training, embeddings: emb, selection: sel } = parts;
  const { cache, predictions: preds } = data;
  const last = record.stages[record.stages.length - 1];
  const stages = record.stages.map((s) => (s === last ? { ...s, durationMs: Math.round(performance.now() - ctx.stageT0) } : s));
  const corrupt = cache.corruptFilenames;
  const duplicates = cache.duplicates;
  const selected = sel.picked.map((i) => emb.filenames[i]!);
  // data.items: the cache of what was selected (the crop cache for crop selection).
  const frames = data.videos ? await frameThumbnails(ctx.input, data.items, data.videos, selected.slice(0, REPORT_MAX_THUMBNAILS), ctx.log) : undefined;
  return writeReport({
    runId: ctx.id, input: ctx.input, output: ctx.paths.output, startedAt: record.startedAt, endedAt: new Date().toISOString(), durationMs: Date.now() - ctx.t0, stages, config,
    counts: {
      files: cache.stats.files, images: cache.length, corrupt: corrupt.length, duplicates: duplicates.length, embedded: emb.filenames.length,
      selected: sel.picked.length, datapoolBefore: sel.datapool.length, datapoolAfter: sel.datapool.length + sel.picked.length,
    },
    training: training ? {
      epochs: training.epochsCompleted, epochLosses: training.epochLosses, stepLosses: training.stepLosses, checkpoint: training.checkpoint,
      startedFrom: training.startedFrom, imagesPerSecond: training.imagesPerSecond, device: training.device, durationMs: training.durationMs,
    } : null,
    embedding: { n: emb.filenames.length, d: emb.d, weights: record.weights ?? "", checkpoint: emb.checkpoint, source: emb.source, startingWeights: record.startingWeights ?? null },
    selection: { filenames: selected, stoppedBy: sel.stoppedBy, datapoolFilenames: sel.datapool },
    objects: preds ? {
      predictionsDir: preds.dir, selectTask: plan.selectTask, trainTask: plan.trainTask, valueTasks: plan.valueTasks, padding: wc.object_level.padding,
      crops: plan.selectTask ? emb.filenames.length : null, selectedCrops: sel.pickedCrops, selectedImages: sel.pickedImages, issues: data.predictionIssues,
    } : null,
    corrupt, corruptVideos: data.corruptVideos, frames, duplicates, notes: ctx.notes, filenames: emb.filenames, values: wc.normalize_embeddings ? l2NormalizeRows(emb.values, emb.d) : emb.values, d: emb.d,
    selectedIdx: sel.picked, datapoolIdx: parts.datapoolIdx,
  });
}
