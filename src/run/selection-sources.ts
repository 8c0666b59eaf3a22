// What a selection reads besides the embeddings, checked at INITIALIZING (before the images are
// decoded or a model trained) and loaded at SAMPLING:
// - METADATA inputs: Lightly's .lightly/metadata (schema.json must exist and name the key) or the
//   worker-computed `lightly.*` values;
// - SIMILARITY's tag_name: a tag given by the caller (the service's tags of the dataset), or the id
//   of an earlier COMPLETED local run of the same input (a run's selection is a tag named after it);
// - SCORES / PREDICTIONS tasks: listed in tasks.json, with a readable <task>/schema.json.
// Every error starts with the config path (selection_config.strategies[i].input.…).
import * as fs from "node:fs";
import * as path from "node:path";
import type { SelectionConfig } from "../config/selection-config.js";
import { LIGHTLY_METADATA_KEYS } from "../config/selection-config.js";
import { metadataDirOf, readMetadataSchema, findMetadataEntry, readMetadataValues, type MetadataEntry, type MetadataIssue } from "../predictions/metadata.js";
import { listPredictionTasks, readTaskSchema } from "../predictions/read.js";
import { parseCropName } from "../predictions/values.js";
import { computeLightlyMetadata, type LightlyMetadataKey } from "./lightly-metadata.js";
import type { RunVideos } from "./videos.js";
import { listRunRecords } from "./store.js";
import { resolvePolicyPath, type RunPolicy } from "./policy.js";
import { readRegularText } from "../util/regular-file.js";
import { WinnowError } from "../util/errors.js";

export class SelectionSourceError extends WinnowError {
  constructor(readonly path: string, message: string) {
    super("invalid_input", `${path}: ${message}`, { where: path });
  }
}

export interface SelectionSources {
  /** Folder of Lightly's custom metadata (null when no custom key is used). */
  metadataDir: string | null;
  /** Custom key → its schema entry. */
  custom: Map<string, MetadataEntry>;
  lightlyKeys: LightlyMetadataKey[];
  /** Tags named by SIMILARITY inputs → their filenames. */
  tags: Record<string, string[]>;
}

/** <lightlyPath>/.lightly/metadata, or lightlyPath itself when it holds schema.json; default <input>/.lightly/metadata. */
export function metadataDirFor(input: string, lightlyPath?: string | null): string {
  if (!lightlyPath) return metadataDirOf(input);
  const p = path.resolve(lightlyPath);
  return fs.existsSync(path.join(p, "schema.json")) ? p : metadataDirOf(p);
}

/** The selection of an earlier COMPLETED local run of `input`, by run id (null when there is none). */
function localRunTag(input: string, name: string): string[] | null {
  const r = listRunRecords().find((x) => x.id === name && x.state === "COMPLETED" && x.input === input);
  if (!r) return null;
  const f = path.join(r.output, "filenames", "selected_filenames.txt");
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean) : null;
}

/**
 * Checks everything the selection reads from disk or by name; throws SelectionSourceError naming the
 * config path. `predictionsDir` is where tasks are read (null: the run reads no predictions).
 */
