// `winnow embed <folder>`: embeddings of every image in a folder, no selection. The model is a
// checkpoint (Lightly/Winnow SimCLR checkpoints, or a publisher's backbone file) or a pretrained
// backbone by name (its published file found in $WINNOW_HOME/models or torch hub's folder). Same
// decode cache, corrupt-file handling and embedding step as `winnow run` (src/pipeline).
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { CliError, EXIT } from "./index.js";
import type { EmbedFormat } from "../pipeline/embeddings-formats.js";

const FORMATS = ["lightly_csv", "csv", "npy", "torch"];

export interface EmbedCommandOptions {
  model?: string;
  checkpoint?: string;
  format?: string;
  out?: string;
  inputSize?: number;
  batchSize?: number;
  device?: "cpu" | "cuda";
  quiet?: boolean;
}

export interface EmbedCommandResult {
  files: string[];
  n: number;
  d: number;
  model: string;
  weights: string;
  corrupt: string[];
}

const intArg = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} takes a positive integer, got ${JSON.stringify(v)}`);
  return n;
};

type EmbeddingModelSettings = { name: string; width: number; num_ftrs: number; out_dim: number };

/** The model settings (from the checkpoint's shapes, or the named backbone) and the weights file to load. */
async function embeddingModel(o: EmbedCommandOptions, log: (m: string) => void): Promise<{ model: EmbeddingModelSettings; checkpoint: string; weights: string }> {
  const M = await import("../models/index.js");
  if (o.checkpoint) {
    let fit;
    try {
      const dict = M.readCheckpointStateDict(o.checkpoint);
      const keyed = M.isPublisherLayout(dict) ? new Map([...dict].map(([k, v]) => [`backbone.${k}`, v])) : dict;
      fit = M.inferModelConfig(keyed);
    } catch (e) {
      throw new CliError(`embed: ${o.checkpoint}: ${(e as Error).message}`, EXIT.failed);
    }
    if (o.model && o.model !== fit.name) throw new CliError(`embed: ${o.checkpoint} holds a ${fit.name} model, not ${o.model}`, EXIT.usage);
    return { model: { name: fit.name, width: fit.width, num_ftrs: fit.numFtrs, out_dim: fit.outDim }, checkpoint: o.checkpoint, weights: `checkpoint ${o.checkpoint}` };
  }
  if (!M.isPretrainedBackbone(o.model!)) {
    throw new CliError(`embed: ${o.model} has no published weights to embed with: pass --checkpoint <file>, or a pretrained backbone (${Object.keys(M.PRETRAINED_BACKBONES).join(", ")})`, EXIT.usage);
  }
  const { resolveWeightsFile } = await import("../models/weights/resolve.js");
  const b = M.pretrainedBackbone(o.model!);
  try {
    const r = await resolveWeightsFile(b.weights, { log });
    const weights = `pretrained ${b.name} (${path.basename(r.path)}, sha256 ${r.sha256.slice(0, 12)})`;
    return { model: { name: b.name, width: 1, num_ftrs: b.numFeatures, out_dim: 128 }, checkpoint: r.path, weights };
  } catch (e) {
    throw new CliError(`embed: ${(e as Error).message}`, EXIT.failed);
  }
}

export async function embedCommand(folder: string, o: EmbedCommandOptions): Promise<EmbedCommandResult> {
  const format = (o.format ?? "lightly_csv") as EmbedFormat;
  if (!FORMATS.includes(format)) throw new CliError(`embed: --format must be one of ${FORMATS.join(", ")}, got "${o.format}"`, EXIT.usage);
  if (!o.model && !o.checkpoint) throw new CliError("embed: give --checkpoint <file> or --model <backbone> (e.g. torchvision/resnet50, dinov2/vits14)", EXIT.usage);
  if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new CliError(`embed: ${folder}: no such folder`, EXIT.usage);
  const { parseLightlyConfig, LightlyConfigError, MODEL_NAMES } = await import("../config/lightly-config.js");
  if (o.model && !(MODEL_NAMES as readonly string[]).includes(o.model)) throw new CliError(`embed: --model must be one of ${MODEL_NAMES.join(", ")}, got "${o.model}"`, EXIT.usage);
  const { FORMAT_EXT, writeEmbeddingsAs } = await import("../pipeline/embeddings-formats.js");
  const out = path.resolve(o.out ?? `embeddings${FORMAT_EXT[format]}`);
  const M = await import("../models/index.js");
  const log = (m: string): void => {
    if (!o.quiet) process.stderr.write(`${m}\n`);
  };

  const { model, checkpoint, weights } = await embeddingModel(o, log);
  let config;
  try {
    config = parseLightlyConfig({
      model,
      // Pretrained backbones are trained at 224 px; Lightly's default (64) stays for its ResNets.
      collate: { input_size: o.inputSize ?? (M.isPretrainedBackbone(model.name) ? 224 : 64) },
      loader: o.batchSize ? { batch_size: o.batchSize } : {},
      trainer: o.device ? { gpus: o.device === "cuda" ? 1 : 0 } : {},
    });
  } catch (e) {
    if (e instanceof LightlyConfigError) throw new CliError(`embed: ${e.message}`, EXIT.usage);
    throw e;
  }

  const { prepareImages, embedImages } = await import("../pipeline/index.js");
  const { CountProgress } = await import("../run/progress.js");
  const { winnowHome } = await import("../run/store.js");
  const stream = o.quiet ? null : process.stderr;
  const decodeBar = new CountProgress("decoding", stream);
  const cache = await prepareImages(folder, {
    cacheDir: path.join(winnowHome(), "cache"), config, removeExactDuplicates: false, onProgress: (d, t) => decodeBar.update(d, t), log,
  });
  decodeBar.done();
  const corrupt = cache.corruptFilenames.map((c) => c.filename);
  const work = fs.mkdtempSync(path.join(path.dirname(out), ".winnow-embed-"));
  try {
    if (cache.length === 0) throw new CliError(`embed: ${folder} has no usable images${corrupt.length ? ` (${corrupt.length} corrupt)` : ""}`, EXIT.failed);
    const bar = new CountProgress("embedding", stream);
    let e;
    try {
      e = embedImages({
        cache, config, outDir: work, checkpoint, csv: format === "lightly_csv", binary: true,
        device: o.device, onProgress: (d, t) => bar.update(d, t), log,
      });
    } catch (err) {
      throw new CliError(`embed: ${(err as Error).message}`, EXIT.failed);
    }
    bar.done();
    const files = writeEmbeddingsAs(format, out, { f32File: e.binaryPath!, n: e.n, d: e.d, filenames: e.filenames, lightlyCsv: e.csvPath });
    if (corrupt.length) {
      const list = path.join(path.dirname(out), `${path.basename(out).replace(/\.[^.]*$/, "")}.corrupt_filenames.txt`);
      fs.writeFileSync(list, corrupt.map((f) => `${f}\n`).join(""));
      files.push(list);
      log(`${corrupt.length} corrupt file(s) skipped, listed in ${list}`);
    }
    return { files, n: e.n, d: e.d, model: model.name, weights, corrupt };
  } finally {
    cache.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function register(program: Command): void {
  program
    .command("embed")
    .description("Embed every image of a folder with a checkpoint or a pretrained backbone (no selection).")
    .argument("<folder>", "folder of images (searched recursively)")
    .option("-m, --model <name>", "a pretrained backbone: torchvision/resnet18|34|50|101, dinov2/vits14|vitb14 (weights from $WINNOW_HOME/models or torch hub's folder)")
    .option("--checkpoint <file>", "a Lightly/Winnow checkpoint, or a publisher's backbone file (resnet50-0676ba61.pth, dinov2_vits14_pretrain.pth)")
    .addOption(new Option("-f, --format <format>", "output format").choices(FORMATS).default("lightly_csv"))
    .option("-o, --out <file>", "output file (default: ./embeddings.csv, .npy or .pt)")
    .option("--input-size <px>", "images are resized to px × px (default 224 for pretrained backbones, 64 for Lightly's ResNets)", intArg("--input-size"))
    .option("--batch-size <N>", "images per batch (default 16, as lightly_config.loader.batch_size)", intArg("--batch-size"))
    .addOption(new Option("--device <device>", "compute device (default: cuda when available)").choices(["cpu", "cuda"]))
    .option("-q, --quiet", "no progress output")
    .addHelpText("after", `
Formats: lightly_csv (Lightly's embeddings.csv: filenames,embedding_0..,labels), csv (filename,embedding_0..),
npy (float32 [N, D]; row order in <name>.filenames.txt), torch ({"embeddings": tensor, "filenames": [...]}).
Corrupt files are skipped and listed in <name>.corrupt_filenames.txt.

Examples:
  winnow embed ./images --model torchvision/resnet50
  winnow embed ./images --checkpoint winnow-runs/<run id>/checkpoints/last.ckpt --format npy -o emb.npy`)
    .action(async (folder: string, o: EmbedCommandOptions) => {
      const r = await embedCommand(folder, o);
      process.stdout.write(`embedded ${r.n} images (${r.d}-d, ${r.model}, ${r.weights}) → ${r.files.join(", ")}\n`);
    });
}
