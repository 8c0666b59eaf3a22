// Object crops in `winnow run` (plan: src/config/object-level.ts): where the predictions are, the
// crop caches of the tasks the run needs, the selection values of SCORES/PREDICTIONS inputs, and the
// crop outputs (selected crops, prediction problems).
//
// Predictions live where Lightly keeps them, in the `.lightly/predictions/` folder of the Lightly
// datasource. By default that is the input folder itself (Input and Lightly datasource on one path);
// `lightlyPath` (CLI --lightly-path) names another folder holding `.lightly/`, or the predictions
// folder itself (the one with tasks.json).
import * as fs from "node:fs";
import * as path from "node:path";
import type { ImageCache } from "../data/index.js";
import type { SelectionItems } from "../select/index.js";
import { prepareCrops, type PrepareImagesOptions } from "../pipeline/index.js";
import {
  predictionsDirOf, listPredictionTasks, readTaskPredictions, imageSelectionValues, cropSelectionValues, parseCropName, predictionFileOf,
  type TaskPredictions, type CropInfo, type PredictionIssue,
} from "../predictions/index.js";
import { csvField } from "../pipeline/index.js";
import { jsonText, linesText } from "./files.js";
import { runPaths, type RunPaths } from "./paths.js";
import { writeFileAtomic } from "../util/atomic.js";

/** The predictions folder (the one holding tasks.json). */
export function predictionsDirFor(input: string, lightlyPath?: string | null): string {
  if (!lightlyPath) return predictionsDirOf(input);
  const p = path.resolve(lightlyPath);
  const nested = predictionsDirOf(p);
  if (fs.existsSync(nested)) return nested;
  if (fs.existsSync(path.join(p, "tasks.json"))) return p;
  return nested; // reported as missing when a task is read
}

/** Checks that the predictions folder lists `tasks` (tasks.json), with an error naming what is there. */
export function checkTasksListed(dir: string, tasks: readonly string[], why: (task: string) => string): void {
  if (!fs.existsSync(path.join(dir, "tasks.json"))) {
    throw new Error(`${why(tasks[0]!)} needs predictions, but ${path.join(dir, "tasks.json")} does not exist (expected Lightly's layout: .lightly/predictions/tasks.json, <task>/schema.json, <task>/<image>.json; give another folder with --lightly-path)`);
  }
  const listed = listPredictionTasks(dir);
  for (const t of tasks) {
    if (!listed.includes(t)) throw new Error(`${why(t)}: task ${JSON.stringify(t)} is not in ${path.join(dir, "tasks.json")} (tasks there: ${listed.map((x) => JSON.stringify(x)).join(", ") || "none"})`);
  }
}

/** Prediction problems of one task, as written to data/prediction_issues.json and shown in the report. */
export interface TaskIssues {
  task: string;
  /** Images with a prediction file that was read (malformed files excluded). */
  predictionFiles: number;
  /** Usable images with no prediction file. */
  missing: number;
  /** The first MISSING_EXAMPLES of them, by name (a frame's file named otherwise than Lightly names it shows here). */
  missingExamples: string[];
  /** Per file / per prediction (malformed file, unknown category, bad box, …). */
  issues: PredictionIssue[];
  /** Crops that could not be cut (box outside its image, image unreadable). */
  skippedCrops: Array<{ crop: string; code: string; reason: string }>;
}

/**
 * Reads the tasks the run needs, once each: crop caches for the crop tasks (selection and/or
 * training), predictions per image for the others.
 */
export class RunPredictions {
  readonly crops = new Map<string, ImageCache>();
  readonly tasks = new Map<string, TaskPredictions>();

  constructor(readonly dir: string, private readonly padding: number) {}

  /** The crop cache of `task` (built or reused). */
  async cropCache(input: string, task: string, opts: PrepareImagesOptions): Promise<ImageCache> {
    const have = this.crops.get(task);
    if (have) return have;
    const { cache, predictions } = await prepareCrops(input, { ...opts, task, predictionsDir: this.dir, padding: this.padding });
    this.crops.set(task, cache);
    this.tasks.set(task, predictions);
    return cache;
  }

  /** `task`'s predictions for the usable images (read once). */
  imagePredictions(task: string, images: readonly string[], log?: (m: string) => void): TaskPredictions {
    let tp = this.tasks.get(task);
    if (!tp) {
      tp = readTaskPredictions(this.dir, task, images);
      for (const i of tp.issues) log?.(`  predictions: ${i.message}`);
      this.tasks.set(task, tp);
    }
    return tp;
  }

  /** SelectionItems.scores/.predictions for `tasks`, per crop of `cropTask` or per image. */
  selectionValues(tasks: readonly string[], filenames: readonly string[], cropTask: string | null, log?: (m: string) => void): Pick<SelectionItems, "scores" | "predictions"> & { crops: CropInfo[] | null } {
    const out: Required<Pick<SelectionItems, "scores" | "predictions">> = { scores: {}, predictions: {} };
    let crops: CropInfo[] | null = null;
    if (cropTask) {
      const v = cropSelectionValues(this.tasks.get(cropTask)!, filenames);
      Object.assign(out.scores, v.scores);
      Object.assign(out.predictions, v.predictions);
      crops = v.crops;
    }
    for (const t of tasks) {
      if (t === cropTask) continue;
      const v = imageSelectionValues(this.imagePredictions(t, filenames, log), filenames);
      Object.assign(out.scores, v.scores);
      Object.assign(out.predictions, v.predictions);
    }
    return { ...out, crops };
  }

