// `winnow export RUN|FILE --format torch|safetensors|onnx [--part backbone|model]`: a run's
// checkpoint (by run id) or a checkpoint / safetensors file, exported for use outside Winnow.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { CliError, EXIT } from "./index.js";
import type { ExportFormat, ExportPart, ExportResult } from "../export/index.js";

export interface ExportCommandOptions {
  format: string;
  part?: string;
  out?: string;
  opset?: string | number;
  foldBn?: boolean;
  inputSize?: string | number;
}

const EXT: Record<ExportFormat, string> = { torch: "ckpt", safetensors: "safetensors", onnx: "onnx" };

/** Resolves RUN|FILE, exports, writes the file; returns what was written. */
export async function exportCommand(source: string, o: ExportCommandOptions): Promise<ExportResult & { source: string; path: string }> {
  const { exportModel, EXPORT_FORMATS, EXPORT_PARTS } = await import("../export/index.js");
  if (!EXPORT_FORMATS.includes(o.format as ExportFormat)) throw new CliError(`export: --format must be one of ${EXPORT_FORMATS.join(", ")}, got "${o.format}"`, EXIT.usage);
  if (o.part !== undefined && !EXPORT_PARTS.includes(o.part as ExportPart)) throw new CliError(`export: --part must be one of ${EXPORT_PARTS.join(", ")}, got "${o.part}"`, EXIT.usage);
  const opset = o.opset === undefined ? undefined : Number(o.opset);
  if (opset !== undefined && !Number.isInteger(opset)) throw new CliError(`export: --opset must be an integer, got "${o.opset}"`, EXIT.usage);
  const inputSize = o.inputSize === undefined ? undefined : Number(o.inputSize);
  if (inputSize !== undefined && !(Number.isInteger(inputSize) && inputSize > 0)) throw new CliError(`export: --input-size must be a positive integer, got "${o.inputSize}"`, EXIT.usage);
  let file = source;
  let label = source;
  if (!fs.existsSync(source)) {
    // Not a file: a run id of the local runs index.
    const { checkpointOfRun } = await import("../run/checkpoint-source.js");
    try {
      file = checkpointOfRun(source, "export").path;
    } catch (e) {
      throw new CliError(`export: ${source} is neither a file nor a run with a checkpoint (${(e as Error).message})`, EXIT.failed);
    }
    label = `run ${source}`;
  }
  const format = o.format as ExportFormat;
  const part = (o.part as ExportPart | undefined) ?? (format === "onnx" ? "backbone" : "model");
  const out = path.resolve(o.out ?? `${path.basename(file).replace(/\.[^.]*$/, "")}-${part}.${EXT[format]}`);
  if (path.resolve(file) === out) throw new CliError(`export: --out ${out} is the source file itself`, EXIT.usage);
  try {
    const r = exportModel(file, { format, part, out, opset, foldBatchNorm: o.foldBn, inputSize });
    return { ...r, source: label, path: out };
  } catch (e) {
    throw new CliError(`export: ${label}: ${(e as Error).message}`, EXIT.failed);
  }
}

export function register(program: Command): void {
  program
    .command("export")
    .description("Export a run's checkpoint (or a checkpoint/safetensors file) as a PyTorch checkpoint, safetensors or ONNX.")
    .argument("<source>", "a run id (see `winnow runs`) or a checkpoint / safetensors file")
    .requiredOption("--format <format>", "torch | safetensors | onnx")
    .option("--part <part>", "backbone (what Winnow embeds with; default for onnx) | model (whole SimCLR model; default for torch/safetensors)")
    .option("-o, --out <file>", "output file (default: <source name>-<part>.<ckpt|safetensors|onnx> in the current folder)")
    .option("--opset <n>", "ONNX opset, 13..21 (default 13)")
    .option("--input-size <px>", "ONNX of a ViT backbone (dinov2/…): the fixed input size (default 224)")
    .option("--no-fold-bn", "ONNX: keep BatchNorm layers as BatchNormalization nodes instead of folding them into the convolutions")
    .action(async (source: string, o: ExportCommandOptions) => {
      const r = await exportCommand(source, o);
      const c = r.config;
      process.stdout.write(
        `exported ${r.source} (${c.name}, width ${c.width}, num_ftrs ${c.numFtrs}, out_dim ${c.outDim}) ` +
          `as ${r.format} ${r.part} (${r.outputDim}-d output, ${r.tensors} tensors, ${r.bytes.length} bytes) → ${r.path}\n`,
      );
    });
}
