// The decode-once image cache: every image of a folder decoded once (sharp/libvips), resized to
// S×S, and stored as uint8 RGB in one fixed-stride file ("slab", [slots, S, S, 3]); batches are
// read back by offset on demand. See src/data/README.md for the design and its reasons.
//
// On disk, in <cacheDir>/<S>px-<settings hash>/:
//   index.bin          the index (format below), replaced atomically (write tmp, rename)
//   slab-<gen>.u8      the pixels: slot k at byte k*stride, stride = S*S*3 (NHWC, RGB)
//   lock               held by the process that is building/updating the cache
// Entries are keyed by relative filename + file size + mtime (ns); resolution and decode settings
// are part of the folder name. The slab is append-only during a build (changed files get new
// slots, old slots become garbage); when garbage exceeds half of it, it is compacted into a new
// generation file and the index switches to it atomically.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as torch from "../torch/index.js";
import type { Tensor, Device } from "../torch/index.js";
import { checkRealInside, compareCodePoints, listImageFolder, PathRefused, resolveInside, type Listing, type Refused } from "./folder.js";
import { decodeToSquare, decodeFull, cropToSquare, ImageDecodeError, type DecodeFailure, type DecodeOptions, type DecodedFull } from "./decode.js";

/** Changing anything the pixels depend on bumps this (old caches are then ignored). */
const FORMAT_VERSION = 1;
const MAGIC = "WINNOWIC";

/** PIL's DecompressionBombError threshold (2 × Image.MAX_IMAGE_PIXELS): what Lightly refuses. */
export const DEFAULT_MAX_PIXELS = 178_956_970;
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * The cache resolution for an input size: 12.5% headroom for crops, at least inputSize. Issue 20
 * measured larger caches for training (64 px instead of 36 for 64 px emoji at input 32; 83 instead
 * of 36 for photo tiles): no difference beyond the seeds' spread, at 3–5× the disk (docs/benchmarks.md).
 */
export function cacheSizeFor(inputSize: number, factor = 1.125): number {
  return Math.max(inputSize, Math.round(inputSize * factor));
}

export interface CorruptFile {
  filename: string;
  code: DecodeFailure;
  reason: string;
}
export interface DuplicateFile {
  filename: string;
  /** The first file (in filename order) with the same bytes. */
  duplicateOf: string;
}

export interface CacheStats {
  /** Image files listed (before any failure or duplicate removal). */
  files: number;
  /** Files opened and decoded by this build (failed attempts included). 0 when nothing changed. */
  decoded: number;
  /** Files taken from an earlier build without reading them (cached failures included). */
  reused: number;
  /** Files that could not be used (see corruptFilenames). */
  failed: number;
  /** Slab compacted during this build. */
  compacted: boolean;
  durationMs: number;
}

export interface BuildOptions {
  /** Folder holding caches (one sub-folder per resolution and settings). */
  cacheDir: string;
  /** S: images are stored S×S. See cacheSizeFor(). */
  resolution: number;
  /** Files decoded at once (reads and sharp run on libuv's pool). Default defaultConcurrency(). */
  concurrency?: number;
  /** Declared width*height above this is refused as a decompression bomb. Default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Files larger than this are refused without reading. Default 1 GiB. */
  maxFileBytes?: number;
  /** Drop files whose bytes equal an earlier file's (Lightly's worker default: true). */
  removeExactDuplicates?: boolean;
  /** Apply EXIF orientation. Default false, as PIL/Lightly. */
  autoOrient?: boolean;
  /** Default "error" (decoder errors and truncation fail, warnings pass). */
  failOn?: DecodeOptions["failOn"];
  /** Default "lanczos3" (sharp's default). */
  kernel?: DecodeOptions["kernel"];
  /** Called after each file is settled (and once at the start with the files reused). */
  onProgress?: (done: number, total: number) => void;
  /** An existing listing of the folder to use instead of listing it again. */
  listing?: Listing;
  /** Write the index every this many decodes, so an interrupted build resumes. Default 2048. */
  checkpointEvery?: number;
  /** How long to wait for another process building the same cache. Default 10 min. */
  lockTimeoutMs?: number;
  /**
   * Object crops instead of whole images: each listed file's boxes become entries named
   * `<file>#<index>` (its own cache folder). See CropRequests.
   */
  crops?: CropRequests;
}

