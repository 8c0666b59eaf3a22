// Embeddings of every image, as Lightly's embed step computes and writes them
// (lightly/cli/embed_cli.py, lightly/embedding/embedding.py, lightly/utils/io.py):
//   eval mode, no grad; Resize((input_size, input_size)) — a square resize that ignores the aspect
//   ratio —, ToTensor, ImageNet normalisation; the backbone's output flattened (not the projection
//   head); images in filename order.
//
// Input pixels come from the training cache (S = cacheSizeFor(input_size), e.g. 72 for 64): each
// batch is resized S → input_size on the device with bilinear antialiased interpolation (PIL's
// resize filter family). The alternative, a second cache at S = input_size, would decode every
// image again (decoding is the slow part: ~600 img/s on 2 cores against >10k img/s for the device
// resize) and store it twice; a cache at input_size is still used as is (no resize) when given.
//
// Output, streamed batch by batch (temporary files renamed into place at the end):
//   embeddings.csv   lightly's format: header filenames,embedding_0..embedding_{D-1},labels; CRLF;
//                    values as str(np.float32) (shortest round-trip digits); labels 0; Python csv quoting
//   embeddings.f32   raw little-endian float32, row-major [N, D] (the same values, for large N)
//   embeddings.json  { n, d, dtype, byteOrder, filenames (row order), model, weights, … }
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as torch from "../torch/index.js";
import { sameDevice, type Device, type Tensor } from "../torch/index.js";
import { buildModel, loadStartingWeights, checkpointLayout, readTrainingCheckpoint, type ModelConfig, type SimCLR } from "../models/index.js";
import type { ImageCache } from "../data/index.js";
import { embeddingTransform } from "../transforms/index.js";
import { modelSettingsOf, type LightlyConfig } from "../config/lightly-config.js";
import { formatFloat32 } from "../util/float32-repr.js";
import { WinnowError } from "../util/errors.js";
import { writeFileAtomic, fsyncFolder } from "../util/atomic.js";
import type { ProcessGroup } from "../distributed/index.js";
import { checkSameCount, localBatches, shardedBatches, syncEmbedModel } from "./embed-sharded.js";

export const EMBEDDINGS_FORMAT = "winnow-embeddings/1";

export interface EmbedOptions {
  cache: ImageCache;
  /** Resolved lightly_config: collate.input_size, loader.batch_size, model, seed, trainer.gpus. */
  config: LightlyConfig;
  /** Folder receiving embeddings.csv / .f32 / .json. */
  outDir: string;
  /** A model in memory (e.g. just trained); it is not disposed, and its train/eval mode is restored. */
  model?: SimCLR;
  /** Otherwise: weights from a checkpoint (PyTorch/Lightly-made or Winnow-made), checked against lightly_config.model. */
  checkpoint?: string;
  /** Default: "cuda" when trainer.gpus >= 1 and CUDA is available, else "cpu". */
  device?: Device;
  /** Write embeddings.csv (default true) and the binary form (default true). */
  csv?: boolean;
  binary?: boolean;
  /** File name stem (default "embeddings"). */
  name?: string;
  onProgress?: (done: number, total: number) => void;
  log?: (msg: string) => void;
  /**
   * Embed over the ranks of this group (src/pipeline/embed-sharded.ts): every rank calls with the
   * same cache; rank 0 gives the weights and writes the files, the others write nothing.
   */
  processGroup?: ProcessGroup;
}

export interface EmbedResult {
  n: number;
  d: number;
  /** Row order (the cache's filenames, sorted by code point as Lightly sorts them). */
  filenames: string[];
  csvPath: string | null;
  binaryPath: string | null;
  metaPath: string | null;
  /** Where the weights came from. "random-init": no model and no checkpoint (the run found no pretrained weights to start from). */
  weights: "model" | "checkpoint" | "random-init";
  checkpoint: string | null;
  modelConfig: ModelConfig;
  device: string;
  inputSize: number;
  notes: string[];
  durationMs: number;
  imagesPerSecond: number;
}

/** Python csv (QUOTE_MINIMAL, default dialect): quote fields holding , " \r or \n; double the quotes. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV header for D dimensions. */
export function embeddingsCsvHeader(d: number): string {
  const cols = ["filenames"];
  for (let j = 0; j < d; j++) cols.push(`embedding_${j}`);
  cols.push("labels");
  return `${cols.join(",")}\r\n`;
}

/** CSV rows for `rows` embeddings of dimension d starting at `values[0]` (labels 0). */
export function embeddingsCsvRows(filenames: readonly string[], values: Float32Array, d: number): string {
  let out = "";
  for (let i = 0; i < filenames.length; i++) {
    let line = csvField(filenames[i]!);
    for (let j = 0; j < d; j++) line += `,${formatFloat32(values[i * d + j]!)}`;
    out += `${line},0\r\n`;
  }
  return out;
}

