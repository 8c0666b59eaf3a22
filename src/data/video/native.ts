// The video addon (native/video/video.c: FFmpeg's libraries in process), loaded on first use so that
// folders without videos never need it. Typed here; the policy around it is probe.ts and frames.ts.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeProbe {
  /** Packets of the first video stream (-1 when not counted). */
  frames: number;
  width: number;
  height: number;
  /** The display matrix's rotation as ffprobe reports it (degrees counter-clockwise), else the `rotate` tag negated, else 0. */
  rotation: number;
  durationS: number;
  codec: string;
  /** With countPackets "times": each packet's time in seconds (pts, else dts; NaN when neither), in file order. */
  times?: Float64Array;
}

/** An open decoder (a napi External freed by close() or by the garbage collector). */
export type NativeDecoder = { readonly __videoDecoder: unique symbol };

export interface NativeRead {
  /** Frames written to the buffer by this call. */
  frames: number;
  /** The input ended (or decoding stopped at an error); no more frames will come. */
  done: boolean;
  /** The last problem met so far (decoding goes on past bad packets), else null. */
  error: string | null;
  /** The deadline passed (then done is true). */
  timedOut: boolean;
}

export interface VideoAddon {
  /** Rejects with an Error whose `code` is "corrupt" or "unsupported" and whose message is the reason ("timeout" on the deadline). */
  probe(path: string, countPackets: boolean | "times", timeoutMs: number): Promise<NativeProbe>;
  /**
   * `chain`: an ffmpeg filter chain ending in `width`×`height` rgb24 (after the CLI's autorotate
   * filters). `maxPixels`: the decoder refuses frames larger than this (0 or absent: libavcodec's own limit).
   */
  open(path: string, chain: string, width: number, height: number, threads: number, timeoutMs: number, maxPixels?: number): Promise<NativeDecoder>;
  /** Decodes up to `max` frames into `buffer` (frames packed, width × height × 3 bytes each). */
  read(decoder: NativeDecoder, buffer: Buffer, max: number): Promise<NativeRead>;
  close(decoder: NativeDecoder): void;
  versions(): { libavformat: string; libavcodec: string; libavfilter: string };
}

const here = dirname(fileURLToPath(import.meta.url));
let addon: VideoAddon | null = null;

/** What a rejection of the addon says about the file (its kind in `code`; "timeout" when the deadline passed), or null when it is not about the file (a bug, bad arguments: rethrow). */
export function fileError(e: unknown): { kind: string; why: string; timedOut: boolean } | null {
  const kind = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof Error) || typeof kind !== "string") return null;
  return { kind, why: e.message, timedOut: e.message === "timeout" };
}

/** A call into the addon over a file: a probe that counts packets, one that reads headers only, a decode. */
export interface VideoCall {
  op: "count" | "headers" | "decode" | "times";
  file: string;
}
let taps: VideoCall[][] = [];

export function noteVideoCall(op: VideoCall["op"], file: string): void {
  for (const t of taps) t.push({ op, file });
}

/** Records the calls from now on, for tests that show work was skipped (a re-sync counts and decodes nothing): take() returns and clears them. */
export function tapVideoCalls(): { take(): VideoCall[]; stop(): void } {
  let calls: VideoCall[] = [];
  taps.push(calls);
  return {
    take: () => calls.splice(0),
    stop: () => {
      taps = taps.filter((t) => t !== calls);
      calls = [];
    },
  };
}

/** The loaded addon; a clear error when it is not built. */
export function videoAddon(): VideoAddon {
  if (addon) return addon;
  // src/data/video/ and dist/data/video/ → package root; one more level for dist/src/data/video/.
  const candidates = [join(here, "..", "..", ".."), join(here, "..", "..", "..", "..")].map((root) => join(root, "build", "Release", "winnow_video.node"));
  const found = process.env.WINNOW_VIDEO_NATIVE ?? candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`the video decoder is not built (${candidates[0]} is missing): install FFmpeg's development files ` +
      "(sudo apt-get install -y libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev pkg-config, or sudo bash scripts/setup.sh), " +
      "then: npm run build:video");
  }
  addon = createRequire(import.meta.url)(found) as VideoAddon;
  return addon;
}
