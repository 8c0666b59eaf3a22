// The decode-once image cache: every image of a folder decoded once (sharp/libvips), resized to
// S×S, and stored as uint8 RGB in one fixed-stride file ("slab", [slots, S, S, 3]); batches are
// read back by offset on demand. See src/data/README.md for the design and its reasons.
//
// On disk, in <cacheDir>/<S>px-<settings hash>/:
//   index.bin          the index (cache/index-format.ts), replaced atomically
//   slab-<gen>.u8      the pixels: slot k at byte k*stride, stride = S*S*3 (NHWC, RGB) (cache/slab.ts)
//   lock               held by the process that is building/updating the cache (cache/lock.ts)
// Entries are keyed by relative filename + file size + mtime (ns); resolution and decode settings
// are part of the folder name. The slab is append-only during a build (changed files get new
// slots, old slots become garbage); when garbage exceeds half of it, it is compacted into a new
// generation file and the index switches to it atomically.
//
// This file is the cache's public face; one idea per file under cache/: the builder (build.ts,
// reuse.ts, fill.ts, source-file.ts), crop entries (crops.ts) and the reader (read.ts).
export { buildImageCache, previousEntriesFor } from "./cache/build.js";
export { openImageCache, ImageCache, type Batch } from "./cache/read.js";
export { paddedCropBox, CROP_SEPARATOR, type CropBox, type CropRequests } from "./cache/crops.js";
export {
  cacheSizeFor,
  defaultConcurrency,
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_FILE_BYTES,
  type BuildOptions,
  type CacheStats,
  type CorruptFile,
  type DuplicateFile,
} from "./cache/options.js";
