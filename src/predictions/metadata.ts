// Lightly's custom metadata layout (docs.lightly.ai "Work with Metadata"), read from
// <lightly datasource>/.lightly/metadata/:
//   schema.json                  [{"name": "Weather", "path": "weather.description",
//                                  "defaultValue": "unknown", "valueDataType": "CATEGORICAL_STRING"}, …]
//   <image path without extension>.json
//                                {"file_name": "sub/img.png", "type": "image",
//                                 "metadata": {"weather": {"description": "sunny"}, …}}
// Video frames (Lightly's convention): a frame's file is named like the frame sample
// (`clip-007-mp4.json` for frame 7 of clip.mp4), and a file for the whole video (`clip.json`, type
// "video") holds for every frame of it that has no file of its own.
// A METADATA input's `key` names a schema entry by its `path` (or its `name`). A value is read at
// the entry's dot path inside `metadata`; an image without a file, or without the path, gets the
// entry's defaultValue (null when it has none). A malformed file or a value of the wrong type is
// reported by file name and the image gets null; it never stops the run (as with predictions).
import * as fs from "node:fs";
import * as path from "node:path";
import { readRegularText } from "../util/regular-file.js";
import { predictionFileOf } from "./read.js";

export const METADATA_TYPES = ["NUMERIC_INT", "NUMERIC_FLOAT", "CATEGORICAL_STRING", "CATEGORICAL_INT", "CATEGORICAL_BOOLEAN"] as const;
export type MetadataType = (typeof METADATA_TYPES)[number];

export interface MetadataEntry {
  name: string;
  path: string;
  defaultValue: number | string | boolean | null;
  valueDataType: MetadataType;
}

export interface MetadataIssue {
  /** The metadata file, relative to the metadata folder (e.g. "sub/img.json"). */
  file: string;
  code: "missing" | "malformed" | "bad_value";
  message: string;
}

/** <root>/.lightly/metadata */
export function metadataDirOf(root: string): string {
  return path.join(root, ".lightly", "metadata");
}

function parseJson(file: string, what: string): unknown {
  const text = readRegularText(file, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new Error(`${what} ${file} is not valid JSON${at ? ` (error at character ${at})` : ""}`);
  }
}

