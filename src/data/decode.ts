// Decoding one image file (bytes) to a square S×S uint8 RGB array (HWC) with sharp/libvips.
import sharp from "sharp";
import { decodeBmp } from "./bmp.js";
import { ImageDecodeError, tooManyPixels, type DecodeFailure } from "./decode-error.js";

export { ImageDecodeError, type DecodeFailure };

// Every image is decoded once: libvips' operation cache only holds memory (50 MB by default).
sharp.cache(false);

export type ImageFormat = "jpeg" | "png" | "webp" | "gif" | "tiff" | "bmp";

/** The format from the file's first bytes (the extension is not trusted), or null. */
export function sniffFormat(b: Uint8Array): ImageFormat | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return "png";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return "webp";
  if (b.length >= 6 && (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a")) return "gif";
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return "tiff";
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  return null;
}
function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

export interface DecodeOptions {
  /** Refuse images whose declared width*height is larger (decompression bombs). */
  maxPixels: number;
  /** Apply the EXIF orientation (PIL's Image.open, which Lightly uses, does not). */
  autoOrient: boolean;
  /** sharp's failOn: "error" aborts on decoder errors and truncation, tolerates warnings. */
  failOn: "none" | "truncated" | "error" | "warning";
  /** Resampling kernel for the resize to S×S. */
  kernel: "nearest" | "linear" | "cubic" | "mitchell" | "lanczos2" | "lanczos3";
}

export interface Decoded {
  /** S*S*3 bytes, RGB interleaved, rows top-down. */
  pixels: Buffer;
  /** Size of the image as decoded (after orientation when autoOrient), before the resize. */
  width: number;
  height: number;
  format: ImageFormat;
}

/**
 * Decodes the first frame/page of `bytes` and resizes it to size×size, ignoring the aspect ratio
 * ("squash"); the original size is returned so that crops can be taken in original coordinates.
 * Alpha is dropped, grey/CMYK/16-bit become 8-bit sRGB. Throws ImageDecodeError.
 */
export async function decodeToSquare(bytes: Buffer, size: number, opts: DecodeOptions): Promise<Decoded> {
  return decodeWith(bytes, opts, (format) => runSharp(bytes, format, size, opts));
}

/** A whole image at its own size: RGB interleaved, rows top-down (for object crops). */
export interface DecodedFull {
  pixels: Buffer;
  width: number;
  height: number;
  format: ImageFormat;
}

/** Decodes the image at full resolution (same conversions as decodeToSquare, no resize). */
export async function decodeFull(bytes: Buffer, opts: DecodeOptions): Promise<DecodedFull> {
  return decodeWith(bytes, opts, async (format) => {
    const { img, width, height } = await openSharp(bytes, format, opts);
    const { data, info } = await img.removeAlpha().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height || info.channels !== 3) throw new ImageDecodeError("corrupt", `decoder returned ${info.width}x${info.height}x${info.channels}`);
    return { pixels: data, width, height, format };
  });
}

/** The box [x0, y0, x1, y1) (integer pixels inside the image) of a decoded image, squashed to size×size. */
export async function cropToSquare(img: DecodedFull, box: [number, number, number, number], size: number, kernel: DecodeOptions["kernel"]): Promise<Buffer> {
  const [x0, y0, x1, y1] = box;
  const { data, info } = await sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 3 } })
    .extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 })
    .resize(size, size, { fit: "fill", kernel })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) throw new ImageDecodeError("corrupt", `crop returned ${info.width}x${info.height}x${info.channels}`);
  return data;
}

