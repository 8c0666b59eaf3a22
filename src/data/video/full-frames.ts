// A video's frames at their full (displayed) size, for what needs the frame as the video has it rather
// than the cache's S×S copy: object crops cut from frames, and the worker's `lightly.*` metadata
// (sharpness, SNR, shape) of frames. Decoded in process like the cache's frames (frames.ts, the video
// addon), converted to rgb24 the way `ffmpeg -pix_fmt rgb24` writes PNGs, every decoded frame kept
// and rotation flags applied. The consumer may be async: the decode waits for it, so memory stays
// at two frames whatever the length.
import { decodeRgb, type FrameDecodeResult, type RgbDecodeOptions } from "./frames.js";

export interface FullFrameOptions extends RgbDecodeOptions {
  /** The displayed size (VideoInfo's width/height, rotation applied). */
  width: number;
  height: number;
}

/**
 * Decodes the first video stream of `abs` (a checked absolute path), awaiting onFrame(index, pixels)
 * for each wanted frame in order; `pixels` (width × height × 3, rows top-down) is only valid until the
 * returned promise settles. Errors of the file are returned, not thrown; an exception from onFrame
 * stops the decode and is rethrown.
 */
export function decodeFullFrames(abs: string, o: FullFrameOptions, onFrame: (index: number, pixels: Buffer) => void | Promise<void>): Promise<FrameDecodeResult> {
  // The CLI's `-pix_fmt rgb24` for PNG: a format filter, converted with its default (bicubic) flags.
  // A frame of another size than the probed one is an error anyway; the decoder limit keeps one that
  // a header understated from being allocated at all (twice the size, plus a megapixel for the
  // decoder's padded buffers at small sizes).
  return decodeRgb(abs, "format=rgb24", o.width, o.height, { maxPixels: 2 * o.width * o.height + (1 << 20), ...o }, onFrame);
}
