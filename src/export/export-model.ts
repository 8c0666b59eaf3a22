// `exportModel`: a trained model (in memory, or a checkpoint/safetensors file) to
//   torch        the documentation's checkpoint layout: torch.save({"state_dict": {"model.backbone.…", "model.projection_head.…"}})
//   safetensors  the same tensors with plain keys ("backbone.…", "projection_head.…") and the settings as metadata
//   onnx         the network itself (eval mode), opset 13+, dynamic batch/height/width axes
// part "backbone": what Winnow and Lightly embed with (backbone(x).flatten(1), num_ftrs wide);
// part "model": the whole SimCLR model (for ONNX: the projection head's output, out_dim wide).
import * as fs from "node:fs";
import { encodeTorchFile, encodeSafetensors, readSafetensors, type RawTensor, type TensorToWrite } from "../checkpoint/index.js";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import type { Module } from "../nn/index.js";
import {
  buildModel, inferModelConfig, loadCheckpointInto, normalizeLightlyKeys, readCheckpointStateDict, tensorToWrite,
  EmbeddingModel, SimCLR, type ModelConfig,
} from "../models/index.js";
import { moduleToOnnx, DEFAULT_OPSET } from "./onnx.js";
import { DinoVisionTransformer } from "../models/vit.js";

export type ExportFormat = "torch" | "safetensors" | "onnx";
export type ExportPart = "backbone" | "model";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["torch", "safetensors", "onnx"];
export const EXPORT_PARTS: readonly ExportPart[] = ["backbone", "model"];

export interface ExportOptions {
  format: ExportFormat;
  /** Default "backbone" for onnx, "model" for torch and safetensors. */
  part?: ExportPart;
  /** Write the result here (atomically). */
  out?: string;
  /** ONNX only: opset (default 13) and BatchNorm folding (default true). */
  opset?: number;
  foldBatchNorm?: boolean;
  /** ONNX of a ViT backbone (dinov2/…): the fixed input size in px (default 224; a multiple of the patch size). */
  inputSize?: number;
}

export interface ExportResult {
  format: ExportFormat;
  part: ExportPart;
  bytes: Uint8Array;
  path: string | null;
  config: ModelConfig;
  /** Width of the exported network's output (num_ftrs for the backbone, out_dim for the model). */
  outputDim: number;
  /** Tensors written (torch, safetensors) or initializers (onnx: after folding). */
  tensors: number;
}

/** safetensors files start with a u64 header length followed by '{'. */
function isSafetensors(b: Uint8Array): boolean {
  return b.length > 9 && b[8] === 0x7b && b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0;
}

function readStateDict(src: string | Uint8Array): Map<string, RawTensor> {
  const head = typeof src === "string" ? readHead(src) : src.subarray(0, 16);
  if (isSafetensors(head)) return normalizeLightlyKeys(readSafetensors(src, typeof src === "string" ? { name: src } : {}).tensors);
  return readCheckpointStateDict(src);
}

