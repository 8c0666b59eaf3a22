// EMBEDDING: one row per item (image or crop) into data/embeddings.csv, computed with the run's weights
// or taken from worker_config.embeddings (custom embeddings: every usable item needs a row).
import * as path from "node:path";
import { embedImages, readEmbeddings, embeddingsCsvHeader, embeddingsCsvRows } from "../../pipeline/index.js";
import type { WorkerTrainResult } from "../../ssl/index.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { WinnowError } from "../../util/errors.js";
import type { RunContext } from "../context.js";
import { readEmbeddingsCsv } from "../embeddings-csv.js";
import { CountProgress } from "../progress.js";
import type { RunData } from "./load-dataset.js";
import type { StartingPoint } from "./starting-weights.js";

export interface RunEmbeddings {
  /** Item names in row order. */
  filenames: string[];
  /** Row-major n × d. */
  values: Float32Array;
  d: number;
  /** Where they came from, in words (the report's). */
  source: string;
  /** The checkpoint embedded with; null for custom embeddings or random weights. */
  checkpoint: string | null;
}

export async function embed(ctx: RunContext, data: RunData, start: StartingPoint, training: WorkerTrainResult | null): Promise<RunEmbeddings> {
  if (ctx.plan.trainTask) ctx.log(`trained on ${data.trainItems.length} object crops of task "${ctx.plan.trainTask}"`);
  if (ctx.config.worker_config.embeddings) return customEmbeddings(ctx, data, start.embeddingsFile);
  const checkpoint = training?.checkpoint ?? start.checkpoint?.path ?? start.pretrained?.path ?? null;
  const bar = new CountProgress("embedding", ctx.stream);
  const e = embedImages({
    cache: data.items, config: ctx.config.lightly_config, outDir: path.dirname(ctx.paths.embeddings), checkpoint: checkpoint ?? undefined, device: ctx.device, processGroup: ctx.pg ?? undefined,
    onProgress: (dn, t) => (bar.update(dn, t), ctx.live("embedding", dn, t)), log: ctx.log,
  });
  bar.done();
  for (const n of e.notes) if (!ctx.notes.includes(n)) ctx.notes.push(n);
  const read = readEmbeddings(e.metaPath!);
  const source = e.weights === "random-init" ? "randomly initialised weights" : training ? "the model trained in this run" : `checkpoint (${ctx.record.weights})`;
  return { filenames: read.meta.filenames, values: read.values, d: read.meta.d, source, checkpoint };
}

/** worker_config.embeddings: the rows of the usable items, in their order, written as the run's embeddings. */
function customEmbeddings(ctx: RunContext, data: RunData, file: string): RunEmbeddings {
  const wc = ctx.config.worker_config;
  const filenames = data.items.filenames;
  const custom = readEmbeddingsCsv(file);
  const row = new Map(custom.filenames.map((f, i) => [f, i]));
  const missing = filenames.filter((f) => !row.has(f));
  if (missing.length) {
    const items = ctx.plan.selectTask ? `crops of task "${ctx.plan.selectTask}" (rows are named <image>#<prediction index>)` : "images";
    throw new WinnowError("invalid_input", `worker_config.embeddings: ${wc.embeddings} has no row for ${missing.length} of the ${filenames.length} usable ${items} (e.g. ${missing.slice(0, 3).map((m) => JSON.stringify(m)).join(", ")}); every usable image needs one`,
      { where: "worker_config.embeddings" });
  }
  const extra = custom.filenames.length - filenames.length;
  if (extra > 0) ctx.note(`worker_config.embeddings: ${extra} row(s) for files that are not usable images of the input (ignored)`);
  const d = custom.d;
  const values = new Float32Array(filenames.length * d);
  filenames.forEach((f, i) => values.set(custom.values.subarray(row.get(f)! * d, (row.get(f)! + 1) * d), i * d));
  writeFileAtomic(ctx.paths.embeddings, embeddingsCsvHeader(d) + embeddingsCsvRows(filenames, values, d), { mkdir: true });
  ctx.log(`embeddings: ${filenames.length} × ${d} from ${wc.embeddings}`);
  return { filenames: [...filenames], values, d, source: `custom embeddings ${file}`, checkpoint: null };
}
