// SAMPLING with worker_config.selected_sequence_length N > 1 (Lightly's sequence selection): the
// selection runs over sequences of N consecutive frames of one video (mean embedding each), and every
// picked sequence contributes its N frames, in frame order, to the selection.
import type { RunConfig } from "../config/run-config.js";
import { frameSequences, sequenceCount, sequenceEmbeddings } from "../select/index.js";
import { WinnowError } from "../util/errors.js";
import type { RunContext } from "./context.js";
import { selectStep } from "./select-step.js";
import type { RunEmbeddings } from "./stages/embed.js";
import type { RunData } from "./stages/load-dataset.js";
import type { RunSelection } from "./stages/sample.js";

const SEQUENCE_INPUTS = new Set(["EMBEDDINGS", "RANDOM"]);

/** What sequence selection cannot combine with, refused before anything is decoded. */
export function checkSequenceConfig(config: RunConfig, relevant: string[] | null): void {
  const wc = config.worker_config;
  const n = wc.selected_sequence_length;
  if (n === 1) return;
  const refuse = (where: string, what: string): never => {
    throw new WinnowError("invalid_config", `worker_config.selected_sequence_length ${n}: ${what}`, { where });
  };
  if (!wc.videos) refuse("worker_config.videos", "sequences are cut from videos, and worker_config.videos is false");
  if (wc.use_datapool) refuse("worker_config.use_datapool", "sequence selection with use_datapool is not supported");
  if (relevant) refuse("worker_config.relevant_filenames_file", "sequence selection with relevant_filenames_file is not supported");
  config.selection_config.strategies.forEach((s, k) => {
    if (!SEQUENCE_INPUTS.has(s.input.type) || ("task" in s.input && s.input.task)) {
      refuse(`selection_config.strategies[${k}].input`, `sequences are selected on their mean embedding; input ${s.input.type}${"task" in s.input && s.input.task ? ` of task "${s.input.task}"` : ""} is not supported (only EMBEDDINGS and RANDOM)`);
    }
  });
}

export function sampleSequences(ctx: RunContext, data: RunData, emb: RunEmbeddings): RunSelection {
  const wc = ctx.config.worker_config;
  const n = wc.selected_sequence_length;
  const videos = data.videos;
  const rows = emb.filenames.map((f) => videos?.frameOf(f));
  const frames = rows.filter((r) => r !== undefined).length;
  const seqs = frameSequences(rows, n);
  if (!seqs.length) {
    throw new WinnowError("invalid_input", `input ${ctx.input}: no video has ${n} consecutive usable frames (worker_config.selected_sequence_length ${n}; ${frames} usable frame(s))`, { where: ctx.input });
  }
  const count = sequenceCount(ctx.config.selection_config, n, frames);
  const cfg = { ...ctx.config.selection_config, n_samples: count, proportion_samples: undefined };
  const names = seqs.map((s) => emb.filenames[s[0]!]!);
  const sel = selectStep(cfg, names, sequenceEmbeddings(emb.values, emb.d, seqs), emb.d, { normalize: wc.normalize_embeddings, datapool: [], device: ctx.device === undefined ? undefined : ctx.device.startsWith("cuda") ? "cuda" : "cpu" });
  const picked = sel.selected.flatMap((s) => seqs[s]!);
  const skipped = emb.filenames.length - frames;
  ctx.log(`selected ${sel.selected.length} sequence(s) of ${n} frames = ${picked.length} frame(s) out of ${seqs.length} sequence(s) (stopped by: ${sel.stoppedBy})` +
    `${skipped ? `; ${skipped} image(s) are not in any sequence` : ""}`);
  return { picked, stoppedBy: sel.stoppedBy, datapool: [], pickedCrops: null, cropOf: null, pickedImages: picked.map((i) => emb.filenames[i]!) };
}
