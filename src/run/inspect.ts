// A checkpoint's summary for `winnow checkpoint inspect`: the model settings it fits (inferred from
// shapes), the projection head variant, its keys grouped by module, and Winnow's training state.
import * as fs from "node:fs";
import { readTrainingCheckpoint } from "../models/training-checkpoint.js";
import { normalizeLightlyKeys, detectHeadVariant, tryInferModelConfig, type ModelConfig } from "../models/index.js";

export interface CheckpointInspection {
  file: string;
  bytes: number;
  tensors: number;
  numel: number;
  groups: Array<{ prefix: string; tensors: number; numel: number }>;
  model: ModelConfig | null;
  /** The lightly_config.model block that loads it. */
  lightlyConfigModel: {
    name: string; width: number; num_ftrs: number; out_dim: number;
    projection_head_batch_norm: boolean; input_batch_norm: boolean; feature_conv: boolean;
  } | null;
  modelError: string | null;
  headVariant: "batchNorm" | "plain" | null;
  topLevelKeys: string[];
  training: { epochsCompleted: number; globalStep: number; complete: boolean; numImages: number } | null;
  keys: Array<{ key: string; shape: number[]; dtype: string }>;
}

export function inspectCheckpoint(file: string): CheckpointInspection {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`${file}: no such file`);
  }
  if (!st.isFile()) throw new Error(`${file}: not a file`);
  let contents;
  try {
    contents = readTrainingCheckpoint(file);
  } catch (e) {
    throw new Error(`${file}: cannot read it as a PyTorch checkpoint: ${(e as Error).message}`);
  }
  const sd = normalizeLightlyKeys(contents.stateDict);
  const keys = [...sd].map(([key, t]) => ({ key, shape: [...t.shape], dtype: String(t.dtype) }));
  const numelOf = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  const groups = new Map<string, { tensors: number; numel: number }>();
  for (const k of keys) {
    const prefix = k.key.split(".")[0]!;
    const g = groups.get(prefix) ?? { tensors: 0, numel: 0 };
    g.tensors++;
    g.numel += numelOf(k.shape);
    groups.set(prefix, g);
  }
  const { config: model, error: modelError } = tryInferModelConfig(sd);
  const r = contents.resume;
  return {
    file, bytes: st.size, tensors: keys.length, numel: keys.reduce((a, k) => a + numelOf(k.shape), 0),
    groups: [...groups].map(([prefix, g]) => ({ prefix, ...g })),
    model, modelError,
    lightlyConfigModel: model
      ? {
        name: model.name, width: model.width, num_ftrs: model.numFtrs, out_dim: model.outDim,
        projection_head_batch_norm: model.projectionHeadBatchNorm, input_batch_norm: model.inputBatchNorm ?? true, feature_conv: model.featureConv ?? true,
      }
      : null,
    headVariant: detectHeadVariant(sd.keys()),
    topLevelKeys: [...contents.top.keys()].map(String).filter((k) => !k.startsWith("winnow_optimizer.")),
    training: r ? { epochsCompleted: r.epochsCompleted, globalStep: r.globalStep, complete: r.complete, numImages: r.numImages } : null,
    keys,
  };
}

export function formatInspection(i: CheckpointInspection, withKeys: boolean): string {
  const lines = [`${i.file} (${i.bytes.toLocaleString("en-US")} bytes)`];
  if (i.model) {
    lines.push(`architecture: SimCLR ${i.model.name}, width ${i.model.width}, num_ftrs ${i.model.numFtrs}, out_dim ${i.model.outDim}`);
    const layout = i.model.inputBatchNorm === false || i.model.featureConv === false
      ? `, input_batch_norm: ${i.model.inputBatchNorm ?? true}, feature_conv: ${i.model.featureConv ?? true} (lightly's library backbone)` : "";
    const headKey = i.model.projectionHeadBatchNorm && i.headVariant === "batchNorm" ? ", projection_head_batch_norm: true" : "";
    lines.push(`lightly_config.model: { name: "${i.model.name}", width: ${i.model.width}, num_ftrs: ${i.model.numFtrs}, out_dim: ${i.model.outDim}${headKey}${layout} }`);
  } else lines.push(`architecture: not recognised (${i.modelError})`);
  const head = i.headVariant === "batchNorm" ? "with BatchNorm (projection_head.layers.{0,1,3,4}; the lightly docs' build_model)"
    : i.headVariant === "plain" ? "plain (projection_head.layers.{0,2}; Lightly's CLI/worker)" : "none found";
  lines.push(`projection head: ${head}`);
  lines.push(`state dict: ${i.tensors} tensors, ${i.numel.toLocaleString("en-US")} values`);
  for (const g of i.groups) lines.push(`  ${g.prefix}.*: ${g.tensors} tensors, ${g.numel.toLocaleString("en-US")} values`);
  lines.push(`top-level keys: ${i.topLevelKeys.join(", ")}`);
  if (i.training) lines.push(`Winnow training state: ${i.training.epochsCompleted} epoch(s), ${i.training.globalStep} steps, ${i.training.numImages} images, ${i.training.complete ? "complete" : "interrupted (resumable)"}`);
  if (withKeys) for (const k of i.keys) lines.push(`  ${k.key} [${k.shape.join(", ")}] ${k.dtype}`);
  return `${lines.join("\n")}\n`;
}