async function decodeWith<T>(bytes: Buffer, opts: DecodeOptions, run: (format: ImageFormat) => Promise<T>): Promise<T> {
  if (bytes.length === 0) throw new ImageDecodeError("empty", "file is empty (0 bytes)");
  const format = sniffFormat(bytes);
  if (format === null) throw new ImageDecodeError("unsupported", "not a supported image (no JPEG/PNG/WebP/GIF/TIFF/BMP signature)");
  await lock.shared();
  try {
    return await run(format);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e; // our own checks: deterministic
  } finally {
    lock.releaseShared();
  }
  // libvips keeps one error buffer for the whole process: when decodes fail at the same time their
  // messages mix ("Unknown error", one message twice, another's message). Failures are rare, so
  // the failing file is decoded again alone to get its own message (and code).
  await lock.exclusive();
  try {
    return await run(format);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    throw classify(e as Error, format, opts.maxPixels);
  } finally {
    lock.releaseExclusive();
  }
}

async function runSharp(bytes: Buffer, format: ImageFormat, size: number, opts: DecodeOptions): Promise<Decoded> {
  const { img, width, height } = await openSharp(bytes, format, opts);
  const { data, info } = await img
    .resize(size, size, { fit: "fill", kernel: opts.kernel })
    .removeAlpha()
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3 || data.length !== size * size * 3) {
    throw new ImageDecodeError("corrupt", `decoder returned ${info.width}x${info.height}x${info.channels}`);
  }
  return { pixels: data, width, height, format };
}

/** The image as a sharp pipeline with its (oriented) size, limits checked. */
async function openSharp(bytes: Buffer, format: ImageFormat, opts: DecodeOptions): Promise<{ img: sharp.Sharp; width: number; height: number }> {
  let img: sharp.Sharp;
  let width: number;
  let height: number;
  if (format === "bmp") {
    const raw = decodeBmp(bytes, opts.maxPixels);
    ({ width, height } = raw);
    img = sharp(raw.data, { raw: { width, height, channels: 3 } });
  } else {
    img = sharp(bytes, { limitInputPixels: opts.maxPixels, failOn: opts.failOn });
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new ImageDecodeError("corrupt", "image has no size");
    width = meta.width;
    height = meta.height;
    if (width * height > opts.maxPixels) {
      throw new ImageDecodeError("too_many_pixels", tooManyPixels(width, height, opts.maxPixels));
    }
    if (opts.autoOrient) {
      if ((meta.orientation ?? 1) >= 5) [width, height] = [height, width];
      img = img.autoOrient();
    }
  }
  return { img, width, height };
}

/** Shared/exclusive lock over this module's sharp calls; a waiting exclusive blocks new shared. */
const lock = (() => {
  let active = 0;
  let exclusiveHeld = false;
  let exclusiveWaiting = 0;
  let waiters: (() => void)[] = [];
  const wait = (): Promise<void> => new Promise((r) => waiters.push(r));
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    async shared(): Promise<void> {
      while (exclusiveHeld || exclusiveWaiting > 0) await wait();
      active++;
    },
    releaseShared(): void {
      active--;
      wake();
    },
    async exclusive(): Promise<void> {
      exclusiveWaiting++;
      while (exclusiveHeld || active > 0) await wait();
      exclusiveWaiting--;
      exclusiveHeld = true;
    },
    releaseExclusive(): void {
      exclusiveHeld = false;
      wake();
    },
  };
})();

function classify(e: Error, format: ImageFormat, maxPixels: number): ImageDecodeError {
  const msg = (e.message || String(e)).replace(/\s+/g, " ").trim();
  if (/exceeds pixel limit/i.test(msg)) return new ImageDecodeError("too_many_pixels", `declared size exceeds the limit of ${maxPixels} pixels (${msg})`);
  if (/corrupt header/i.test(msg)) return new ImageDecodeError("corrupt", `${format}: ${msg}`);
  if (/premature end|end of stream|truncat|unexpected end|short read|not enough data|out of data|EOF/i.test(msg)) {
    return new ImageDecodeError("truncated", `${format}: ${msg}`);
  }
  if (/unsupported image format/i.test(msg)) return new ImageDecodeError("unsupported", `${format}: ${msg}`);
  return new ImageDecodeError("corrupt", `${format}: ${msg}`);
}