/** One object box of a source image: `bbox` [x, y, w, h] in pixels (top-left origin), as in the predictions. */
export interface CropBox {
  /** The prediction's index in its file: the entry is named `<file>#<index>`. */
  index: number;
  bbox: [number, number, number, number];
}

export interface CropRequests {
  /** Source image (relative filename, as listed) → its boxes. Files without boxes give no entries. */
  boxes: Map<string, CropBox[]>;
  /** Each side grows by this fraction of the box's width (left/right) and height (top/bottom), then the box is clipped to the image. Lightly's default 0.1. */
  padding: number;
}

/** Separates the source filename from the crop index in crop entry names. */
export const CROP_SEPARATOR = "#";

/** The padded box clipped to a w×h image, in whole pixels [x0, y0, x1, y1); null when the box does not overlap the image. */
export function paddedCropBox(bbox: readonly number[], padding: number, w: number, h: number): [number, number, number, number] | null {
  const [x, y, bw, bh] = bbox as [number, number, number, number];
  if (!(x < w && y < h && x + bw > 0 && y + bh > 0)) return null; // the object itself is outside the image
  const x0 = Math.max(0, Math.floor(x - padding * bw));
  const y0 = Math.max(0, Math.floor(y - padding * bh));
  const x1 = Math.min(w, Math.ceil(x + bw + padding * bw));
  const y1 = Math.min(h, Math.ceil(y + bh + padding * bh));
  return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
}

export interface Batch {
  /** [B, S, S, 3] uint8, RGB, NHWC. A view of `out` when given. */
  data: Uint8Array;
  /** [B, 2]: original (width, height) of each image, before the resize to S×S. */
  origSizes: Int32Array;
  shape: [number, number, number, number];
}

// ---- index file ---------------------------------------------------------------------------------
// MAGIC(8) | u32 version | u32 header bytes | header JSON | pad to 8 | columns (offsets in header)

interface Settings {
  version: number;
  resolution: number;
  root: string;
  autoOrient: boolean;
  failOn: string;
  kernel: string;
  /** Crop caches only: padding and a digest of every box (changed predictions give a new cache). */
  crops?: string;
}

interface Limits {
  maxPixels: number;
  maxFileBytes: number;
}

/** Slot value of an entry that has no pixels. (An entry with pixels can still carry a failure:
 * refused by the current limits; its pixels are kept for when the limits are raised.) */
const FAILED = -1;
const PENDING = -2;

/** All listed files, columnar, in filename order. */
interface Entries {
  filenames: string[];
  sizes: Float64Array;
  mtimesNs: BigInt64Array;
  slots: Int32Array;
  widths: Int32Array;
  heights: Int32Array;
  sha256: Uint8Array; // n*32
  failures: Map<number, { code: DecodeFailure; reason: string }>;
}

interface IndexFile {
  settings: Settings;
  limits: Limits;
  slab: string;
  slotCount: number;
  complete: boolean;
  refused: Refused[];
  hiddenSkipped: number;
  entries: Entries;
}

function newEntries(filenames: string[]): Entries {
  const n = filenames.length;
  return {
    filenames,
    sizes: new Float64Array(n),
    mtimesNs: new BigInt64Array(n),
    slots: new Int32Array(n).fill(PENDING),
    widths: new Int32Array(n),
    heights: new Int32Array(n),
    sha256: new Uint8Array(n * 32),
    failures: new Map(),
  };
}

function writeIndex(dir: string, idx: IndexFile): void {
  const e = idx.entries;
  const cols: [string, ArrayBufferView][] = [
    ["sizes", e.sizes],
    ["mtimesNs", e.mtimesNs],
    ["slots", e.slots],
    ["widths", e.widths],
    ["heights", e.heights],
    ["sha256", e.sha256],
  ];
  const columns: Record<string, [number, number]> = {};
  let off = 0;
  for (const [name, arr] of cols) {
    columns[name] = [off, arr.byteLength];
    off += Math.ceil(arr.byteLength / 8) * 8;
  }
  const header = Buffer.from(
    JSON.stringify({
      settings: idx.settings,
      limits: idx.limits,
      slab: idx.slab,
      slotCount: idx.slotCount,
      complete: idx.complete,
      count: e.filenames.length,
      columns,
      filenames: e.filenames,
      failures: [...e.failures].map(([i, f]) => [i, f.code, f.reason]),
      refused: idx.refused,
      hiddenSkipped: idx.hiddenSkipped,
    }),
  );
  const headAt = 16;
  const colsAt = Math.ceil((headAt + header.length) / 8) * 8;
  const out = Buffer.alloc(colsAt + off);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(FORMAT_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, headAt);
  for (const [name, arr] of cols) {
    Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).copy(out, colsAt + columns[name]![0]);
  }
  const tmp = path.join(dir, `index.bin.tmp-${process.pid}`);
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, out);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, "index.bin"));
}

