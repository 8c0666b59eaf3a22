// The dataset view of a built cache: the usable images in filename order, read back by slot offset
// (the training hot path: one positional read per run of consecutive slots, no per-image objects).
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../../torch/index.js";
import type { Tensor, Device } from "../../torch/index.js";
import { WinnowError } from "../../util/errors.js";
import type { Refused } from "../folder.js";
import { readIndex, type Entries, type IndexFile } from "./index-format.js";
import { readFully } from "./slab.js";
import type { CacheStats, CorruptFile, DuplicateFile } from "./options.js";

export interface Batch {
  /** [B, S, S, 3] uint8, RGB, NHWC. A view of `out` when given. */
  data: Uint8Array;
  /** [B, 2]: original (width, height) of each image, before the resize to S×S. */
  origSizes: Int32Array;
  shape: [number, number, number, number];
}

/**
 * Opens a cache built earlier (for example by another process) from its folder, without listing
 * or checking the images folder. Throws when there is no complete index.
 */
export function openImageCache(dir: string, opts: { removeExactDuplicates?: boolean; exclude?: readonly string[] } = {}): ImageCache {
  const idx = readIndex(dir);
  if (!idx || !idx.complete) throw new WinnowError("not_found", `no complete image cache in ${dir}`, { where: dir });
  const e = idx.entries;
  const stats: CacheStats = { files: e.filenames.length, decoded: 0, reused: e.filenames.length, failed: e.failures.size, compacted: false, durationMs: 0 };
  return new ImageCache(dir, idx, opts.removeExactDuplicates ?? true, stats, opts.exclude);
}

/** Entries with pixels and no failure, in order; exact duplicates (same sha256) after the first are listed, and dropped when `removeDuplicates`. */
function usableEntries(e: Entries, removeDuplicates: boolean, exclude: ReadonlySet<string>): { keep: number[]; duplicates: DuplicateFile[] } {
  const firstWith = new Map<string, number>();
  const keep: number[] = [];
  const duplicates: DuplicateFile[] = [];
  for (let i = 0; i < e.filenames.length; i++) {
    if (e.slots[i]! < 0 || e.failures.has(i) || exclude.has(e.filenames[i]!)) continue;
    const key = Buffer.from(e.sha256.buffer, e.sha256.byteOffset + i * 32, 32).toString("latin1");
    const first = firstWith.get(key);
    if (first === undefined) firstWith.set(key, i);
    else {
      duplicates.push({ filename: e.filenames[i]!, duplicateOf: e.filenames[first]! });
      if (removeDuplicates) continue;
    }
    keep.push(i);
  }
  return { keep, duplicates };
}

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
  /** Entries left out of this view by the caller (e.g. the frames of a video dropped as corrupt); see without(). */
  readonly excluded: readonly string[];
  private readonly removeDuplicates: boolean;
  private readonly slots: Int32Array;
  private readonly sha: Uint8Array;
  private fd: number;
  private staging: Buffer | null = null;

  /** @internal use buildImageCache / openImageCache */
  constructor(dir: string, idx: IndexFile, removeDuplicates: boolean, stats: CacheStats, exclude: readonly string[] = []) {
    const e = idx.entries;
    this.excluded = [...exclude];
    this.removeDuplicates = removeDuplicates;
    this.dir = dir;
    this.resolution = idx.settings.resolution;
    this.stride = this.resolution * this.resolution * 3;
    this.refused = idx.refused;
    this.hiddenSkipped = idx.hiddenSkipped;
    this.stats = stats;
    this.corruptFilenames = [...e.failures]
      .sort((a, b) => a[0] - b[0])
      .map(([i, f]) => ({ filename: e.filenames[i]!, code: f.code, reason: f.reason }));
    const { keep, duplicates } = usableEntries(e, removeDuplicates, new Set(exclude));
    this.duplicates = duplicates;
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
    const onCpu = torch.sameDevice(device, "cpu");
    return torch.scope(() => {
      const nhwc = torch.fromBytes(data, [B, S, S, 3], "uint8");
      const onDevice = onCpu ? nhwc : nhwc.to(device);
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

  /**
   * The same cache without `names` (and without what this view excluded already), as a new view; this
   * one stays open. Another process gets the same view with openImageCache(dir, { exclude: excluded }).
   */
  without(names: Iterable<string>): ImageCache {
    const idx = readIndex(this.dir);
    if (!idx || !idx.complete) throw new WinnowError("not_found", `no complete image cache in ${this.dir}`, { where: this.dir });
    return new ImageCache(this.dir, idx, this.removeDuplicates, this.stats, [...new Set([...this.excluded, ...names])]);
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