/** Rows scaled to unit L2 norm (the worker's normalize_embeddings, for selection); zero rows stay zero. */
export function l2NormalizeRows(values: Float32Array, d: number, eps = 1e-12): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r * d < values.length; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += values[r * d + j]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), eps);
    for (let j = 0; j < d; j++) out[r * d + j] = values[r * d + j]! * inv;
  }
  return out;
}

export interface EmbeddingsMeta {
  format: string;
  n: number;
  d: number;
  dtype: "float32";
  byteOrder: "little";
  layout: "row-major";
  file: string;
  csv: string | null;
  filenames: string[];
  normalized: false;
  inputSize: number;
  model: ModelConfig;
  weights: EmbedResult["weights"];
  checkpoint: string | null;
}

/** Reads embeddings.json and its .f32 file. */
export function readEmbeddings(metaPath: string): { meta: EmbeddingsMeta; values: Float32Array } {
  const meta = JSON.parse(fs.readFileSync(metaPath, "utf8")) as EmbeddingsMeta;
  if (meta.format !== EMBEDDINGS_FORMAT) throw new WinnowError("invalid_input", `${metaPath}: not a Winnow embeddings file (format ${JSON.stringify(meta.format)})`, { where: metaPath });
  const buf = fs.readFileSync(path.join(path.dirname(metaPath), meta.file));
  if (buf.length !== meta.n * meta.d * 4) throw new Error(`${meta.file}: ${buf.length} bytes, expected ${meta.n}×${meta.d}×4`);
  const values = new Float32Array(meta.n * meta.d);
  new Uint8Array(values.buffer).set(buf);
  if (os.endianness() !== "LE") throw new Error("readEmbeddings: big-endian hosts are not supported");
  return { meta, values };
}

