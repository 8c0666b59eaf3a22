// Decoding the to-do entries of a build into the slab: a bounded number of files in flight (reads
// and sharp run on libuv's pool), each decoded image appended as the next slot, failures recorded
// with their reason, and the index checkpointed every so often so an interrupted build resumes.
// Crops: each source image is read and decoded once for all its boxes (entries of one file are next
// to each other in the to-do order, so the decoded image lives only while they run). Crops of video
// frames take their frame from the video's full-size decode (video/frame-sources.ts).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { PathRefused } from "../folder.js";
import { decodeToSquare, decodeFull, cropToSquare, ImageDecodeError, type DecodeFailure, type DecodeOptions, type DecodedFull } from "../decode.js";
import { FAILED, writeIndex, type Entries, type IndexFile, type Limits } from "./index-format.js";
import { writeFully } from "./slab.js";
import { readInside } from "./source-file.js";
import { paddedCropBox, type CropListing } from "./crops.js";
import { VideoFill } from "../video/fill.js";
import { FrameSources } from "../video/frame-sources.js";
import type { VideoListing } from "../video/listing.js";

/** The slab being written: its file name, open descriptor and next free slot. */
export interface OpenSlab {
  name: string;
  fd: number;
  count: number;
}

export interface FillJob {
  dir: string;
  root: string;
  resolution: number;
  limits: Limits;
  decode: DecodeOptions;
  /** `videos`: the source listing's videos, when crop sources may be video frames. */
  crops: { listing: CropListing; padding: number; videos?: VideoListing | null } | null;
  /** Video frames among the entries (listFolderWithVideos), or null. */
  videos?: VideoListing | null;
  entries: Entries;
  slab: OpenSlab;
  /** The index as it stands (complete or not), for checkpoints. */
  index: (complete: boolean) => IndexFile;
  checkpointEvery: number;
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

type Source = { hash: Buffer; img: DecodedFull; size: number; mtimeNs: bigint };

export class SlabFill {
  /** Files read and decoded (failed attempts included). */
  decoded = 0;
  private done: number;
  private sinceCheckpoint = 0;
  private fatal: unknown = null;
  private readonly stride: number;
  private readonly sources = new Map<string, { pending: number; image: Promise<Source> | null }>();
  private readonly videos: VideoFill | null;
  private readonly frameSources: FrameSources | null;

  constructor(private readonly job: FillJob, settled: number) {
    this.done = settled;
    this.stride = job.resolution * job.resolution * 3;
    this.videos = job.videos ? new VideoFill(job.videos, job.root, job.resolution, job.decode.kernel, job.limits.maxPixels, {
      store: (i, px, w, h, sha) => !this.fatal && (this.store(i, px, w, h, sha), true),
      fail: (i, code, reason) => this.fail(i, code, reason),
    }) : null;
    this.frameSources = job.crops?.videos ? new FrameSources(job.crops.videos, job.root, job.limits.maxPixels) : null;
  }

