// SAVING_RESULTS: the selection as Lightly's worker writes it (selected filenames, their embeddings, the
// selected crops) and, for use_datapool runs, the datapool after this run.
import { embeddingsCsvHeader, embeddingsCsvRows } from "../../pipeline/index.js";
import { writeFileAtomic } from "../../util/atomic.js";
import type { RunContext } from "../context.js";
import { linesText } from "../files.js";
import { imagesOfCrops, writeSelectedCrops } from "../object-level.js";
import type { RunEmbeddings } from "./embed.js";
import type { RunSelection } from "./sample.js";

/** Writes the selection's files and counts into the record (saved by the next state change); returns the datapool's row indices. */
export function saveResults(ctx: RunContext, emb: RunEmbeddings, sel: RunSelection): number[] {
  const { paths, record } = ctx;
  const wc = ctx.config.worker_config;
  const { filenames, values, d } = emb;
  const write = (file: string, text: string): void => writeFileAtomic(file, text, { mkdir: true });
  const rowsOf = (idx: readonly number[]): string => {
    const v = new Float32Array(idx.length * d);
    idx.forEach((i, k) => v.set(values.subarray(i * d, (i + 1) * d), k * d));
    return embeddingsCsvHeader(d) + embeddingsCsvRows(idx.map((i) => filenames[i]!), v, d);
  };
  write(paths.selectedFilenames, linesText(sel.pickedImages));
  if (sel.pickedCrops) writeSelectedCrops(paths.output, ctx.plan.selectTask!, wc.object_level.padding, sel.pickedCrops);
  write(paths.selectedEmbeddings, rowsOf(sel.picked));
  const index = new Map(filenames.map((f, i) => [f, i]));
  const poolIdx = sel.datapool.map((f) => index.get(f)!);
  if (wc.use_datapool) {
    const poolImages = sel.cropOf ? imagesOfCrops(sel.datapool.map((f) => sel.cropOf!.get(f)!)) : sel.datapool;
    write(paths.selectedFilenamesIncludingDatapool, linesText([...new Set([...poolImages, ...sel.pickedImages])]));
    write(paths.selectedEmbeddingsIncludingDatapool, rowsOf([...poolIdx, ...sel.picked]));
  }
  record.selectedCount = sel.picked.length;
  record.datapoolCount = wc.use_datapool ? sel.datapool.length + sel.picked.length : null;
  return poolIdx;
}
