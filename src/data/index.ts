// Data layer: the local folder datasource and the decode-once image cache.
export { IMAGE_EXTENSIONS, listImageFolder, resolveInside, compareCodePoints, extensionOf, PathRefused } from "./folder.js";
export type { Listing, ListOptions, Refused } from "./folder.js";
export { decodeToSquare, decodeFull, cropToSquare, sniffFormat, ImageDecodeError } from "./decode.js";
export type { DecodeFailure, DecodeOptions, Decoded, ImageFormat } from "./decode.js";
export { decodeBmp } from "./bmp.js";
export {
  buildImageCache,
  openImageCache,
  cacheSizeFor,
  paddedCropBox,
  CROP_SEPARATOR,
  defaultConcurrency,
  ImageCache,
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_FILE_BYTES,
  previousEntriesFor,
} from "./cache.js";
export type { BuildOptions, Batch, CacheStats, CorruptFile, DuplicateFile, CropBox, CropRequests } from "./cache.js";
