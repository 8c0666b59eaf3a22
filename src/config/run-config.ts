// The run file: `worker_config`, `selection_config` and `lightly_config` exactly as a Lightly user
// passes them to schedule_compute_worker_run, in YAML or JSON. Command-line flags override keys of
// it; the result is checked section by section (all problems reported at once) and the resolved
// config — every default filled in — is what a run writes into its config/ folder.
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { parseLightlyConfig, LightlyConfigError, suggestKey, type ConfigIssue, type LightlyConfig } from "./lightly-config.js";
import { parseWorkerConfig, WorkerConfigError, type WorkerConfig } from "./worker-config.js";
import { parseSelectionConfig, type SelectionConfig } from "./selection-config.js";
import { objectLevelPlan } from "./object-level.js";
import { RunConfigError } from "./config-error.js";

export const RUN_CONFIG_SECTIONS = ["worker_config", "selection_config", "lightly_config"] as const;

export interface RunConfig {
  worker_config: WorkerConfig;
  selection_config: SelectionConfig;
  lightly_config: LightlyConfig;
}

/** What the command line (or the TypeScript API) may set on top of the file. */
export interface RunOverrides {
  /** selection_config.n_samples (drops proportion_samples). */
  nSamples?: number;
  /** worker_config.enable_training. */
  train?: boolean;
  /** lightly_config.trainer.max_epochs. */
  epochs?: number;
  /** lightly_config.loader.batch_size. */
  batchSize?: number;
  /** worker_config.checkpoint (path or URL). */
  checkpoint?: string;
  /** worker_config.checkpoint_run_id. */
  checkpointRunId?: string;
  /** "cuda" sets lightly_config.trainer.gpus = 1, "cpu" 0. */
  device?: "cpu" | "cuda";
}

export { RunConfigError };

/** The default selection when the file has none: DIVERSITY on the embeddings. */
export const DEFAULT_STRATEGIES = [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }];

/** Reads a run file: .json as JSON, anything else as YAML (a superset of JSON). */
export function readRunConfigFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new RunConfigError([{ path: "(file)", message: `cannot read ${file}: ${(e as Error).message}` }], file);
  }
  try {
    if (path.extname(file).toLowerCase() === ".json") return JSON.parse(text);
    const doc = YAML.parseDocument(text, { prettyErrors: true });
    if (doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join("; "));
    return doc.toJS();
  } catch (e) {
    throw new RunConfigError([{ path: "(file)", message: `${file} is not valid ${path.extname(file).toLowerCase() === ".json" ? "JSON" : "YAML"}: ${(e as Error).message}` }], file);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function setIn(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isMap(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/**
 * Checks a run file's object (null/undefined = all defaults) with `overrides` applied and returns
 * the resolved config. Throws RunConfigError listing every problem of every section.
 */
export function resolveRunConfig(raw: unknown, overrides: RunOverrides = {}, source: string | null = null): RunConfig {
  const input = raw === undefined || raw === null ? {} : raw;
  if (!isMap(input)) throw new RunConfigError([{ path: "(top level)", message: `expected a mapping with ${RUN_CONFIG_SECTIONS.join(", ")}, got ${Array.isArray(input) ? "a list" : typeof input}` }], source);
  const issues: ConfigIssue[] = [];
  for (const k of Object.keys(input)) {
    if (!(RUN_CONFIG_SECTIONS as readonly string[]).includes(k)) {
      const s = suggestKey(k, RUN_CONFIG_SECTIONS);
      issues.push({ path: k, message: `unknown key${s ? ` — did you mean '${s}'?` : ""} (allowed at the top level: ${RUN_CONFIG_SECTIONS.join(", ")})` });
    }
  }
  // Overrides go into a copy of the file's sections, so they are checked like the file is.
  const sec = (k: string): Record<string, unknown> => {
    const v = input[k];
    return isMap(v) ? structuredClone(v) : v === undefined || v === null ? {} : (v as Record<string, unknown>);
  };
  const wc = sec("worker_config");
  const sc = sec("selection_config");
  const lc = sec("lightly_config");
  const o = overrides;
  if (isMap(wc)) {
    if (o.train !== undefined) wc.enable_training = o.train;
    if (o.checkpoint !== undefined) {
      wc.checkpoint = o.checkpoint;
      if (o.checkpointRunId === undefined) delete wc.checkpoint_run_id;
    }
    if (o.checkpointRunId !== undefined) {
      wc.checkpoint_run_id = o.checkpointRunId;
      if (o.checkpoint === undefined) delete wc.checkpoint;
    }
  }
  if (isMap(sc)) {
    if (o.nSamples !== undefined) {
      sc.n_samples = o.nSamples;
      delete sc.proportion_samples;
    }
    if (sc.strategies === undefined) sc.strategies = structuredClone(DEFAULT_STRATEGIES);
  }
  if (isMap(lc)) {
    if (o.epochs !== undefined) setIn(lc, ["trainer", "max_epochs"], o.epochs);
    if (o.batchSize !== undefined) setIn(lc, ["loader", "batch_size"], o.batchSize);
    if (o.device !== undefined) setIn(lc, ["trainer", "gpus"], o.device === "cuda" ? 1 : 0);
  }
  let worker_config: WorkerConfig | null = null;
  let selection_config: SelectionConfig | null = null;
  let lightly_config: LightlyConfig | null = null;
  const collect = (e: unknown, section: string): void => {
    const list = (e as { issues?: unknown }).issues;
    if (Array.isArray(list) && list.every((i) => i && typeof i === "object" && "path" in i && "message" in i)) {
      for (const i of list as ConfigIssue[]) issues.push({ path: i.path.startsWith(section) ? i.path : `${section}.${i.path}`, message: i.message });
    } else if (e instanceof Error) {
      issues.push({ path: section, message: e.message });
    } else throw e;
  };
  try {
    worker_config = parseWorkerConfig(wc);
  } catch (e) {
    if (!(e instanceof WorkerConfigError)) throw e;
    collect(e, "worker_config");
  }
  try {
    selection_config = parseSelectionConfig(sc);
  } catch (e) {
    collect(e, "selection_config");
  }
  try {
    lightly_config = parseLightlyConfig(lc);
  } catch (e) {
    if (!(e instanceof LightlyConfigError)) throw e;
    collect(e, "lightly_config");
  }
  // Across sections: the prediction tasks the run reads must agree (object level, src/config/object-level.ts).
  if (worker_config && selection_config) issues.push(...objectLevelPlan(worker_config, selection_config).issues);
  if (issues.length || !worker_config || !selection_config || !lightly_config) throw new RunConfigError(issues, source);
  return { worker_config, selection_config, lightly_config };
}

/** Reads and resolves a run file (or only defaults and overrides when `file` is null). */
export function loadRunConfig(file: string | null, overrides: RunOverrides = {}): RunConfig {
  return resolveRunConfig(file ? readRunConfigFile(file) : {}, overrides, file);
}
