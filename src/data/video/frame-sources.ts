// Video frames as the source images of object crops (a crop cache over a listing with videos): each
// video is decoded once at full size (full-frames.ts) for all of its frames that have crops to cut;
// a frame is handed to the crops that wait for it and kept until the last of them is cut, while the
// decoder waits (memory: about one full-size frame per video being cut, whatever the video's length).
// A frame the decode does not deliver fails its crops with the video's name and the reason.
import * as crypto from "node:crypto";
import { ImageDecodeError, tooManyPixels } from "../decode-error.js";
import type { DecodedFull } from "../decode.js";
import { PathRefused } from "../folder.js";
import { decodeFullFrames } from "./full-frames.js";
import { videoPath, type VideoListing } from "./listing.js";
import { DEFAULT_DECODE_TIMEOUT_MS } from "./fill.js";

/** A decoded frame: its pixels and a hash of them (crop identity in the cache). */
export interface FrameSource {
  img: DecodedFull;
  hash: Buffer;
}

interface Waiting {
  resolve: (s: FrameSource) => void;
  reject: (e: unknown) => void;
  promise: Promise<FrameSource>;
  /** Set when the frame's last crop is cut: the decoder moves on. */
  done: () => void;
  released: Promise<void>;
}

function waiting(): Waiting {
  let resolve!: Waiting["resolve"];
  let reject!: Waiting["reject"];
  let done!: () => void;
  const promise = new Promise<FrameSource>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined); // a frame nobody asks for any more may fail unobserved
  const released = new Promise<void>((res) => (done = res));
  return { resolve, reject, promise, done, released };
}

export class FrameSources {
  /** Video → its wanted frames (frame index → waiting slot) and its decode once started. */
  private readonly videos = new Map<string, { frames: Map<number, Waiting>; run: Promise<void> | null; stop: boolean }>();

  constructor(
    private readonly listing: VideoListing,
    private readonly root: string,
    private readonly maxPixels: number,
  ) {}

  /** Whether `name` (a crop's source) is a video frame or a video that could not be probed. */
  has(name: string): boolean {
    return this.listing.of.has(name);
  }

  /** Registers the frames that have crops to cut, before any is asked for. */
  plan(sources: Iterable<string>): void {
    for (const name of sources) {
      const v = this.listing.of.get(name);
      if (!v || v.frame < 0) continue;
      let p = this.videos.get(v.video);
      if (!p) this.videos.set(v.video, (p = { frames: new Map(), run: null, stop: false }));
      if (!p.frames.has(v.frame)) p.frames.set(v.frame, waiting());
    }
  }

  /** The full-size frame `name` (starts its video's decode on the first call). */
  frame(name: string): Promise<FrameSource> {
    const v = this.listing.of.get(name)!;
    const probed = this.listing.videos.get(v.video)!;
    if ("failure" in probed) return Promise.reject(new ImageDecodeError(probed.failure.code, probed.failure.reason));
    const { width, height } = probed.info;
    if (width * height > this.maxPixels) return Promise.reject(new ImageDecodeError("too_many_pixels", tooManyPixels(width, height, this.maxPixels)));
    const p = this.videos.get(v.video)!;
    p.run ??= this.decode(v.video, probed.info.frames, width, height, p);
    return p.frames.get(v.frame)!.promise;
  }

  /** Every crop of frame `name` is cut: its pixels may go, and the decoder goes on. */
  release(name: string): void {
    const v = this.listing.of.get(name);
    const w = v && this.videos.get(v.video)?.frames.get(v.frame);
    w?.done();
  }

  /** Stops the decodes still running (a failing build) and waits for them. */
  async close(): Promise<void> {
    for (const p of this.videos.values()) {
      p.stop = true;
      for (const w of p.frames.values()) w.done();
    }
    await Promise.all([...this.videos.values()].map((p) => p.run));
  }

  private async decode(video: string, frames: number, width: number, height: number, p: { frames: Map<number, Waiting>; stop: boolean }): Promise<void> {
    let last = 0;
    for (const k of p.frames.keys()) last = Math.max(last, k); // no spread: a long video has more frames than call arguments
    let result: { decoded: number; error: string | null };
    try {
      const abs = await videoPath(this.root, video);
      const o = this.listing.options;
      result = await decodeFullFrames(abs, { width, height, threads: o.threads ?? 0, timeoutMs: o.decodeTimeoutMs ?? DEFAULT_DECODE_TIMEOUT_MS, want: (k) => p.frames.has(k), last }, async (k, px) => {
        if (p.stop) throw new StopDecode();
        const w = p.frames.get(k)!;
        w.resolve({ img: { pixels: px, width, height, format: "png" }, hash: crypto.createHash("sha256").update(`video-frame\0${video}\0${k}\0`).update(px).digest() });
        await w.released; // px is the decoder's buffer: valid until the frame's crops are cut
      });
    } catch (e) {
      if (e instanceof StopDecode) result = { decoded: 0, error: "the cache build stopped" };
      else if (e instanceof PathRefused) result = { decoded: 0, error: e.reason };
      else {
        for (const w of p.frames.values()) w.reject(e); // ffmpeg missing, bugs: the crops' build fails
        return;
      }
    }
    for (const [k, w] of p.frames) {
      if (k < result.decoded) continue;
      const why = result.error ?? "the decoder delivered fewer frames than the container lists";
      w.reject(new ImageDecodeError("truncated", `video ${JSON.stringify(video)}: frame ${k} of ${frames} not decoded (${result.decoded} decoded): ${why}`));
    }
  }
}

class StopDecode extends Error {}