function readHead(file: string): Uint8Array {
  const fd = fs.openSync(file, "r");
  try {
    const b = new Uint8Array(16);
    const n = fs.readSync(fd, b, 0, 16, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The SimCLR model a file holds. A file with the backbone only (an exported backbone) loads too;
 * its projection head is then absent (`hasHead` false).
 */
export function loadExportSource(src: string | Uint8Array): { model: SimCLR; config: ModelConfig; hasHead: boolean } {
  const dict = readStateDict(src);
  const config = inferModelConfig(dict);
  const hasHead = [...dict.keys()].some((k) => k.startsWith("projection_head."));
  const model = buildModel(config) as SimCLR;
  try {
    const r = loadCheckpointInto(model, dict, { strict: hasHead });
    const missing = r.missingKeys.filter((k) => !k.startsWith("projection_head."));
    if (missing.length) throw new Error(`${typeof src === "string" ? src : "checkpoint"}: backbone keys missing: ${missing.slice(0, 8).join(", ")}`);
    const unexpected = r.unexpectedKeys;
    if (unexpected.length) throw new Error(`${typeof src === "string" ? src : "checkpoint"}: unexpected keys: ${unexpected.slice(0, 8).join(", ")}`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config, hasHead };
}

/** Exports `src` (a SimCLR model, a checkpoint path or bytes, or a safetensors file) in `opts.format`. */
export function exportModel(src: string | Uint8Array | Module, opts: ExportOptions): ExportResult {
  if (!EXPORT_FORMATS.includes(opts.format)) throw new Error(`export: format must be one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(opts.format)}`);
  const part: ExportPart = opts.part ?? (opts.format === "onnx" ? "backbone" : "model");
  if (!EXPORT_PARTS.includes(part)) throw new Error(`export: part must be one of ${EXPORT_PARTS.join(", ")}, got ${JSON.stringify(part)}`);
  let model: SimCLR;
  let owned = false;
  let hasHead = true;
  if (typeof src === "string" || src instanceof Uint8Array) {
    ({ model, hasHead } = loadExportSource(src));
    owned = true;
  } else if (src instanceof SimCLR) model = src;
  else throw new Error(`export: expected a SimCLR model, a checkpoint or a safetensors file, got a ${src.typeName}`);
  try {
    if (part === "model" && !hasHead) throw new Error(`export: ${typeof src === "string" ? src : "the source"} holds a backbone only (no projection head): export it with part "backbone"`);
    const config = { ...model.config };
    const outputDim = part === "model" ? config.outDim : config.numFtrs;
    let bytes: Uint8Array;
    let tensors: number;
    if (opts.format === "onnx") {
      const wasTraining = model.training;
      model.eval();
      const net = part === "model" ? model : new EmbeddingModel(model.backbone);
      try {
        bytes = moduleToOnnx(net, {
          opset: opts.opset ?? DEFAULT_OPSET, foldBatchNorm: opts.foldBatchNorm, outputDim,
          inputSize: model.backbone instanceof DinoVisionTransformer ? [opts.inputSize ?? 224, opts.inputSize ?? 224] : undefined,
          outputName: part === "model" ? "projection" : "embedding",
          graphName: `winnow-simclr-${part}`,
          docString: JSON.stringify({ part, model: config }),
        });
      } finally {
        model.train(wasTraining);
      }
      tensors = countInitializers(bytes);
    } else {
      const keep = (k: string): boolean => part === "model" || k.startsWith("backbone.");
      const entries: [string, TensorToWrite][] = [];
      for (const [k, t] of model.stateDict()) if (keep(k)) entries.push([k, tensorToWrite(t)]);
      tensors = entries.length;
      bytes = opts.format === "torch"
        ? encodeTorchFile(entries.map(([k, t]) => [`model.${k}`, t] as [string, TensorToWrite]))
        : encodeSafetensors(entries, {
          format: "pt",
          "winnow.part": part,
          "winnow.model": JSON.stringify({ name: config.name, width: config.width, num_ftrs: config.numFtrs, out_dim: config.outDim, projection_head_batch_norm: config.projectionHeadBatchNorm, input_batch_norm: config.inputBatchNorm ?? true, feature_conv: config.featureConv ?? true }),
        });
    }
    if (opts.out) writeFileAtomic(opts.out, [bytes]);
    return { format: opts.format, part, bytes, path: opts.out ?? null, config, outputDim, tensors };
  } finally {
    if (owned) model.dispose();
  }
}

/** Counts GraphProto.initializer entries (for the report) by walking the top-level ModelProto.graph field. */
function countInitializers(model: Uint8Array): number {
  const graph = findField(model, 7);
  if (!graph) return 0;
  let n = 0;
  walk(graph, (field) => {
    if (field === 5) n++;
  });
  return n;
}

function readVarint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  let i = at;
  for (;;) {
    const byte = b[i++]!;
    v += (byte & 0x7f) * mul;
    if (!(byte & 0x80)) return [v, i];
    mul *= 128;
  }
}

function walk(b: Uint8Array, fn: (field: number, value: Uint8Array | null) => void): void {
  let i = 0;
  while (i < b.length) {
    const [tag, j] = readVarint(b, i);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      i = readVarint(b, j)[1];
      fn(field, null);
    } else if (wire === 2) {
      const [len, k] = readVarint(b, j);
      fn(field, b.subarray(k, k + len));
      i = k + len;
    } else if (wire === 5) {
      i = j + 4;
      fn(field, null);
    } else if (wire === 1) {
      i = j + 8;
      fn(field, null);
    } else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
}

function findField(b: Uint8Array, want: number): Uint8Array | null {
  let found: Uint8Array | null = null;
  walk(b, (f, v) => {
    if (f === want && v) found = v;
  });
  return found;
}
