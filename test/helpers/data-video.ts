// Shared by the video tests: ffmpeg as the test's own tool (making clips, the reference PNG decode)
// and pixel comparison.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import assert from "node:assert/strict";
import sharp from "sharp";
import { decodeFrames, type FrameDecodeOptions } from "../../src/data/video/frames.js";

export const ff = (...args: string[]): void => {
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-threads", "1", ...args]);
};

/** ffmpeg's own decode of every frame to PNG files in `out` (through `vf` when given), read back as RGB. */
export async function ffmpegPngs(file: string, out: string, vf: string | null): Promise<Buffer[]> {
  ff("-i", file, "-fps_mode", "passthrough", ...(vf ? ["-vf", vf] : []), "-pix_fmt", "rgb24", path.join(out, "f%04d.png"));
  const names = fs.readdirSync(out).filter((n) => n.endsWith(".png")).sort();
  return Promise.all(names.map(async (n) => (await sharp(path.join(out, n)).raw().toBuffer())));
}

/** Our decode (the CLI pipe) of every frame, copied out. */
export async function ourFrames(file: string, opts: FrameDecodeOptions): Promise<{ frames: Buffer[]; error: string | null }> {
  const frames: Buffer[] = [];
  const r = await decodeFrames(file, opts, (k, px) => {
    assert.equal(k, frames.length);
    frames.push(Buffer.from(px));
  });
  assert.equal(r.decoded, frames.length);
  return { frames, error: r.error };
}

export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}
