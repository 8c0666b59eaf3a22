// Video frames in a cache build: each video is decoded once, in one ffmpeg run, for all of its
// frames still to do; each frame is stored as it arrives (memory: one frame). Frames the decode did
// not deliver (truncated or corrupt data, timeout) are recorded as failed with the video's name and
// the reason; the frames before them are kept.
import * as crypto from "node:crypto";
import { ImageDecodeError, tooManyPixels, type DecodeFailure } from "../decode-error.js";
import type { DecodeOptions } from "../decode.js";
import { PathRefused } from "../folder.js";
import { decodeFrames } from "./frames.js";
import { reasonWithName, videoPath, type VideoListing } from "./listing.js";

export interface FrameSink {
  /** Stores frame pixels as entry i; false when the build is already failing (nothing stored). */
  store(i: number, pixels: Uint8Array, width: number, height: number, sha256: Uint8Array): boolean;
  fail(i: number, code: DecodeFailure, reason: string): void;
}

export const DEFAULT_DECODE_TIMEOUT_MS = 10 * 60_000;

export class VideoFill {
  /** Video → (frame index → entry index) of the frames to decode, and its decode once started. */
  private readonly pending = new Map<string, { want: Map<number, number>; left: number; run: Promise<void> | null }>();

  constructor(
    private readonly videos: VideoListing,
    private readonly root: string,
    private readonly size: number,
    private readonly kernel: DecodeOptions["kernel"],
    private readonly maxPixels: number,
    private readonly sink: FrameSink,
  ) {}

  /** Whether entry `name` is a video frame (or a video that failed to probe). */
  has(name: string): boolean {
    return this.videos.of.has(name);
  }

  /** Registers the to-do entries before any is processed. */
  plan(todo: readonly number[], filenames: readonly string[]): void {
    for (const i of todo) {
      const v = this.videos.of.get(filenames[i]!);
      if (!v || v.frame < 0) continue;
      let p = this.pending.get(v.video);
      if (!p) this.pending.set(v.video, (p = { want: new Map(), left: 0, run: null }));
      p.want.set(v.frame, i);
      p.left++;
    }
  }

  /** Settles entry i: throws ImageDecodeError for a video that could not be probed; otherwise waits for its video's decode. */
  async process(i: number, name: string): Promise<void> {
    const v = this.videos.of.get(name)!;
    const probed = this.videos.videos.get(v.video)!;
    if ("failure" in probed) throw new ImageDecodeError(probed.failure.code, probed.failure.reason);
    const { width, height } = probed.info;
    // Same rule as images (and as reuse.ts applies to cached entries); the file-size limit is not for videos.
    if (width * height > this.maxPixels) throw new ImageDecodeError("too_many_pixels", tooManyPixels(width, height, this.maxPixels));
    const p = this.pending.get(v.video)!;
    p.run ??= this.decode(v.video, probed.info.frames, probed.info.width, probed.info.height, p.want);
    try {
      await p.run;
    } finally {
      if (--p.left === 0) this.pending.delete(v.video);
    }
  }

  private async decode(video: string, frames: number, width: number, height: number, want: Map<number, number>): Promise<void> {
    const o = this.videos.options;
    let result;
    let abs = "";
    try {
      abs = await videoPath(this.root, video);
      // The limit again for frames after the first (a header may promise a small size): doubled, as
      // the decoder checks its padded buffers (160×120 VP9 measured over 19,200), not the frame.
      result = await decodeFrames(abs, { size: this.size, kernel: this.kernel, threads: o.threads ?? 0, timeoutMs: o.decodeTimeoutMs ?? DEFAULT_DECODE_TIMEOUT_MS, maxPixels: 2 * this.maxPixels }, (k, px) => {
        const i = want.get(k);
        if (i === undefined) return;
        // Per-frame identity: frames are never exact duplicates of each other or of images.
        const h = crypto.createHash("sha256").update(`video-frame\0${video}\0${k}\0`).update(px).digest();
        if (this.sink.store(i, px, width, height, h)) want.delete(k);
      });
    } catch (e) {
      if (!(e instanceof PathRefused)) throw e; // ffmpeg missing, bugs: the build fails
      result = { decoded: 0, error: e.reason };
    }
    for (const [k, i] of want) {
      if (k < result.decoded) continue; // decoded, but the build was failing: left pending
      const why = result.error ? reasonWithName(result.error, abs, video) : "the decoder delivered fewer frames than the container lists";
      this.sink.fail(i, "truncated", `video ${JSON.stringify(video)}: frame ${k} of ${frames} not decoded (${result.decoded} decoded): ${why}`);
    }
  }
}
