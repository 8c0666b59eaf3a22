// Scheduled configs are checked with the same schemas as `winnow run` (src/config), so a config the
// CLI refuses is refused here too, with the same field paths and "did you mean" hints. The server
// stores what the client sent (Lightly's keys, unchanged) and the worker resolves it again.
//
// A scheduled config is untrusted input that a worker executes, so the paths in it are judged here
// too, as far as the server can without touching files (the worker enforces the rest, see
// src/run/policy.ts): checkpoint_callback.dirpath stays inside the run folder; worker_config.embeddings
// and a path-valued worker_config.checkpoint are relative to the dataset's datasource (no `..`), or
// absolute inside it or inside a folder the operator allowed (`winnow serve --allow-root`).
import * as path from "node:path";
import { resolveRunConfig, RunConfigError } from "../config/run-config.js";
import type { ConfigIssue } from "../config/lightly-config.js";
import { runSubpathProblem } from "../run/policy.js";
import { checkSelectionSources, SelectionSourceError } from "../run/selection-sources.js";
import { predictionsDirOf } from "../predictions/read.js";

export interface ScheduledConfigInput {
  worker_config?: unknown;
  selection_config?: unknown;
  lightly_config?: unknown;
}

/** What the server knows about where a config will run. */
export interface ScheduleContext {
  /** The dataset's datasource on this server's datasource root (absolute), or null (S3, or not known yet). */
  datasourceDir?: string | null;
  /** Folders absolute config paths may name besides the datasource (`winnow serve --allow-root`). */
  allowRoots?: string[];
}

/** Null when valid, else every problem (path like `lightly_config.trainer.max_epochs`). */
export function checkScheduledConfig(c: ScheduledConfigInput, ctx: ScheduleContext = {}): ConfigIssue[] | null {
  try {
    resolveRunConfig({ worker_config: c.worker_config ?? {}, selection_config: c.selection_config ?? {}, lightly_config: c.lightly_config ?? {} });
  } catch (e) {
    if (e instanceof RunConfigError) return e.issues;
    throw e;
  }
  const issues = pathIssues(c, ctx);
  return issues.length ? issues : null;
}

const inside = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`);
const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

function pathIssues(c: ScheduledConfigInput, ctx: ScheduleContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const lc = (c.lightly_config ?? {}) as { checkpoint_callback?: { dirpath?: unknown } };
  const dirpath = lc.checkpoint_callback?.dirpath;
  if (typeof dirpath === "string") {
    const why = runSubpathProblem(dirpath);
    if (why) out.push({ path: "lightly_config.checkpoint_callback.dirpath", message: `${JSON.stringify(dirpath)} refused: ${why}` });
  }
  const wc = (c.worker_config ?? {}) as Record<string, unknown>;
  for (const key of ["embeddings", "checkpoint", "relevant_filenames_file"] as const) {
    const v = wc[key];
    if (typeof v !== "string" || !v) continue;
    const field = `worker_config.${key}`;
    if (key === "checkpoint" && isUrl(v)) {
      // Addresses are judged by the worker (it resolves the host and connects to what it checked).
      if (!/^https?:\/\//i.test(v)) out.push({ path: field, message: `${v.split("://")[0]}:// refused: only http(s) URLs are allowed` });
      continue;
    }
    if (v.includes("\0")) {
      out.push({ path: field, message: "refused: the path contains a NUL character" });
      continue;
    }
    if (v.split(/[\\/]/).includes("..")) {
      out.push({ path: field, message: `${JSON.stringify(v)} refused: ".." segments are not allowed (paths are relative to the dataset's datasource)` });
      continue;
    }
    if (!path.isAbsolute(v)) continue;
    const abs = path.resolve(v);
    const roots = [...(ctx.datasourceDir ? [ctx.datasourceDir] : []), ...(ctx.allowRoots ?? [])];
    // Before a dataset is known (POST /v1/configs) only the operator's folders can be judged.
    if (ctx.datasourceDir === undefined && !roots.some((r) => inside(abs, r))) continue;
    if (!roots.some((r) => inside(abs, r))) {
      out.push({ path: field, message: `${JSON.stringify(v)} refused: an absolute path must lie inside the dataset's datasource${ctx.allowRoots?.length ? " or a folder the server allows" : ""}; give a path relative to the datasource` });
    }
  }
  return out;
}

/** The tag names a config's SIMILARITY inputs use. */
export function configTagNames(c: ScheduledConfigInput): string[] {
  const sc = c.selection_config as { strategies?: { input?: { tag_name?: unknown } }[] } | null | undefined;
  return [...new Set((sc?.strategies ?? []).map((s) => s?.input?.tag_name).filter((t): t is string => typeof t === "string"))];
}

/**
 * What a worker would find missing at INITIALIZING, found at schedule time: tags the dataset does
 * not have, and, for a datasource on this server's disk, metadata and prediction files. Call after
 * checkScheduledConfig accepted the config. `tags`: the dataset's tags among the config's names.
 */
export function checkScheduledSources(c: ScheduledConfigInput, datasourceDir: string | null, tags: Record<string, string[]>): ConfigIssue[] | null {
  const { selection_config } = resolveRunConfig({ worker_config: c.worker_config ?? {}, selection_config: c.selection_config ?? {}, lightly_config: c.lightly_config ?? {} });
  const local = datasourceDir !== null;
  try {
    checkSelectionSources(selection_config, {
      input: datasourceDir ?? "", predictionsDir: local ? predictionsDirOf(datasourceDir) : null, tags, localRuns: false, files: local,
    });
  } catch (e) {
    if (e instanceof SelectionSourceError) return [{ path: e.path, message: e.message.slice(e.path.length + 2) }];
    throw e;
  }
  return null;
}
