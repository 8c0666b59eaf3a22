// Metadata the worker computes itself, for METADATA inputs with `lightly.*` keys (the fields of
// Lightly's SampleMetaData: sharpness, snr, sizeInBytes, and the shape as width/height). Lightly does
// not publish its formulas; Winnow's, on the image decoded at full size (RGB, EXIF orientation not
// applied, as PIL opens it) and its luma g = 0.299 R + 0.587 G + 0.114 B (ITU-R 601, PIL's "L"), float64:
//   lightly.sharpness   population variance of the 4-neighbour Laplacian
//                       g[y-1][x] + g[y+1][x] + g[y][x-1] + g[y][x+1] − 4 g[y][x] over the interior
//                       pixels (0 for images under 3×3): blurred images have little high frequency
//   lightly.snr         mean(g) / std(g) (population std); null for a constant image
//   lightly.sizeInBytes the file's size; for a video frame, the video file's size / its frame count
//                       (rounded: a frame is no file of its own)
//   lightly.width, lightly.height   the decoded size in pixels
// A video frame's values come from the frame decoded at full size (rotation applied, converted to RGB
// as ffmpeg writes it to PNG): one ffmpeg run per video for all of its frames asked for.
import * as fs from "node:fs";
import * as path from "node:path";
import { decodeFull } from "../data/index.js";
import { DEFAULT_MAX_PIXELS } from "../data/cache.js";
import { decodeFullFrames } from "../data/video/full-frames.js";
import { videoPath } from "../data/video/listing.js";
import { DEFAULT_DECODE_TIMEOUT_MS } from "../data/video/fill.js";
import type { RunVideos } from "./videos.js";

import { LIGHTLY_METADATA_KEYS } from "../config/selection-config.js";

export { LIGHTLY_METADATA_KEYS };
export type LightlyMetadataKey = (typeof LIGHTLY_METADATA_KEYS)[number];

/** Sharpness and SNR of an RGB image (interleaved, rows top-down). */
export function lumaStats(rgb: Uint8Array, width: number, height: number): { sharpness: number; snr: number | null } {
  const g = new Float64Array(width * height);
  for (let p = 0; p < g.length; p++) g[p] = 0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2];
  let s = 0;
  let s2 = 0;
  for (const v of g) {
    s += v;
    s2 += v * v;
  }
  const mean = s / g.length;
  const std = Math.sqrt(Math.max(0, s2 / g.length - mean * mean));
  let ls = 0;
  let ls2 = 0;
  let m = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const p = y * width + x;
      const l = g[p - width] + g[p + width] + g[p - 1] + g[p + 1] - 4 * g[p];
      ls += l;
      ls2 += l * l;
      m++;
    }
  }
  const sharpness = m ? Math.max(0, ls2 / m - (ls / m) ** 2) : 0;
  return { sharpness, snr: std > 1e-12 * Math.max(1, mean) ? mean / std : null };
}

type Columns = Record<string, (number | null)[]>;

/** lightly.sizeInBytes of a frame: its video's size / frame count, rounded; null when the video cannot be read. */
export function frameSizeInBytes(root: string, videos: RunVideos, video: string): number | null {
  const frames = videos.info(video)?.frames;
  try {
    return frames ? Math.round(fs.statSync(path.join(root, video)).size / frames) : null;
  } catch {
    return null;
  }
}

/** Sets the decoded frame's values of row j. */
function setDecoded(out: Columns, j: number, rgb: Uint8Array, width: number, height: number): void {
  if (out["lightly.width"]) out["lightly.width"][j] = width;
  if (out["lightly.height"]) out["lightly.height"][j] = height;
  if (out["lightly.sharpness"] || out["lightly.snr"]) {
    const st = lumaStats(rgb, width, height);
    if (out["lightly.sharpness"]) out["lightly.sharpness"][j] = st.sharpness;
    if (out["lightly.snr"]) out["lightly.snr"][j] = st.snr;
  }
}

/** The values of the frames among `images` (rows `rows` of each video), one decode per video; frames not decoded stay null. */
async function frameValues(root: string, videos: RunVideos, rows: Map<string, Map<number, number>>, out: Columns, decode: boolean): Promise<void> {
  for (const [video, want] of rows) {
    const size = out["lightly.sizeInBytes"] ? frameSizeInBytes(root, videos, video) : null;
    for (const j of want.values()) if (out["lightly.sizeInBytes"]) out["lightly.sizeInBytes"][j] = size;
    const info = videos.info(video);
    if (!decode || !info || info.width * info.height > DEFAULT_MAX_PIXELS) continue;
    try {
      const o = videos.listing.options;
      await decodeFullFrames(await videoPath(root, video), {
        width: info.width, height: info.height, threads: o.threads ?? 0, timeoutMs: o.decodeTimeoutMs ?? DEFAULT_DECODE_TIMEOUT_MS,
        want: (k) => want.has(k), last: [...want.keys()].reduce((m, k) => Math.max(m, k), 0),
      }, (k, px) => setDecoded(out, want.get(k)!, px, info.width, info.height));
    } catch {
      /* a video that changed or went since the listing: its frames keep null, as unreadable images */
    }
  }
}

/**
 * The asked `lightly.*` values for `images` (relative to `root`; with `videos`, frame samples too),
 * one array per key. Decoding is skipped when only the file size is asked. An image that cannot be
 * read gets null.
 */
export async function computeLightlyMetadata(root: string, images: readonly string[], keys: readonly LightlyMetadataKey[], videos?: RunVideos | null): Promise<Columns> {
  const out: Columns = Object.fromEntries(keys.map((k) => [k, new Array<number | null>(images.length).fill(null)]));
  const decode = keys.some((k) => k !== "lightly.sizeInBytes");
  const frameRows = new Map<string, Map<number, number>>();
  for (let j = 0; j < images.length; j++) {
    const f = videos?.frameOf(images[j]);
    if (f) {
      if (!frameRows.has(f.video)) frameRows.set(f.video, new Map());
      frameRows.get(f.video)!.set(f.frame, j);
      continue;
    }
    const file = path.join(root, images[j]);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      continue;
    }
    if (out["lightly.sizeInBytes"]) out["lightly.sizeInBytes"][j] = bytes.length;
    if (!decode) continue;
    try {
      const img = await decodeFull(bytes, { maxPixels: DEFAULT_MAX_PIXELS, autoOrient: false, failOn: "error", kernel: "lanczos3" });
      setDecoded(out, j, img.pixels, img.width, img.height);
    } catch {
      /* corrupt images are not among the usable ones; a file changed since then gets null */
    }
  }
  if (videos) await frameValues(root, videos, frameRows, out, decode);
  return out;
}