const tmpName = (p: string): string => path.join(path.dirname(p), `.${path.basename(p)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);

function writeAll(fd: number, data: Uint8Array | string): void {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
}

/** Builds the model to embed with: the given one, a checkpoint's, or a random initialisation. */
function modelFor(opts: EmbedOptions, device: Device, note: (m: string) => void): { model: SimCLR; owned: boolean; weights: EmbedResult["weights"] } {
  const cfg = opts.config;
  if (opts.model) return { model: opts.model, owned: false, weights: "model" };
  if (opts.checkpoint) {
    const { stateDict } = readTrainingCheckpoint(opts.checkpoint);
    const layout = checkpointLayout(stateDict); // the checkpoint's layout, whatever the config says
    const model = buildModel(modelSettingsOf(cfg, { ...layout, projectionHeadBatchNorm: layout.projectionHeadBatchNorm ?? false })) as SimCLR;
    try {
      loadStartingWeights(model, stateDict); // a pretrained backbone's own file loads into the backbone
      model.to({ device, memoryFormat: "channels_last" }); // faster convolutions, same values
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, owned: true, weights: "checkpoint" };
  }
  note(
    `no checkpoint and no trained model: embedding with RANDOMLY INITIALISED weights (${cfg.model.name}, seed ${cfg.seed}). ` +
      "Train first (enable_training), pass a checkpoint, or start from Lightly's model zoo (lightly_config.pre_trained with a zoo model) for meaningful embeddings.",
  );
  torch.manualSeed(cfg.seed);
  const model = buildModel(modelSettingsOf(cfg)) as SimCLR;
  model.to({ device, memoryFormat: "channels_last" }); // faster convolutions, same values
  return { model, owned: true, weights: "random-init" };
}

/** Over ranks: rank 0 builds (or takes) its model as on one process and sends it to the others. */
function shardedModel(opts: EmbedOptions, pg: ProcessGroup, device: Device, note: (m: string) => void): ReturnType<typeof modelFor> {
  const own = pg.rank === 0 ? modelFor(opts, device, note) : null;
  try {
    const model = syncEmbedModel(pg, own?.model ?? null, String(device));
    return own ?? { model, owned: true, weights: opts.model ? "model" : opts.checkpoint ? "checkpoint" : "random-init" };
  } catch (e) {
    if (own?.owned) own.model.dispose();
    throw e;
  }
}

/** A model in memory is used where it is; otherwise trainer.gpus decides, as for training. */
function embedDevice(opts: EmbedOptions): Device {
  const modelDevice = opts.model?.parameters()[0]?.device;
  const device = String(opts.device ?? modelDevice ?? (opts.config.trainer.gpus >= 1 && torch.cuda.isAvailable() ? "cuda" : "cpu"));
  if (opts.model && modelDevice && opts.device && !sameDevice(String(opts.device), modelDevice)) {
    throw new WinnowError("invalid_input", `embedImages: the model is on ${modelDevice}, not on the requested device ${opts.device}`);
  }
  return device;
}

/** The backbone features of images `idx`, float32 row-major. */
function embedBatch(model: SimCLR, cache: ImageCache, idx: number[], device: Device, inputSize: number): Float32Array {
  return torch.noGrad(() =>
    torch.scope(() => {
      const x = cache.batchTensor(idx, device);
      // channels_last in (unlike the trainer's NCHW views): a model passed in may have NCHW weights,
      // and a channels_last input still takes its convolutions down the channels_last path (an NCHW
      // input and model took 1.2x as long here); in eval the input BatchNorm2d(3) costs little either way.
      const input = embeddingTransform(x, inputSize).contiguous("channels_last");
      const e: Tensor = model.embed(input);
      return e.float().data() as Float32Array;
    }),
  );
}

/** Embeds every image of the cache and writes the files. */
export function embedImages(opts: EmbedOptions): EmbedResult {
  const t0 = performance.now();
  const cfg = opts.config;
  const cache = opts.cache;
  const notes: string[] = [];
  const note = (m: string): void => {
    notes.push(m);
    opts.log?.(m);
  };
  const device = embedDevice(opts);
  const n = cache.length;
  if (n === 0) throw new WinnowError("invalid_input", "embedImages: the folder has no usable images", { where: cache.dir });
  const inputSize = cfg.collate.input_size;
  const batchSize = Math.min(cfg.loader.batch_size, n);
  const stem = opts.name ?? "embeddings";
  const pg = opts.processGroup && opts.processGroup.worldSize > 1 ? opts.processGroup : null;
  const writer = !pg || pg.rank === 0;
  if (pg) checkSameCount(pg, n, cache.dir);
  fs.mkdirSync(opts.outDir, { recursive: true });
  const csvPath = writer && (opts.csv ?? true) ? path.join(opts.outDir, `${stem}.csv`) : null;
  const binPath = writer && (opts.binary ?? true) ? path.join(opts.outDir, `${stem}.f32`) : null;
  const metaPath = binPath ? path.join(opts.outDir, `${stem}.json`) : null;

  const { model, owned, weights } = pg ? shardedModel(opts, pg, device, note) : modelFor(opts, device, note);
  const wasTraining = model.training;
  const modelConfig = { ...model.config };
  const d = modelConfig.numFtrs;
  const csvTmp = csvPath ? tmpName(csvPath) : null;
  const binTmp = binPath ? tmpName(binPath) : null;
  let csvFd = -1;
  let binFd = -1;
  try {
    model.eval();
    if (cache.resolution !== inputSize) {
      opts.log?.(`embedding ${n} images: cache ${cache.resolution}px resized to ${inputSize}px on ${device} (bilinear, antialiased)`);
    }
    if (csvTmp) csvFd = fs.openSync(csvTmp, "wx", 0o644);
    if (binTmp) binFd = fs.openSync(binTmp, "wx", 0o644);
    if (csvFd >= 0) writeAll(csvFd, embeddingsCsvHeader(d));
    const one = (idx: number[]): Float32Array => embedBatch(model, cache, idx, device, inputSize);
    for (const { start, count, values } of pg ? shardedBatches(pg, n, batchSize, d, one) : localBatches(n, batchSize, d, one)) {
      if (binFd >= 0) writeAll(binFd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      if (csvFd >= 0) writeAll(csvFd, embeddingsCsvRows(cache.filenames.slice(start, start + count), values, d));
      opts.onProgress?.(start + count, n);
    }
    for (const fd of [csvFd, binFd]) {
      if (fd >= 0) {
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      }
    }
    csvFd = binFd = -1;
    if (csvTmp && csvPath) fs.renameSync(csvTmp, csvPath);
    if (binTmp && binPath) fs.renameSync(binTmp, binPath);
    if (writer) fsyncFolder(opts.outDir); // the renames survive a power cut, as writeFileAtomic's do
    if (metaPath && binPath) {
      const meta: EmbeddingsMeta = {
        format: EMBEDDINGS_FORMAT, n, d, dtype: "float32", byteOrder: "little", layout: "row-major",
        file: path.basename(binPath), csv: csvPath ? path.basename(csvPath) : null, filenames: cache.filenames,
        normalized: false, inputSize, model: modelConfig, weights, checkpoint: opts.checkpoint ?? null,
      };
      writeFileAtomic(metaPath, JSON.stringify(meta));
    }
  } catch (e) {
    for (const fd of [csvFd, binFd]) if (fd >= 0) fs.closeSync(fd);
    for (const t of [csvTmp, binTmp]) if (t) fs.rmSync(t, { force: true });
    throw e;
  } finally {
    if (owned) model.dispose();
    else model.train(wasTraining);
    torch.cpuCache.empty();
  }
  const ms = performance.now() - t0;
  opts.log?.(`embeddings: ${n} × ${d} (${weights === "random-init" ? "random weights" : weights}) → ${csvPath ?? binPath}`);
  return {
    n, d, filenames: cache.filenames, csvPath, binaryPath: binPath, metaPath, weights, checkpoint: opts.checkpoint ?? null,
    modelConfig, device, inputSize, notes, durationMs: ms, imagesPerSecond: (n * 1000) / ms,
  };
}