  /** Leaves the crops cut from `images` out of every crop cache (a view replaces it); false when none was cut from them. */
  dropCropsOf(images: ReadonlySet<string>): boolean {
    let dropped = false;
    for (const [task, c] of this.crops) {
      const names = c.filenames.filter((f) => images.has(parseCropName(f)?.image ?? ""));
      if (!names.length) continue;
      this.crops.set(task, c.without(names));
      c.close();
      dropped = true;
    }
    return dropped;
  }

  /** Every task's problems. Missing files are counted against `images` (usable images). */
  issues(images: readonly string[]): TaskIssues[] {
    const usable = new Set(images);
    return [...this.tasks.values()].map((tp) => ({
      task: tp.task,
      predictionFiles: tp.images.size,
      ...missingOf(tp.missing.filter((f) => usable.has(f))),
      issues: tp.issues,
      skippedCrops: (this.crops.get(tp.task)?.corruptFilenames ?? []).map((c) => ({ crop: c.filename, code: c.code, reason: c.reason })),
    }));
  }

  close(): void {
    for (const c of this.crops.values()) c.close();
    this.crops.clear();
  }
}

/** Images without a prediction file named in prediction_issues.json (the count has them all). */
export const MISSING_EXAMPLES = 20;

const missingOf = (names: string[]): Pick<TaskIssues, "missing" | "missingExamples"> => ({ missing: names.length, missingExamples: names.slice(0, MISSING_EXAMPLES) });

/** Files skipped whole (malformed), as <task>/<file>. */
export function malformedFiles(issues: readonly TaskIssues[]): string[] {
  return issues.flatMap((t) => t.issues.filter((i) => i.code === "malformed" && i.prediction === undefined).map((i) => `${t.task}/${i.file}`));
}

/** data/prediction_issues.json and filenames/malformed_prediction_files.txt. */
export function writePredictionIssues(paths: Pick<RunPaths, "predictionIssues" | "malformedPredictionFiles">, dir: string, issues: readonly TaskIssues[]): void {
  const doc = {
    predictions_dir: dir,
    tasks: Object.fromEntries(issues.map((t) => [t.task, {
      prediction_files: t.predictionFiles, images_without_predictions: t.missing,
      images_without_predictions_first: t.missingExamples.map((f) => ({ image: f, expected_file: `${t.task}/${predictionFileOf(f)}` })),
      issues: t.issues.map((i) => ({ file: i.file, code: i.code, ...(i.prediction === undefined ? {} : { prediction: i.prediction }), message: i.message })),
      skipped_crops: t.skippedCrops,
    }])),
  };
  writeFileAtomic(paths.predictionIssues, jsonText(doc), { mkdir: true });
  writeFileAtomic(paths.malformedPredictionFiles, linesText(malformedFiles(issues)), { mkdir: true });
}

/** The images that hold `crops`, each once, in the order of their first crop. */
export function imagesOfCrops(crops: readonly CropInfo[]): string[] {
  return [...new Set(crops.map((c) => c.image))];
}

export const SELECTED_CROPS_CSV_HEADER = "crop,filename,prediction_index,bbox_x,bbox_y,bbox_w,bbox_h,category,score";

/** data/selected_crops.csv and .json: the selected crops in pick order (box = the prediction's [x, y, w, h]). */
export function writeSelectedCrops(output: string, task: string, padding: number, crops: readonly CropInfo[], name = "selected_crops"): void {
  const rows = crops.map((c) => [csvField(c.filename), csvField(c.image), c.index, ...c.bbox, csvField(c.category), c.score ?? ""].join(","));
  writeFileAtomic(path.join(output, "data", `${name}.csv`), `${SELECTED_CROPS_CSV_HEADER}\n${rows.map((r) => `${r}\n`).join("")}`, { mkdir: true });
  const doc = { task, padding, crops: crops.map((c) => ({ crop: c.filename, filename: c.image, prediction_index: c.index, bbox: c.bbox, category: c.category, score: c.score })) };
  writeFileAtomic(path.join(output, "data", `${name}.json`), jsonText(doc), { mkdir: true });
}

/** The crop names an earlier run selected for `task` (data/selected_crops.json); null when it selected something else. */
export function selectedCropsOf(runOutput: string, task: string): string[] | null {
  const file = runPaths(runOutput).selectedCrops.replace(/\.csv$/, ".json");
  if (!fs.existsSync(file)) return null;
  const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { task?: string; crops?: Array<{ crop: string }> };
  return doc.task === task && Array.isArray(doc.crops) ? doc.crops.map((c) => c.crop) : null;
}