/** The index in `dir`, or null when there is none or it cannot be used. */
function readIndex(dir: string): IndexFile | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path.join(dir, "index.bin"));
  } catch {
    return null;
  }
  try {
    if (buf.length < 16 || buf.toString("latin1", 0, 8) !== MAGIC || buf.readUInt32LE(8) !== FORMAT_VERSION) return null;
    const hlen = buf.readUInt32LE(12);
    const h = JSON.parse(buf.toString("utf8", 16, 16 + hlen));
    const colsAt = Math.ceil((16 + hlen) / 8) * 8;
    const n: number = h.count;
    const col = (name: string, bytesPer: number): ArrayBuffer => {
      const [o, len] = h.columns[name] as [number, number];
      if (len !== n * bytesPer || colsAt + o + len > buf.length) throw new Error(`column ${name}`);
      return new Uint8Array(buf.subarray(colsAt + o, colsAt + o + len)).buffer; // aligned copy
    };
    const failures = new Map<number, { code: DecodeFailure; reason: string }>();
    for (const [i, code, reason] of h.failures as [number, DecodeFailure, string][]) failures.set(i, { code, reason });
    const entries: Entries = {
      filenames: h.filenames,
      sizes: new Float64Array(col("sizes", 8)),
      mtimesNs: new BigInt64Array(col("mtimesNs", 8)),
      slots: new Int32Array(col("slots", 4)),
      widths: new Int32Array(col("widths", 4)),
      heights: new Int32Array(col("heights", 4)),
      sha256: new Uint8Array(col("sha256", 32)),
      failures,
    };
    if (entries.filenames.length !== n) return null;
    return {
      settings: h.settings,
      limits: h.limits,
      slab: h.slab,
      slotCount: h.slotCount,
      complete: h.complete,
      refused: h.refused,
      hiddenSkipped: h.hiddenSkipped,
      entries,
    };
  } catch {
    return null;
  }
}

// ---- lock ---------------------------------------------------------------------------------------