/** schema.json, checked entry by entry (errors name the file and the entry). */
export function readMetadataSchema(dir: string): MetadataEntry[] {
  const file = path.join(dir, "schema.json");
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist (expected Lightly's layout: .lightly/metadata/schema.json and one <image>.json per image)`);
  const v = parseJson(file, "metadata schema");
  if (!Array.isArray(v)) throw new Error(`${file}: expected a JSON list of {name, path, defaultValue, valueDataType}`);
  return v.map((e: Record<string, unknown>, i) => {
    const bad = (m: string): never => {
      throw new Error(`${file}: entry ${i}: ${m}`);
    };
    if (!e || typeof e !== "object") bad("expected {name, path, defaultValue, valueDataType}");
    if (typeof e.name !== "string" || !e.name) bad(`"name" must be a non-empty string`);
    if (typeof e.path !== "string" || !e.path) bad(`"path" must be a non-empty string such as "weather.description"`);
    if (!(METADATA_TYPES as readonly unknown[]).includes(e.valueDataType)) bad(`"valueDataType" is ${JSON.stringify(e.valueDataType)}; allowed: ${METADATA_TYPES.join(", ")}`);
    const d = e.defaultValue ?? null;
    if (d !== null && !["number", "string", "boolean"].includes(typeof d)) bad(`"defaultValue" must be a number, string or boolean`);
    return { name: e.name as string, path: e.path as string, defaultValue: d as MetadataEntry["defaultValue"], valueDataType: e.valueDataType as MetadataType };
  });
}

/** The schema entry a selection key names (its path, else its name). */
export function findMetadataEntry(schema: MetadataEntry[], key: string): MetadataEntry | undefined {
  return schema.find((e) => e.path === key) ?? schema.find((e) => e.name === key);
}

const isNumeric = (t: MetadataType): boolean => t === "NUMERIC_INT" || t === "NUMERIC_FLOAT";

/** A raw JSON value as the entry's type: numbers for NUMERIC_*, strings for CATEGORICAL_* (undefined: wrong type). */
function typed(v: unknown, t: MetadataType): number | string | undefined {
  if (isNumeric(t)) return typeof v === "number" && Number.isFinite(v) && (t !== "NUMERIC_INT" || Number.isInteger(v)) ? v : undefined;
  if (t === "CATEGORICAL_BOOLEAN") return typeof v === "boolean" ? String(v) : undefined;
  if (t === "CATEGORICAL_INT") return Number.isInteger(v) ? String(v) : undefined;
  return typeof v === "string" ? v : undefined;
}

function atPath(obj: unknown, dotted: string): unknown {
  let cur = obj;
  for (const k of dotted.split(".")) {
    if (!cur || typeof cur !== "object" || Array.isArray(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * The values of `entries` for every image (relative filenames), one array per entry, with the
 * problems found. Each file is read once whatever the number of entries. `videoOf` gives the video
 * of a frame sample (undefined for images): a frame without a file of its own takes its video's file.
 */
export function readMetadataValues(dir: string, entries: MetadataEntry[], images: readonly string[], videoOf?: (name: string) => string | undefined): { values: (number | string | null)[][]; issues: MetadataIssue[] } {
  const values = entries.map(() => new Array<number | string | null>(images.length).fill(null));
  const issues: MetadataIssue[] = [];
  const defaults = entries.map((e) => (e.defaultValue === null ? null : typed(e.defaultValue, e.valueDataType) ?? null));
  const videoDocs = new Map<string, { rel: string; doc: unknown } | { issue: MetadataIssue } | null>();
  const reported = new Set<string>();
  images.forEach((img, j) => {
    let rel = predictionFileOf(img);
    let file = path.join(dir, rel);
    let doc: unknown;
    try {
      const video = fs.existsSync(file) ? undefined : videoOf?.(img);
      const whole = video === undefined ? null : videoDocOf(dir, video, videoDocs);
      if (whole && "issue" in whole) {
        // once per video, not per frame; its frames without a file of their own get null
        if (!reported.has(video!)) issues.push({ ...whole.issue, message: `${whole.issue.message} (the file of video ${video}, for its frames without a file of their own)` });
        reported.add(video!);
        return;
      }
      if (whole) {
        ({ rel, doc } = whole);
        file = path.join(dir, rel);
      } else if (!fs.existsSync(file)) {
        issues.push({ file: rel, code: "missing", message: `no metadata file for ${img}${video === undefined ? "" : ` nor for its video ${video}`}; default values used` });
        entries.forEach((_, k) => (values[k][j] = defaults[k]));
        return;
      } else doc = parseJson(file, "metadata file");
    } catch (e) {
      issues.push({ file: rel, code: "malformed", message: (e as Error).message });
      return;
    }
    const md = doc && typeof doc === "object" ? (doc as { metadata?: unknown }).metadata : undefined;
    if (!md || typeof md !== "object" || Array.isArray(md)) {
      issues.push({ file: rel, code: "malformed", message: `${file}: expected {"file_name": …, "metadata": {…}}, no "metadata" mapping` });
      return;
    }
    entries.forEach((e, k) => {
      const raw = atPath(md, e.path);
      if (raw === undefined || raw === null) {
        values[k][j] = defaults[k];
        return;
      }
      const v = typed(raw, e.valueDataType);
      if (v === undefined) issues.push({ file: rel, code: "bad_value", message: `${file}: metadata.${e.path} is ${JSON.stringify(raw)}, not a ${e.valueDataType} value` });
      else values[k][j] = v;
    });
  });
  return { values, issues };
}

/** The metadata file of a whole video (read once per call), null when it has none. */
function videoDocOf(dir: string, video: string, seen: Map<string, { rel: string; doc: unknown } | { issue: MetadataIssue } | null>): { rel: string; doc: unknown } | { issue: MetadataIssue } | null {
  if (!seen.has(video)) {
    const rel = predictionFileOf(video);
    const file = path.join(dir, rel);
    try {
      seen.set(video, fs.existsSync(file) ? { rel, doc: parseJson(file, "metadata file") } : null);
    } catch (e) {
      seen.set(video, { issue: { file: rel, code: "malformed", message: (e as Error).message } });
    }
  }
  return seen.get(video)!;
}
