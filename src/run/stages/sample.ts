// SAMPLING: selection_config over the embeddings (src/run/select-step.ts), with the prediction values,
// custom metadata, tags, relevant_filenames_file and the datapool it names. Crop selection picks crops;
// the images that hold them are the selected filenames.
import { parseCropName, type CropInfo } from "../../predictions/index.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { WinnowError } from "../../util/errors.js";
import type { RunContext } from "../context.js";
import { jsonText } from "../files.js";
import { imagesOfCrops } from "../object-level.js";
import { selectStep } from "../select-step.js";
import { sampleSequences } from "../sequence-select.js";
import { loadSelectionMetadata } from "../selection-sources.js";
import { mapMetadataOf } from "../map-metadata.js";
import { datapoolBefore } from "./datapool.js";
import type { RunEmbeddings } from "./embed.js";
import type { RunData } from "./load-dataset.js";
import type { RunInputs } from "./preflight.js";

export interface RunSelection {
  /** New picks: indices into the embeddings' rows, in pick order (never a datapool sample). */
  picked: number[];
  stoppedBy: string;
  /** The datapool before this run (item names). */
  datapool: string[];
  /** Crop selection: each pick's crop, and every crop by name; null otherwise. */
  pickedCrops: CropInfo[] | null;
  cropOf: Map<string, CropInfo> | null;
  /** The images of the picks (the picks themselves unless crops are selected). */
  pickedImages: string[];
}

export async function sample(ctx: RunContext, data: RunData, inputs: RunInputs, emb: RunEmbeddings): Promise<RunSelection> {
  const wc = ctx.config.worker_config;
  if (wc.selected_sequence_length > 1) return sampleSequences(ctx, data, emb);
  const { filenames, values, d } = emb;
  const datapool = wc.use_datapool ? datapoolBefore(ctx, inputs.datapoolRuns, new Set(filenames)) : [];
  const predValues = data.predictions ? data.predictions.selectionValues(ctx.plan.valueTasks, filenames, ctx.plan.selectTask, ctx.log) : null;
  const md = await loadSelectionMetadata(inputs.selectionSources, ctx.input, filenames, data.videos);
  if (md.issues.length) {
    writeFileAtomic(ctx.paths.metadataIssues, jsonText(md.issues), { mkdir: true });
    ctx.note(`${md.issues.length} metadata file problem(s) (data/metadata_issues.json): ${md.issues.slice(0, 3).map((x) => `${x.file} ${x.code}`).join(", ")}${md.issues.length > 3 ? ", …" : ""}`);
  }
  writeMapMetadata(ctx, filenames, md.metadata, data.videos);
  const sel = selectStep(ctx.config.selection_config, filenames, values, d, {
    normalize: wc.normalize_embeddings, datapool, device: ctx.device === undefined ? undefined : ctx.device.startsWith("cuda") ? "cuda" : "cpu", values: { ...predValues, metadata: md.metadata }, tags: inputs.selectionSources.tags,
    only: relevantItems(ctx, inputs.relevant, filenames),
  });
  const poolSet = new Set(datapool);
  const picked = sel.selected.filter((i) => !poolSet.has(filenames[i]!));
  if (picked.length !== sel.selected.length) throw new WinnowError("internal", "selection returned datapool samples as new picks (internal error)");
  const cropOf = predValues?.crops ? new Map(predValues.crops.map((c) => [c.filename, c])) : null;
  const pickedCrops = cropOf ? picked.map((i) => cropOf.get(filenames[i]!)!) : null;
  const pickedImages = pickedCrops ? imagesOfCrops(pickedCrops) : picked.map((i) => filenames[i]!);
  ctx.log(pickedCrops
    ? `selected ${picked.length} crop(s) of task "${ctx.plan.selectTask}" in ${pickedImages.length} image(s) (stopped by: ${sel.stoppedBy})`
    : `selected ${picked.length} sample(s) (stopped by: ${sel.stoppedBy})`);
  return { picked, stoppedBy: sel.stoppedBy, datapool, pickedCrops, cropOf, pickedImages };
}

/** data/map_metadata.json for the UI's map; a problem there is a note, never a failed run. */
function writeMapMetadata(ctx: RunContext, filenames: readonly string[], known: Record<string, (number | string | null)[]>, videos: RunData["videos"]): void {
  try {
    const { metadata, notes } = mapMetadataOf({ input: ctx.input, lightlyPath: ctx.options.lightlyPath, items: filenames, known, videos });
    writeFileAtomic(ctx.paths.mapMetadata, JSON.stringify(metadata), { mkdir: true });
    for (const n of notes) ctx.note(n);
  } catch (e) {
    ctx.note(`data/map_metadata.json not written: ${(e as Error).message}`);
  }
}

/** relevant_filenames_file: only items of listed images may be picked (crops by their image); undefined = all. */
function relevantItems(ctx: RunContext, relevant: string[] | null, filenames: readonly string[]): Set<string> | undefined {
  if (!relevant) return undefined;
  const imageOf = (f: string): string => parseCropName(f)?.image ?? f;
  const listed = new Set(relevant);
  const usable = new Set(filenames.map(imageOf));
  const absent = relevant.filter((f) => !usable.has(f));
  if (absent.length) ctx.note(`relevant_filenames_file: ${absent.length} listed file(s) are not usable images of the input (e.g. ${absent.slice(0, 3).join(", ")})`);
  return new Set(filenames.filter((f) => listed.has(imageOf(f))));
}
