// A run that reuses an earlier run's checkpoint (checkpoint_run_id) and names no model takes that
// run's lightly_config.model: the default (resnet-18 at full width) would not fit a checkpoint
// trained with another model, and the user asked for "that run's model", not for a new one.
import * as fs from "node:fs";
import * as path from "node:path";
import type { RunOverrides } from "../config/run-config.js";
import { readRunRecord } from "./store.js";

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Returns `raw` with the source run's model filled in where it names none, and a line saying so;
 * unchanged (and no line) when there is no local source run, it names a model, or the source's
 * config cannot be read (the checkpoint check then reports any mismatch).
 */
export function withSourceModel(raw: unknown, overrides: RunOverrides = {}): { raw: unknown; line: string | null } {
  if (!isMap(raw ?? {})) return { raw, line: null };
  const top = (raw ?? {}) as Record<string, unknown>;
  const wc = isMap(top.worker_config) ? top.worker_config : {};
  const lc = isMap(top.lightly_config) ? top.lightly_config : {};
  const id = overrides.checkpointRunId ?? (overrides.checkpoint === undefined && typeof wc.checkpoint_run_id === "string" ? wc.checkpoint_run_id : "");
  if (!id || lc.model !== undefined) return { raw, line: null };
  let model: unknown;
  try {
    const rec = readRunRecord(id);
    model = (JSON.parse(fs.readFileSync(path.join(rec.output, "config", "lightly_config.json"), "utf8")) as { model?: unknown }).model;
  } catch {
    return { raw, line: null };
  }
  if (!isMap(model)) return { raw, line: null };
  const next = { ...top, lightly_config: { ...lc, model } };
  return { raw: next, line: `lightly_config.model taken from run ${id} (its checkpoint's model; the config names none): ${JSON.stringify(model)}` };
}