  /** Decodes entries `todo`; rethrows the first error that is not the file's fault, after checkpointing what was decoded. */
  async run(todo: number[]): Promise<void> {
    const { crops, entries } = this.job;
    this.videos?.plan(todo, entries.filenames);
    if (crops) for (const i of todo) {
      const src = crops.listing.of.get(entries.filenames[i]!)!.source;
      const s = this.sources.get(src);
      if (s) s.pending++;
      else this.sources.set(src, { pending: 1, image: null });
    }
    this.frameSources?.plan(this.sources.keys());
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!this.fatal && next < todo.length) {
        const i = todo[next++]!;
        try {
          await this.processOne(i);
        } catch (err) {
          this.fatal ??= err;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.job.concurrency, Math.max(1, todo.length)) }, worker));
    } finally {
      await this.frameSources?.close(); // no ffmpeg left running, also when the build fails
    }
    if (this.fatal) {
      try {
        this.checkpoint(); // keep what was decoded
      } catch {
        /* the original error matters more */
      }
      throw this.fatal;
    }
  }

  private async processOne(i: number): Promise<void> {
    this.decoded++;
    try {
      const name = this.job.entries.filenames[i]!;
      if (this.videos?.has(name)) await this.videos.process(i, name);
      else if (this.job.crops) await this.processCrop(i);
      else if (!(await this.processImage(i))) return;
    } catch (err) {
      if (err instanceof ImageDecodeError) this.fail(i, err.code, err.message);
      else if (err instanceof PathRefused) this.fail(i, "unreadable", err.reason);
      else throw err; // disk full on the cache, bugs: the build fails
    }
    if (++this.sinceCheckpoint >= this.job.checkpointEvery) {
      this.sinceCheckpoint = 0;
      this.checkpoint();
    }
    this.job.onProgress?.(++this.done, this.job.entries.filenames.length);
  }

  /** A whole image; false when another file already failed the build (nothing stored). */
  private async processImage(i: number): Promise<boolean> {
    const { entries: e, root, limits, resolution } = this.job;
    const bytes = await readInside(root, e.filenames[i]!, i, e, limits.maxFileBytes);
    const hash = crypto.createHash("sha256").update(bytes).digest();
    const img = await decodeToSquare(bytes, resolution, this.job.decode);
    if (this.fatal) return false;
    this.store(i, img.pixels, img.width, img.height, hash);
    return true;
  }

  private async processCrop(i: number): Promise<void> {
    const { entries: e, crops, resolution } = this.job;
    const { source, box } = crops!.listing.of.get(e.filenames[i]!)!;
    const s = this.sources.get(source)!;
    s.image ??= this.frameSources?.has(source) ? this.frameSource(source, i) : this.readSource(source, i);
    try {
      const src = await s.image;
      e.sizes[i] = src.size;
      e.mtimesNs[i] = src.mtimeNs;
      const b = paddedCropBox(box.bbox, crops!.padding, src.img.width, src.img.height);
      if (!b) throw new ImageDecodeError("bad_box", `box [${box.bbox.join(", ")}] (x, y, w, h) does not overlap the ${src.img.width}x${src.img.height} image`);
      const pixels = await cropToSquare(src.img, b, resolution, this.job.decode.kernel);
      if (this.fatal) return;
      // Per-crop identity: the file's bytes and the crop box (exact-duplicate files still pair up crop by crop).
      this.store(i, pixels, b[2] - b[0], b[3] - b[1], crypto.createHash("sha256").update(src.hash).update(JSON.stringify(b)).digest());
    } finally {
      if (--s.pending === 0) {
        this.sources.delete(source);
        this.frameSources?.release(source);
      }
    }
  }

  /** A video frame as a crop source; size and mtime are the video's (a changed video re-cuts its crops). */
  private async frameSource(source: string, i: number): Promise<Source> {
    const { entries: e } = this.job;
    const f = await this.frameSources!.frame(source);
    return { hash: f.hash, img: f.img, size: e.sizes[i]!, mtimeNs: e.mtimesNs[i]! };
  }

  private async readSource(source: string, i: number): Promise<Source> {
    const { entries: e, root, limits } = this.job;
    const bytes = await readInside(root, source, i, e, limits.maxFileBytes);
    return { hash: crypto.createHash("sha256").update(bytes).digest(), img: await decodeFull(bytes, this.job.decode), size: e.sizes[i]!, mtimeNs: e.mtimesNs[i]! };
  }

  /** Appends the pixels as the next slot of entry i. */
  private store(i: number, pixels: Uint8Array, width: number, height: number, sha256: Uint8Array): void {
    const { entries: e, slab } = this.job;
    const slot = slab.count++;
    writeFully(slab.fd, pixels, slot * this.stride);
    e.slots[i] = slot;
    e.widths[i] = width;
    e.heights[i] = height;
    e.sha256.set(sha256, i * 32);
  }

  private fail(i: number, code: DecodeFailure, reason: string): void {
    this.job.entries.slots[i] = FAILED;
    this.job.entries.failures.set(i, { code, reason });
  }

  /** Pixels first, then the index that points at them. */
  private checkpoint(): void {
    fs.fsyncSync(this.job.slab.fd);
    writeIndex(this.job.dir, this.job.index(false));
  }
}