export function checkSelectionSources(
  sc: SelectionConfig,
  o: {
    input: string; lightlyPath?: string | null; predictionsDir: string | null; tags?: Record<string, string[]>;
    /** Earlier local runs' ids are tags (`winnow run`); the service passes its dataset's tags instead. */
    localRuns?: boolean;
    /** Check metadata and prediction files (false where the input is not on this machine: S3). */
    files?: boolean;
  },
): SelectionSources {
  const localRuns = o.localRuns ?? true;
  const files = o.files ?? true;
  const out: SelectionSources = { metadataDir: null, custom: new Map(), lightlyKeys: [], tags: {} };
  let schema: MetadataEntry[] | null = null;
  let tasks: string[] | null = null;
  const checkedTasks = new Set<string>();
  sc.strategies.forEach(({ input }, i) => {
    const at = `selection_config.strategies[${i}].input`;
    if (input.type === "METADATA") {
      if (!files) return;
      if ((LIGHTLY_METADATA_KEYS as readonly string[]).includes(input.key)) {
        if (!out.lightlyKeys.includes(input.key as LightlyMetadataKey)) out.lightlyKeys.push(input.key as LightlyMetadataKey);
        return;
      }
      out.metadataDir ??= metadataDirFor(o.input, o.lightlyPath);
      try {
        schema ??= readMetadataSchema(out.metadataDir);
      } catch (e) {
        throw new SelectionSourceError(`${at}.key`, `metadata "${input.key}" needs Lightly's metadata folder: ${(e as Error).message}`);
      }
      const entry = findMetadataEntry(schema, input.key);
      if (!entry) throw new SelectionSourceError(`${at}.key`, `no entry with path or name "${input.key}" in ${path.join(out.metadataDir, "schema.json")} (paths there: ${schema.map((e) => e.path).join(", ") || "none"}; worker-computed: ${LIGHTLY_METADATA_KEYS.join(", ")})`);
      out.custom.set(input.key, entry);
    } else if (input.type === "EMBEDDINGS" && input.tag_name !== undefined) {
      const name = input.tag_name;
      const found = o.tags?.[name] ?? (localRuns ? localRunTag(o.input, name) : null);
      if (!found) {
        const known = [...Object.keys(o.tags ?? {}), ...(localRuns ? listRunRecords().filter((r) => r.state === "COMPLETED" && r.input === o.input).map((r) => r.id) : [])];
        throw new SelectionSourceError(`${at}.tag_name`, `no tag "${name}" for this input (tags: ${known.slice(0, 10).join(", ") || "none"}; a COMPLETED run's selection is a tag named after its run id)`);
      }
      out.tags[name] = found;
    } else if ((input.type === "SCORES" || input.type === "PREDICTIONS") && files && o.predictionsDir && !checkedTasks.has(input.task)) {
      const dir = o.predictionsDir;
      try {
        tasks ??= listPredictionTasks(dir);
      } catch (e) {
        throw new SelectionSourceError(`${at}.task`, `task "${input.task}" needs predictions: ${fs.existsSync(path.join(dir, "tasks.json")) ? (e as Error).message : `${path.join(dir, "tasks.json")} does not exist (expected Lightly's layout .lightly/predictions/tasks.json; give another folder with --lightly-path)`}`);
      }
      if (!tasks.includes(input.task)) throw new SelectionSourceError(`${at}.task`, `task "${input.task}" is not in ${path.join(dir, "tasks.json")} (tasks there: ${tasks.join(", ") || "none"})`);
      try {
        readTaskSchema(dir, input.task);
      } catch (e) {
        throw new SelectionSourceError(`${at}.task`, `task "${input.task}": ${(e as Error).message}`);
      }
      checkedTasks.add(input.task);
    }
  });
  return out;
}

/**
 * The metadata values of every key the selection uses, for `items` (images, or crops named
 * <image>#<i>, which take their image's values), with the custom files' problems. `videos`: the
 * run's videos, whose frames are items too (Lightly's metadata layout for frames; `lightly.*` values
 * from the decoded frame).
 */
export async function loadSelectionMetadata(src: SelectionSources, input: string, items: readonly string[], videos?: RunVideos | null): Promise<{ metadata: Record<string, (number | string | null)[]>; issues: MetadataIssue[] }> {
  const images = items.map((f) => parseCropName(f)?.image ?? f);
  const unique = [...new Set(images)];
  const row = new Map(unique.map((f, k) => [f, k]));
  const metadata: Record<string, (number | string | null)[]> = {};
  let issues: MetadataIssue[] = [];
  if (src.custom.size) {
    const keys = [...src.custom.keys()];
    const r = readMetadataValues(src.metadataDir!, keys.map((k) => src.custom.get(k)!), unique, (f) => videos?.frameOf(f)?.video);
    keys.forEach((k, m) => (metadata[k] = images.map((f) => r.values[m][row.get(f)!])));
    issues = r.issues;
  }
  if (src.lightlyKeys.length) {
    const v = await computeLightlyMetadata(input, unique, src.lightlyKeys, videos);
    for (const k of src.lightlyKeys) metadata[k] = images.map((f) => v[k][row.get(f)!]);
  }
  return { metadata, issues };
}

/**
 * worker_config.relevant_filenames_file: the filenames (one per line, relative to the input folder)
 * the selection may pick. The path is relative to --lightly-path when given, else to the input
 * folder (Lightly: relative to the Lightly datasource); an untrusted config's path passes the policy.
 */
export function readRelevantFilenames(value: string, o: { input: string; lightlyPath?: string | null; policy?: RunPolicy }): string[] | null {
  if (!value) return null;
  const field = "worker_config.relevant_filenames_file";
  const base = o.lightlyPath ? path.resolve(o.lightlyPath) : o.input;
  const file = o.policy ? resolvePolicyPath(value, field, o.policy, base) : path.resolve(base, value);
  let text: string;
  try {
    text = readRegularText(file, field);
  } catch (e) {
    throw new SelectionSourceError(field, `${(e as Error).message.replace(`${field}: `, "")}; expected a text file with one filename per line`);
  }
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/^\.\//, ""));
  if (!names.length) throw new SelectionSourceError(field, `${file} lists no filename`);
  return names;
}
