// Lightly's predictions layout (docs.lightly.ai "Prediction Format"), read from
// <input>/.lightly/predictions/ (or a given folder):
//   tasks.json                       ["task_a", "task_b"]
//   <task>/schema.json               {"task_type": "object-detection", "categories": [{"id": 0, "name": "cat"}, …]}
//   <task>/<image path without extension>.json
//                                    {"file_name": "sub/img.png", "predictions": [{"category_id": 0,
//                                     "bbox": [x, y, w, h] (pixels, top-left origin), "score": 0.9,
//                                     "probabilities": [...]?}, …]}
// Problems are reported per file and never stop the run: a malformed file (bad JSON, no
// `predictions` list) is skipped whole; a prediction with an unknown category or a bad box is
// skipped alone. Boxes that do not overlap the image are found when crops are cut (the image size
// is known then) and reported by the crop cache as `bad_box`.
import * as fs from "node:fs";
import * as path from "node:path";
import { readRegularText } from "../util/regular-file.js";

export type PredictionIssueCode = "malformed" | "unknown_category" | "bad_box" | "bad_score" | "bad_probabilities" | "file_name_mismatch";

export interface PredictionIssue {
  /** The prediction file, relative to the task folder (e.g. "sub/img.json"). */
  file: string;
  code: PredictionIssueCode;
  message: string;
  /** Index of the prediction in the file's list, when the issue is about one prediction. */
  prediction?: number;
}

export interface Category {
  id: number;
  name: string;
}

export interface TaskSchema {
  taskType: string;
  categories: Category[];
}

export interface Prediction {
  /** Position in the file's `predictions` list (crops are named `<image>#<index>`). */
  index: number;
  /** The schema's category id. */
  categoryId: number;
  /** Position of the category in schema.categories (what selection counts with). */
  categoryIndex: number;
  /** [x, y, w, h] in pixels, top-left origin; null for tasks without boxes (classification). */
  bbox: [number, number, number, number] | null;
  score: number | null;
  probabilities: number[] | null;
}

export interface TaskPredictions {
  task: string;
  dir: string;
  schema: TaskSchema;
  /** Image filename (as listed) → its valid predictions. Images whose file is missing or malformed are absent. */
  images: Map<string, Prediction[]>;
  /** Images that have no prediction file. */
  missing: string[];
  issues: PredictionIssue[];
}

export const OBJECT_DETECTION = "object-detection";