async function acquireLock(dir: string, timeoutMs: number): Promise<() => void> {
  const file = path.join(dir, "lock");
  const me = JSON.stringify({ pid: process.pid, host: os.hostname() });
  const start = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(file, me, { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(file, "utf8") === me) fs.unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder: { pid?: number; host?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      /* being written or removed: retry */
    }
    if (holder.host === os.hostname() && typeof holder.pid === "number" && !alive(holder.pid)) {
      try {
        fs.unlinkSync(file); // stale: its process is gone
      } catch {
        /* someone else removed it */
      }
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(`image cache ${dir} is being built by another process (${JSON.stringify(holder)}); gave up after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---- build --------------------------------------------------------------------------------------

function settingsDir(cacheDir: string, s: Settings): string {
  const h = crypto.createHash("sha256").update(JSON.stringify(s)).digest("hex").slice(0, 12);
  return path.join(cacheDir, `${s.resolution}px-${h}`);
}

function sameSettings(a: Settings, b: Settings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Failures that depend on the limits, or may be transient, are retried; the others are kept. */
function retryFailure(code: DecodeFailure, limitsChanged: boolean): boolean {
  return code === "unreadable" || (limitsChanged && (code === "too_many_pixels" || code === "too_large"));
}

/**
 * Lists `root` and brings its cache up to date: unchanged files are reused without being read,
 * new or changed files are decoded (a bounded number at a time), failures are recorded with their
 * reason. Returns the dataset view (usable images in filename order, duplicates dropped when
 * `removeExactDuplicates`). Call close() on it when done.
 */
export async function buildImageCache(root: string, opts: BuildOptions): Promise<ImageCache> {
  const t0 = performance.now();
  const S = opts.resolution;
  if (!Number.isInteger(S) || S < 1 || S > 4096) throw new RangeError(`resolution must be an integer in [1, 4096], got ${S}`);
  const sourceListing = opts.listing ?? listImageFolder(root);
  const crops = opts.crops ? cropListing(sourceListing, opts.crops) : null;
  const listing = crops?.listing ?? sourceListing;
  const limits: Limits = {
    maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxFileBytes: opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
  };
  const dopts: DecodeOptions = {
    maxPixels: limits.maxPixels,
    autoOrient: opts.autoOrient ?? false,
    failOn: opts.failOn ?? "error",
    kernel: opts.kernel ?? "lanczos3",
  };
  const settings: Settings = {
    version: FORMAT_VERSION,
    resolution: S,
    root: listing.root,
    autoOrient: dopts.autoOrient,
    failOn: dopts.failOn,
    kernel: dopts.kernel,
    ...(crops ? { crops: crops.digest } : {}),
  };
  const stride = S * S * 3;
  const dir = settingsDir(opts.cacheDir, settings);
  fs.mkdirSync(dir, { recursive: true });
  const release = await acquireLock(dir, opts.lockTimeoutMs ?? 10 * 60_000);
  let fd = -1;
  try {
    // ---- the previous index, if usable -------------------------------------------------------
    let old = readIndex(dir);
    if (old && (!sameSettings(old.settings, settings) || !isSlabName(old.slab))) old = null;
    let slabName = old?.slab ?? "slab-0.u8";
    let slotCount = old?.slotCount ?? 0;
    const slabPath = () => path.join(dir, slabName);
    if (old) {
      let size = -1;
      try {
        size = fs.statSync(slabPath()).size;
      } catch {
        /* missing */
      }
      if (size < slotCount * stride) old = null; // slab lost or cut: start over
    }
    if (!old) {
      slabName = `slab-${Date.now().toString(36)}.u8`;
      slotCount = 0;
    }
    removeOtherSlabs(dir, slabName);
    fd = fs.openSync(slabPath(), fs.existsSync(slabPath()) ? "r+" : "w+");
    fs.ftruncateSync(fd, slotCount * stride); // drop slots a crashed build wrote but never indexed

    // ---- merge the listing with the old index (both sorted: one pass) ----------------------------
    const n = listing.filenames.length;
    const e = newEntries(listing.filenames);
    e.sizes.set(listing.sizes);
    e.mtimesNs.set(listing.mtimesNs);
    const limitsChanged = !!old && (old.limits.maxPixels !== limits.maxPixels || old.limits.maxFileBytes !== limits.maxFileBytes);
    const todo: number[] = [];
    let reused = 0;
    const oe = old?.entries;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const name = e.filenames[i]!;
      let match = -1;
      if (oe) {
        while (j < oe.filenames.length && compareCodePoints(oe.filenames[j]!, name) < 0) j++;
        if (j < oe.filenames.length && oe.filenames[j] === name) match = j;
      }
      if (match >= 0 && oe!.sizes[match] === e.sizes[i] && oe!.mtimesNs[match] === e.mtimesNs[i] && oe!.slots[match] !== PENDING) {
        const slot = oe!.slots[match]!;
        const f = oe!.failures.get(match);
        if (slot >= 0) {
          // Pixels are cached. A failure recorded with them can only be a limit refusal: the
          // limits are checked again now, so lowering and raising them needs no decoding.
          e.slots[i] = slot;
          e.widths[i] = oe!.widths[match]!;
          e.heights[i] = oe!.heights[match]!;
          e.sha256.set(oe!.sha256.subarray(match * 32, match * 32 + 32), i * 32);
          const px = e.widths[i]! * e.heights[i]!;
          if (px > limits.maxPixels) e.failures.set(i, { code: "too_many_pixels", reason: tooManyPixels(e.widths[i]!, e.heights[i]!, limits.maxPixels) });
          else if (e.sizes[i]! > limits.maxFileBytes) e.failures.set(i, { code: "too_large", reason: tooLarge(e.sizes[i]!, limits.maxFileBytes) });
          reused++;
          continue;
        }
        if (f && !retryFailure(f.code, limitsChanged)) {
          e.slots[i] = FAILED;
          e.failures.set(i, f);
          reused++;
          continue;
        }
      }
      todo.push(i);
    }

    // ---- decode what is new or changed ---------------------------------------------------------------
    const total = n;
    let done = reused;
    opts.onProgress?.(done, total);
    const index = (complete: boolean): IndexFile => ({
      settings, limits, slab: slabName, slotCount, complete,
      refused: listing.refused, hiddenSkipped: listing.hiddenSkipped, entries: e,
    });
    const checkpointEvery = opts.checkpointEvery ?? 2048;
    let sinceCheckpoint = 0;
    let decoded = 0;
    let fatal: unknown = null;
    let next = 0;
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? defaultConcurrency()));

    // Crops: each source image is read and decoded once for all its boxes (entries of one file
    // are next to each other in the todo order, so the decoded image lives only while they run).
    const sources = new Map<string, { pending: number; image: Promise<{ hash: Buffer; img: DecodedFull; size: number; mtimeNs: bigint }> | null }>();
    if (crops) for (const i of todo) {
      const src = crops.of.get(e.filenames[i]!)!.source;
      const s = sources.get(src);
      if (s) s.pending++;
      else sources.set(src, { pending: 1, image: null });
    }
    const processCrop = async (i: number): Promise<void> => {
      const { source, box } = crops!.of.get(e.filenames[i]!)!;
      const s = sources.get(source)!;
      if (s.image === null) {
        s.image = (async () => {
          const bytes = await readInside(listing.root, source, i, e, limits.maxFileBytes);
          return { hash: crypto.createHash("sha256").update(bytes).digest(), img: await decodeFull(bytes, dopts), size: e.sizes[i]!, mtimeNs: e.mtimesNs[i]! };
        })();
      }
      try {
        const src = await s.image;
        e.sizes[i] = src.size;
        e.mtimesNs[i] = src.mtimeNs;
        const b = paddedCropBox(box.bbox, opts.crops!.padding, src.img.width, src.img.height);
        if (!b) throw new ImageDecodeError("bad_box", `box [${box.bbox.join(", ")}] (x, y, w, h) does not overlap the ${src.img.width}x${src.img.height} image`);
        const pixels = await cropToSquare(src.img, b, S, dopts.kernel);
        if (fatal) return;
        const slot = slotCount++;
        writeFully(fd, pixels, slot * stride);
        e.slots[i] = slot;
        e.widths[i] = b[2] - b[0];
        e.heights[i] = b[3] - b[1];
        // Per-crop identity: the file's bytes and the crop box (exact-duplicate files still pair up crop by crop).
        e.sha256.set(crypto.createHash("sha256").update(src.hash).update(JSON.stringify(b)).digest(), i * 32);
      } finally {
        if (--s.pending === 0) sources.delete(source);
      }
    };

    const processOne = async (i: number): Promise<void> => {
      const rel = e.filenames[i]!;
      decoded++;
      if (crops) {
        try {
          await processCrop(i);
        } catch (err) {
          if (err instanceof ImageDecodeError) fail(e, i, err.code, err.message);
          else if (err instanceof PathRefused) fail(e, i, "unreadable", err.reason);
          else throw err;
        }
        if (++sinceCheckpoint >= checkpointEvery) {
          sinceCheckpoint = 0;
          fs.fsyncSync(fd);
          writeIndex(dir, index(false));
        }
        opts.onProgress?.(++done, total);
        return;
      }
      try {
        const bytes = await readInside(listing.root, rel, i, e, limits.maxFileBytes);
        const hash = crypto.createHash("sha256").update(bytes).digest();
        const img = await decodeToSquare(bytes, S, dopts);
        if (fatal) return;
        const slot = slotCount++;
        writeFully(fd, img.pixels, slot * stride);
        e.slots[i] = slot;
        e.widths[i] = img.width;
        e.heights[i] = img.height;
        e.sha256.set(hash, i * 32);
      } catch (err) {
        if (err instanceof ImageDecodeError) fail(e, i, err.code, err.message);
        else if (err instanceof PathRefused) fail(e, i, "unreadable", err.reason);
        else throw err; // disk full on the cache, bugs: the build fails
      }
      if (++sinceCheckpoint >= checkpointEvery) {
        sinceCheckpoint = 0;
        fs.fsyncSync(fd);
        writeIndex(dir, index(false));
      }
      opts.onProgress?.(++done, total);
    };
    const worker = async (): Promise<void> => {
      while (!fatal && next < todo.length) {
        const i = todo[next++]!;
        try {
          await processOne(i);
        } catch (err) {
          fatal ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, todo.length)) }, worker));
    if (fatal) {
      try {
        fs.fsyncSync(fd);
        writeIndex(dir, index(false)); // keep what was decoded
      } catch {
        /* the original error matters more */
      }
      throw fatal;
    }

    // ---- compact when more than half of the slab is garbage -------------------------------------------
    let live = 0;
    for (let i = 0; i < n; i++) if (e.slots[i]! >= 0) live++;
    let compacted = false;
    if (slotCount > 0 && slotCount - live > slotCount / 2) {
      const newName = `slab-${Date.now().toString(36)}-${process.pid}.u8`;
      compactSlab(fd, path.join(dir, newName), e.slots, stride);
      fs.closeSync(fd);
      fd = -1;
      slabName = newName;
      slotCount = live;
      compacted = true;
    } else {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
    }
    writeIndex(dir, index(true));
    removeOtherSlabs(dir, slabName);
    const stats: CacheStats = { files: n, decoded, reused, failed: e.failures.size, compacted, durationMs: performance.now() - t0 };
    return new ImageCache(dir, index(true), opts.removeExactDuplicates ?? true, stats);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
    release();
  }
}

/** The crop entries of a listing: `<file>#<index>` for every box, sorted by code point, with the source file's size and mtime. */
function cropListing(src: Listing, req: CropRequests): { listing: Listing; of: Map<string, { source: string; box: CropBox }>; digest: string } {
  if (!(req.padding >= 0 && Number.isFinite(req.padding))) throw new RangeError(`crops.padding must be a finite number >= 0, got ${req.padding}`);
  const of = new Map<string, { source: string; box: CropBox }>();
  const rows: { name: string; k: number }[] = [];
  const h = crypto.createHash("sha256").update(`padding ${req.padding}\n`);
  src.filenames.forEach((f, k) => {
    for (const box of req.boxes.get(f) ?? []) {
      const name = `${f}${CROP_SEPARATOR}${box.index}`;
      if (of.has(name)) throw new Error(`crops: ${f} has two boxes with index ${box.index}`);
      of.set(name, { source: f, box });
      rows.push({ name, k });
      h.update(`${name} ${box.bbox.join(" ")}\n`);
    }
  });
  rows.sort((a, b) => compareCodePoints(a.name, b.name));
  const listing: Listing = {
    root: src.root,
    filenames: rows.map((r) => r.name),
    sizes: Float64Array.from(rows, (r) => src.sizes[r.k]!),
    mtimesNs: BigInt64Array.from(rows, (r) => src.mtimesNs[r.k]!),
    refused: src.refused,
    hiddenSkipped: src.hiddenSkipped,
  };
  return { listing, of, digest: `padding=${req.padding} boxes=${h.digest("hex").slice(0, 16)}` };
}

/**
 * Opens a cache built earlier (for example by another process) from its folder, without listing
 * or checking the images folder. Throws when there is no complete index.
 */
export function openImageCache(dir: string, opts: { removeExactDuplicates?: boolean } = {}): ImageCache {
  const idx = readIndex(dir);
  if (!idx || !idx.complete) throw new Error(`no complete image cache in ${dir}`);
  const e = idx.entries;
  const stats: CacheStats = { files: e.filenames.length, decoded: 0, reused: e.filenames.length, failed: e.failures.size, compacted: false, durationMs: 0 };
  return new ImageCache(dir, idx, opts.removeExactDuplicates ?? true, stats);
}

/**
 * Files in flight at once by default: libuv's pool size (UV_THREADPOOL_SIZE, 4 by default), which
 * runs both the file reads and sharp. More in flight than cores still helps (reads overlap decodes:
 * on 2 cores, 4 at once gave 574 img/s vs 416 with 2); more than the pool only queues.
 */
export function defaultConcurrency(): number {
  return Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
}

function fail(e: Entries, i: number, code: DecodeFailure, reason: string): void {
  e.slots[i] = FAILED;
  e.failures.set(i, { code, reason });
}

function tooManyPixels(w: number, h: number, max: number): string {
  return `${w}x${h} = ${w * h} pixels exceeds the limit of ${max}`;
}

function tooLarge(size: number, max: number): string {
  return `file is ${size} bytes, more than the limit of ${max}`;
}

const isSlabName = (s: unknown): boolean => typeof s === "string" && /^slab-[0-9a-z-]+\.u8$/.test(s);

function removeOtherSlabs(dir: string, keep: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name !== keep && (isSlabName(name) || name.startsWith("index.bin.tmp-"))) {
      try {
        fs.unlinkSync(path.join(dir, name));
      } catch {
        /* another reader may still have it open: unlinking is still fine on POSIX */
      }
    }
  }
}

/**
 * Reads a listed file, refusing symlinks (in any component or at the end) and non-regular files
 * at open time, and records the size/mtime of what was actually read as the entry's key.
 */
async function readInside(root: string, rel: string, i: number, e: Entries, maxFileBytes: number): Promise<Buffer> {
  const abs = resolveInside(root, rel);
  await checkRealInside(abs, rel);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageDecodeError("unreadable", code === "ELOOP" ? "symbolic link (not followed)" : `cannot be opened (${code ?? (err as Error).message})`);
  }
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw new ImageDecodeError("unreadable", "not a regular file");
    e.sizes[i] = Number(st.size);
    e.mtimesNs[i] = st.mtimeNs;
    if (st.size === 0n) throw new ImageDecodeError("empty", "file is empty (0 bytes)");
    if (Number(st.size) > maxFileBytes) throw new ImageDecodeError("too_large", tooLarge(Number(st.size), maxFileBytes));
    try {
      return await fh.readFile();
    } catch (err) {
      throw new ImageDecodeError("unreadable", `read failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  } finally {
    await fh.close();
  }
}

function writeFully(fd: number, data: Uint8Array, position: number): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, position + off);
}

function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  let got = 0;
  while (got < length) {
    const r = fs.readSync(fd, buf, offset + got, length - got, position + got);
    if (r === 0) throw new Error(`image cache slab ends early (wanted ${length} bytes at ${position}); rebuild the cache`);
    got += r;
  }
}

/** Copies live slots, in entry order, into a new slab file and renumbers them. */
function compactSlab(fd: number, newPath: string, slots: Int32Array, stride: number): void {
  const per = Math.max(1, Math.floor((4 << 20) / stride));
  const buf = Buffer.allocUnsafe(per * stride);
  const out = fs.openSync(newPath, "w");
  try {
    let k = 0;
    let filled = 0;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s < 0) continue;
      readFully(fd, buf, filled * stride, stride, s * stride);
      slots[i] = k++;
      if (++filled === per) {
        writeFully(out, buf.subarray(0, filled * stride), (k - filled) * stride);
        filled = 0;
      }
    }
    if (filled) writeFully(out, buf.subarray(0, filled * stride), (k - filled) * stride);
    fs.fsyncSync(out);
  } finally {
    fs.closeSync(out);
  }
}

// ---- the dataset view ---------------------------------------------------------------------------

/**
 * The usable images of a built cache, in filename order: index i of every array and of
 * readBatch() is the same image. Holds one open file and columnar arrays; no per-image objects
 * besides the filenames array. Not thread-safe across worker threads (each opens its own).
 */
export class ImageCache {
  /** Folder of this cache (pass it to openImageCache in another process). */
  readonly dir: string;
  /** S: images are S×S. */
  readonly resolution: number;
  /** Bytes per image: S*S*3. */
  readonly stride: number;
  /** Usable images, sorted by filename (code-point order). */
  readonly filenames: string[];
  /** Original widths/heights (as decoded, before the resize), parallel to filenames. */
  readonly widths: Int32Array;
  readonly heights: Int32Array;
  /** Files that could not be used, with the reason, in filename order. */
  readonly corruptFilenames: CorruptFile[];
  /** Exact duplicates (same bytes as an earlier file), listed whether or not they were dropped. */
  readonly duplicates: DuplicateFile[];
  /** Entries the folder listing refused (symlinks, non-regular files, bad names). */
  readonly refused: Refused[];
  readonly hiddenSkipped: number;
  readonly stats: CacheStats;
  private readonly slots: Int32Array;
  private readonly sha: Uint8Array;
  private fd: number;
  private staging: Buffer | null = null;

  /** @internal use buildImageCache / openImageCache */
  constructor(dir: string, idx: IndexFile, removeDuplicates: boolean, stats: CacheStats) {
    const e = idx.entries;
    this.dir = dir;
    this.resolution = idx.settings.resolution;
    this.stride = this.resolution * this.resolution * 3;
    this.refused = idx.refused;
    this.hiddenSkipped = idx.hiddenSkipped;
    this.stats = stats;
    this.corruptFilenames = [...e.failures]
      .sort((a, b) => a[0] - b[0])
      .map(([i, f]) => ({ filename: e.filenames[i]!, code: f.code, reason: f.reason }));
    // Exact duplicates: the first file (filename order) with given bytes is kept.
    const firstWith = new Map<string, number>();
    const keep: number[] = [];
    this.duplicates = [];
    for (let i = 0; i < e.filenames.length; i++) {
      if (e.slots[i]! < 0 || e.failures.has(i)) continue;
      const key = Buffer.from(e.sha256.buffer, e.sha256.byteOffset + i * 32, 32).toString("latin1");
      const first = firstWith.get(key);
      if (first === undefined) firstWith.set(key, i);
      else {
        this.duplicates.push({ filename: e.filenames[i]!, duplicateOf: e.filenames[first]! });
        if (removeDuplicates) continue;
      }
      keep.push(i);
    }
    const m = keep.length;
    this.filenames = new Array<string>(m);
    this.widths = new Int32Array(m);
    this.heights = new Int32Array(m);
    this.slots = new Int32Array(m);
    this.sha = new Uint8Array(m * 32);
    for (let k = 0; k < m; k++) {
      const i = keep[k]!;
      this.filenames[k] = e.filenames[i]!;
      this.widths[k] = e.widths[i]!;
      this.heights[k] = e.heights[i]!;
      this.slots[k] = e.slots[i]!;
      this.sha.set(e.sha256.subarray(i * 32, i * 32 + 32), k * 32);
    }
    this.fd = fs.openSync(path.join(dir, idx.slab), "r");
  }

  /** Number of usable images. */
  get length(): number {
    return this.filenames.length;
  }

  /** SHA-256 of image i's file bytes, hex. */
  sha256(i: number): string {
    this.check(i);
    return Buffer.from(this.sha.buffer, this.sha.byteOffset + i * 32, 32).toString("hex");
  }

  private check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.filenames.length) throw new RangeError(`image index ${i} out of range [0, ${this.filenames.length})`);
    return i;
  }

  /**
   * Reads images `indices` (any order, repeats allowed) into `out` (or a new buffer) as
   * [B, S, S, 3] uint8 RGB. Runs of consecutive slots are read with one call.
   */
  readBatch(indices: ArrayLike<number>, out?: Uint8Array): Batch {
    if (this.fd < 0) throw new Error("ImageCache is closed");
    const B = indices.length;
    const S = this.resolution;
    const stride = this.stride;
    const need = B * stride;
    if (out && out.byteLength < need) throw new RangeError(`out holds ${out.byteLength} bytes; the batch needs ${need}`);
    const buf = out ?? Buffer.allocUnsafeSlow(need);
    const origSizes = new Int32Array(B * 2);
    let b = 0;
    while (b < B) {
      const i = this.check(indices[b]!);
      const s0 = this.slots[i]!;
      origSizes[2 * b] = this.widths[i]!;
      origSizes[2 * b + 1] = this.heights[i]!;
      let run = 1;
      while (b + run < B) {
        const k = this.check(indices[b + run]!);
        if (this.slots[k] !== s0 + run) break;
        origSizes[2 * (b + run)] = this.widths[k]!;
        origSizes[2 * (b + run) + 1] = this.heights[k]!;
        run++;
      }
      readFully(this.fd, buf, b * stride, run * stride, s0 * stride);
      b += run;
    }
    return { data: buf.subarray(0, need), origSizes, shape: [B, S, S, 3] };
  }

  /**
   * Images `indices` as a uint8 tensor [B, 3, S, S] on `device`: read into a reused host buffer,
   * copied to the device as NHWC, permuted to NCHW there. `memoryFormat: "channels_last"` returns
   * the permuted view without the copy (NCHW shape, channels_last strides).
   */
  batchTensor(indices: ArrayLike<number>, device: Device = "cpu", opts: { memoryFormat?: "contiguous" | "channels_last" } = {}): Tensor {
    const B = indices.length;
    const need = B * this.stride;
    if (!this.staging || this.staging.length < need) this.staging = Buffer.allocUnsafeSlow(need);
    const { data } = this.readBatch(indices, this.staging);
    const S = this.resolution;
    return torch.scope(() => {
      const nhwc = torch.fromBytes(data, [B, S, S, 3], "uint8");
      const onDevice = device === "cpu" ? nhwc : nhwc.to(device);
      const nchw = onDevice.permute(0, 3, 1, 2);
      return opts.memoryFormat === "channels_last" ? nchw : nchw.contiguous();
    });
  }

  /** Original sizes of `indices` as an int32 [B, 2] (width, height) tensor on `device`. */
  origSizesTensor(indices: ArrayLike<number>, device: Device = "cpu"): Tensor {
    const B = indices.length;
    const out = new Int32Array(B * 2);
    for (let b = 0; b < B; b++) {
      const i = this.check(indices[b]!);
      out[2 * b] = this.widths[i]!;
      out[2 * b + 1] = this.heights[i]!;
    }
    return torch.tensor(out, { shape: [B, 2], device });
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.staging = null;
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
