// Why an image file cannot be used. The file's content is the problem (invalid_input in the error
// table); `code` is the finer reason the cache records and reports as Lightly's corrupt_filenames.
import { WinnowError } from "../util/errors.js";

/** Why an image could not be used (stable codes; the message gives details). */
export type DecodeFailure =
  | "empty" // zero-byte file
  | "too_large" // file bigger than maxFileBytes
  | "too_many_pixels" // declared width*height above maxPixels (decompression bomb)
  | "unsupported" // not one of the supported formats, or an unsupported variant
  | "truncated" // data ends early
  | "corrupt" // the decoder failed
  | "unreadable" // I/O error, symlink found at open time, not a regular file
  | "bad_box"; // object crops: the box does not overlap the image

export class ImageDecodeError extends WinnowError<DecodeFailure> {
  constructor(code: DecodeFailure, message: string, opts: { where?: string; cause?: unknown } = {}) {
    super(code, message, opts);
  }
}

/** The reason given for an image over the pixel limit (decompression bomb), wherever it is caught. */
export function tooManyPixels(w: number, h: number, max: number): string {
  return `${w}x${h} = ${w * h} pixels exceeds the limit of ${max}`;
}
