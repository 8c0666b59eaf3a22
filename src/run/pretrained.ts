// lightly_config.pre_trained: the last source of a run's starting weights. When no checkpoint,
// checkpoint_run_id or datapool checkpoint applies, the run starts from Lightly's zoo checkpoint
// for its model (src/models/zoo.ts), found or downloaded at INITIALIZING, before any image is
// decoded, so an offline machine fails at once with what to do. A model with no zoo entry starts
// from random weights with a warning (Lightly's behaviour). The provenance goes into run.json.
import * as fs from "node:fs";
import * as path from "node:path";
import type { LightlyConfig } from "../config/lightly-config.js";
import { modelSettingsOf } from "../config/lightly-config.js";
import { startingCheckpoint } from "../models/start-weights.js";
import { zooEntry, zooKey, zooKeys } from "../models/zoo.js";
import { resolveWeightsFile } from "../models/weights/resolve.js";
import type { ResolvedCheckpoint } from "./checkpoint-source.js";

/** Where a run's starting weights came from (run.json `startingWeights`, the report, `winnow runs`). */
export interface StartingWeights {
  kind: "zoo" | "backbone" | "checkpoint" | "url" | "run" | "datapool" | "resume" | "random" | "custom-embeddings";
  /** A pretrained backbone's name (kind "backbone": its publisher's file, e.g. torchvision/resnet50). */
  backbone?: string;
  /** Zoo key (kind "zoo"; also set on "random" when the zoo had no entry for it). */
  zooKey?: string;
  /** sha256 of the zoo file. */
  sha256?: string;
  /** Where the zoo/publisher file was found: "winnow-cache", "torch-hub" or "download". */
  foundIn?: string;
  /** The file the weights were read from (zoo file, checkpoint path, the run's checkpoint). */
  path?: string;
  /** The URL (redacted) a checkpoint was downloaded from. */
  url?: string;
  /** Run id (kind "run", "datapool", "resume"). */
  runId?: string;
  /** Why the weights are not what the config asked for (no zoo entry). */
  warning?: string;
}

/** The provenance of a non-zoo checkpoint source (origin as resolveCheckpoint gives it). */
export function provenanceOf(ckpt: ResolvedCheckpoint): StartingWeights {
  if (ckpt.origin === "path") return { kind: "checkpoint", path: ckpt.path };
  if (ckpt.origin === "url") return { kind: "url", url: ckpt.given, path: ckpt.path };
  const [kind, id] = ckpt.origin.split(":", 2) as [string, string];
  if (kind === "run" || kind === "datapool") return { kind, runId: id, path: ckpt.path };
  return { kind: "checkpoint", path: ckpt.path };
}

export interface ZooStart {
  ckpt: ResolvedCheckpoint | null;
  weights: StartingWeights;
  /** Lines for the run's notes (no zoo entry; the zoo file's head replaced). */
  notes: string[];
}

/** The zoo checkpoint for `lc.model` (found or downloaded), or random weights with a warning. */
export async function zooStart(
  lc: LightlyConfig,
  ckptDir: string,
  opts: { log?: (m: string) => void; signal?: AbortSignal; onProgress?: (bytes: number, total: number) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<ZooStart> {
  const env = opts.env ?? process.env;
  const key = zooKey(lc.model);
  const entry = zooEntry(key, env);
  if (!entry) {
    const warning = `lightly_config.pre_trained is true but Lightly's model zoo has no checkpoint for ${key} ` +
      `(it has ${zooKeys(env).join(", ")}): the model starts from RANDOM weights, as in Lightly. ` +
      "Choose a zoo model, pass a checkpoint, or set pre_trained: false to silence this.";
    return { ckpt: null, weights: { kind: "random", zooKey: key, warning }, notes: [warning] };
  }
  const found = await resolveWeightsFile(entry, {
    log: opts.log, signal: opts.signal, onProgress: opts.onProgress, env,
    hint: "or set lightly_config.pre_trained: false to run without it (random initial weights)",
  });
  fs.mkdirSync(ckptDir, { recursive: true });
  const out = path.join(ckptDir, `pretrained-${path.basename(entry.fileName, path.extname(entry.fileName))}.ckpt`);
  const start = startingCheckpoint(found.path, modelSettingsOf(lc), lc.seed, out);
  opts.log?.(`pretrained: Lightly's zoo ${key} (${found.path}, sha256 ${found.sha256})`);
  return {
    ckpt: { path: start.path, origin: `zoo:${key}`, given: key },
    weights: { kind: "zoo", zooKey: key, sha256: found.sha256, foundIn: found.source, path: found.path, ...(found.url ? { url: found.url } : {}) },
    notes: start.note ? [start.note] : [],
  };
}