/** <input>/.lightly/predictions */
export function predictionsDirOf(inputDir: string): string {
  return path.join(inputDir, ".lightly", "predictions");
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    // A regular file only, opened without blocking: a FIFO named like a prediction file cannot hang the run.
    text = readRegularText(file, what);
  } catch (e) {
    throw new Error(`${what} ${file} cannot be read (${(e as Error).message.replace(`${what}: ${file} `, "")})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8's message quotes the text around the error: give the position only.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new Error(`${what} ${file} is not valid JSON${at ? ` (error at character ${at})` : ""}`);
  }
}

/** A task's folder; a task name is a path below the predictions folder and may not leave it. */
function taskDir(predictionsDir: string, task: string): string {
  if (task.startsWith("/") || task.includes("\\") || task.includes("\0") || task.split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
    throw new Error(`task ${JSON.stringify(task)}: a task name may not be absolute or contain empty, "." or ".." path segments`);
  }
  return path.join(predictionsDir, task);
}

/** tasks.json: the task names (a list of strings). */
export function listPredictionTasks(predictionsDir: string): string[] {
  const file = path.join(predictionsDir, "tasks.json");
  const v = readJson(file, "predictions tasks file");
  if (!Array.isArray(v) || !v.every((t) => typeof t === "string" && t !== "")) {
    throw new Error(`${file}: expected a JSON list of task names (e.g. ["my_detection_task"]), got ${JSON.stringify(v).slice(0, 100)}`);
  }
  return v as string[];
}

/** <task>/schema.json. A broken schema is fatal for the task (nothing can be interpreted without it). */
export function readTaskSchema(predictionsDir: string, task: string): TaskSchema {
  const file = path.join(taskDir(predictionsDir, task), "schema.json");
  const v = readJson(file, `schema of task "${task}"`) as { task_type?: unknown; categories?: unknown };
  if (!v || typeof v !== "object" || typeof v.task_type !== "string") throw new Error(`${file}: "task_type" must be a string such as "object-detection", got ${JSON.stringify(v?.task_type)}`);
  if (!Array.isArray(v.categories) || v.categories.length === 0) throw new Error(`${file}: "categories" must be a non-empty list of {"id": int, "name": string}`);
  const seen = new Set<number>();
  const categories = v.categories.map((c: { id?: unknown; name?: unknown }, i: number) => {
    if (!c || !Number.isInteger(c.id) || typeof c.name !== "string") throw new Error(`${file}: categories[${i}] must be {"id": int, "name": string}, got ${JSON.stringify(c)}`);
    if (seen.has(c.id as number)) throw new Error(`${file}: categories[${i}]: id ${c.id} appears twice`);
    seen.add(c.id as number);
    return { id: c.id as number, name: c.name };
  });
  return { taskType: v.task_type, categories };
}

/** The prediction file of an image: the image's relative path with its extension replaced by .json. */
export function predictionFileOf(image: string): string {
  const ext = path.posix.extname(image);
  return `${ext ? image.slice(0, -ext.length) : image}.json`;
}

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** Reads one task's predictions for `images` (relative filenames, as the folder listing gives them). */
export function readTaskPredictions(predictionsDir: string, task: string, images: readonly string[]): TaskPredictions {
  const dir = taskDir(predictionsDir, task);
  const schema = readTaskSchema(predictionsDir, task);
  const catIndex = new Map(schema.categories.map((c, k) => [c.id, k]));
  const boxes = schema.taskType === OBJECT_DETECTION;
  const out: TaskPredictions = { task, dir, schema, images: new Map(), missing: [], issues: [] };
  for (const image of images) {
    const rel = predictionFileOf(image);
    const file = path.join(dir, ...rel.split("/"));
    if (!fs.existsSync(file)) {
      out.missing.push(image);
      continue;
    }
    const issue = (code: PredictionIssueCode, message: string, prediction?: number): void => {
      out.issues.push({ file: rel, code, message: `${task}/${rel}${prediction === undefined ? "" : ` predictions[${prediction}]`}: ${message}`, ...(prediction === undefined ? {} : { prediction }) });
    };
    let doc: { file_name?: unknown; predictions?: unknown };
    try {
      doc = readJson(file, "prediction file") as typeof doc;
    } catch (e) {
      issue("malformed", `${(e as Error).message.replace(`prediction file ${file} `, "")}; file skipped`);
      continue;
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc) || !Array.isArray(doc.predictions)) {
      issue("malformed", `expected {"file_name": ..., "predictions": [...]}, got ${JSON.stringify(doc).slice(0, 80)}; file skipped`);
      continue;
    }
    if (doc.file_name !== undefined && doc.file_name !== image) issue("file_name_mismatch", `file_name is ${JSON.stringify(doc.file_name)}, the image is ${JSON.stringify(image)} (kept: the file's location decides)`);
    const preds: Prediction[] = [];
    doc.predictions.forEach((p: { category_id?: unknown; bbox?: unknown; score?: unknown; probabilities?: unknown }, index: number) => {
      if (!p || typeof p !== "object") return issue("malformed", `expected an object, got ${JSON.stringify(p)}; skipped`, index);
      const k = Number.isInteger(p.category_id) ? catIndex.get(p.category_id as number) : undefined;
      if (k === undefined) return issue("unknown_category", `category_id ${JSON.stringify(p.category_id)} is not in schema.json (ids: ${schema.categories.map((c) => c.id).join(", ")}); skipped`, index);
      let bbox: Prediction["bbox"] = null;
      if (boxes) {
        const b = p.bbox;
        if (!Array.isArray(b) || b.length !== 4 || !b.every(finite) || !(b[2] > 0 && b[3] > 0)) {
          return issue("bad_box", `bbox must be [x, y, w, h] in pixels with w > 0 and h > 0, got ${JSON.stringify(b)}; skipped`, index);
        }
        bbox = [b[0], b[1], b[2], b[3]];
      }
      let score: number | null = null;
      if (p.score !== undefined && p.score !== null) {
        if (!finite(p.score) || p.score < 0 || p.score > 1) return issue("bad_score", `score must be a number in [0, 1], got ${JSON.stringify(p.score)}; skipped`, index);
        score = p.score;
      }
      let probabilities: number[] | null = null;
      if (p.probabilities !== undefined && p.probabilities !== null) {
        const q = p.probabilities;
        if (!Array.isArray(q) || q.length !== schema.categories.length || !q.every((x) => finite(x) && x >= 0 && x <= 1)) {
          return issue("bad_probabilities", `probabilities must list ${schema.categories.length} numbers in [0, 1] (one per category), got ${JSON.stringify(q).slice(0, 80)}; skipped`, index);
        }
        probabilities = q as number[];
      }
      preds.push({ index, categoryId: p.category_id as number, categoryIndex: k, bbox, score, probabilities });
    });
    out.images.set(image, preds);
  }
  return out;
}
