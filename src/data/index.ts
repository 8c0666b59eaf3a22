// Data layer: the local folder datasource and the decode-once image cache.
export { IMAGE_EXTENSIONS, listImageFolder, resolveInside, compareCodePoints, extensionOf, PathRefused } from "./folder.js";
export type { Listing, ListOptions, Refused } from "./folder.js";
export { decodeToSquare, sniffFormat, ImageDecodeError } from "./decode.js";
export type { DecodeFailure, DecodeOptions, Decoded, ImageFormat } from "./decode.js";
export { decodeBmp } from "./bmp.js";
export {
  buildImageCache,
  openImageCache,
  cacheSizeFor,
  defaultConcurrency,
  ImageCache,
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_FILE_BYTES,
} from "./cache.js";
export type { BuildOptions, Batch, CacheStats, CorruptFile, DuplicateFile } from "./cache.js";
