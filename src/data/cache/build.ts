// The cache builder: lists the folder, takes the cache folder's lock, reuses what the previous index
// holds, decodes the rest into the slab, compacts the slab when it is mostly garbage, and writes the
// complete index last (readers only ever open a complete index).
import * as fs from "node:fs";
import * as path from "node:path";
import { listImageFolder, type Listing } from "../folder.js";
import { listFolderWithVideos } from "../video/listing.js";
import type { DecodeOptions } from "../decode.js";
import { FORMAT_VERSION, readIndex, sameSettings, settingsDir, writeIndex, type IndexFile, type Limits, type Settings } from "./index-format.js";
import { acquireLock } from "./lock.js";
import { compactSlab, isSlabName, removeOtherSlabs } from "./slab.js";
import { cropListing, type CropListing } from "./crops.js";
import { mergeWithPrevious } from "./reuse.js";
import { SlabFill, type OpenSlab } from "./fill.js";
import { ImageCache } from "./read.js";
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS, defaultConcurrency, type BuildOptions, type CacheStats } from "./options.js";

/** Everything a build is determined by, worked out from the options before touching the cache. */
interface Plan {
  listing: Listing;
  crops: CropListing | null;
  /** The videos of the listing the crops are cut from (their sources may be frames). */
  cropVideos: Listing["videos"] | null;
  limits: Limits;
  decode: DecodeOptions;
  settings: Settings;
  dir: string;
}

async function plan(root: string, opts: BuildOptions): Promise<Plan> {
  const S = opts.resolution;
  if (!Number.isInteger(S) || S < 1 || S > 4096) throw new RangeError(`resolution must be an integer in [1, 4096], got ${S}`);
  const limits: Limits = {
    maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxFileBytes: opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
  };
  const decode: DecodeOptions = {
    maxPixels: limits.maxPixels,
    autoOrient: opts.autoOrient ?? false,
    failOn: opts.failOn ?? "error",
    kernel: opts.kernel ?? "lanczos3",
  };
  const sourceListing = opts.listing ?? (opts.videos ? await listFolderWithVideos(root, opts.videos, previousEntriesFor(opts)) : listImageFolder(root));
  const crops = opts.crops ? cropListing(sourceListing, opts.crops) : null;
  const listing = crops?.listing ?? sourceListing;
  const settings = settingsOf(listing.root, opts, crops);
  return { listing, crops, cropVideos: crops ? sourceListing.videos ?? null : null, limits, decode, settings, dir: settingsDir(opts.cacheDir, settings) };
}

type SettingsOptions = Pick<BuildOptions, "cacheDir" | "resolution" | "autoOrient" | "failOn" | "kernel">;

/** The index settings of a build with `opts` over the resolved `root`. */
function settingsOf(root: string, opts: SettingsOptions, crops: CropListing | null): Settings {
  return {
    version: FORMAT_VERSION,
    resolution: opts.resolution,
    root,
    autoOrient: opts.autoOrient ?? false,
    failOn: opts.failOn ?? "error",
    kernel: opts.kernel ?? "lanczos3",
    ...(crops ? { crops: crops.digest } : {}),
  };
}

/**
 * For listFolderWithVideos' `previous` (also when a caller lists the folder itself and passes
 * `listing`): the entries of the index a build with these options wrote before, so that unchanged
 * videos keep their frame counts without being demuxed again. Read without the lock: the index is
 * written atomically, and a count is only taken for frames recorded with the video's size and mtime.
 */
export function previousEntriesFor(opts: SettingsOptions): (resolvedRoot: string) => IndexFile["entries"] | null {
  return (resolved) => {
    const s = settingsOf(resolved, opts, null); // the whole frames' cache: a crop cache's entries are crops, not frames
    const old = readIndex(settingsDir(opts.cacheDir, s));
    return old && sameSettings(old.settings, s) ? old.entries : null;
  };
}

/** The previous index when its settings match and its slab is all there; null to start over. */
function usablePrevious(dir: string, settings: Settings, stride: number): IndexFile | null {
  const old = readIndex(dir);
  if (!old || !sameSettings(old.settings, settings) || !isSlabName(old.slab)) return null;
  let size = -1;
  try {
    size = fs.statSync(path.join(dir, old.slab)).size;
  } catch {
    /* missing */
  }
  return size < old.slotCount * stride ? null : old; // slab lost or cut: start over
}

/** Opens the slab to append to: the previous one, cut back to its indexed slots, or a new generation. */
function openSlab(dir: string, old: IndexFile | null, stride: number): OpenSlab {
  const name = old?.slab ?? `slab-${Date.now().toString(36)}.u8`;
  const count = old?.slotCount ?? 0;
  removeOtherSlabs(dir, name);
  const file = path.join(dir, name);
  const fd = fs.openSync(file, fs.existsSync(file) ? "r+" : "w+");
  try {
    fs.ftruncateSync(fd, count * stride); // drop slots a crashed build wrote but never indexed
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return { name, fd, count };
}

/** Closes the slab, first compacting it into a new generation when more than half of it is garbage. Returns whether it compacted. */
function closeSlab(dir: string, slab: OpenSlab, slots: Int32Array, stride: number): boolean {
  let live = 0;
  for (let i = 0; i < slots.length; i++) if (slots[i]! >= 0) live++;
  const compact = slab.count > 0 && slab.count - live > slab.count / 2;
  if (compact) {
    const newName = `slab-${Date.now().toString(36)}-${process.pid}.u8`;
    compactSlab(slab.fd, path.join(dir, newName), slots, stride);
    slab.name = newName;
    slab.count = live;
  } else {
    fs.fsyncSync(slab.fd);
  }
  fs.closeSync(slab.fd);
  slab.fd = -1;
  return compact;
}

/**
 * Lists `root` and brings its cache up to date: unchanged files are reused without being read,
 * new or changed files are decoded (a bounded number at a time), failures are recorded with their
 * reason. Returns the dataset view (usable images in filename order, duplicates dropped when
 * `removeExactDuplicates`). Call close() on it when done.
 */
export async function buildImageCache(root: string, opts: BuildOptions): Promise<ImageCache> {
  const t0 = performance.now();
  const p = await plan(root, opts);
  const stride = opts.resolution * opts.resolution * 3;
  fs.mkdirSync(p.dir, { recursive: true });
  const release = await acquireLock(p.dir, opts.lockTimeoutMs ?? 10 * 60_000);
  let slab: OpenSlab | null = null;
  try {
    const old = usablePrevious(p.dir, p.settings, stride);
    slab = openSlab(p.dir, old, stride);
    const cropOfVideo = p.crops && p.cropVideos ? (name: string) => p.cropVideos!.of.has(p.crops!.of.get(name)!.source) : undefined;
    const { entries, todo, reused } = mergeWithPrevious(p.listing, old, p.limits, cropOfVideo);
    const s = slab;
    const index = (complete: boolean): IndexFile => ({
      settings: p.settings, limits: p.limits, slab: s.name, slotCount: s.count, complete,
      refused: p.listing.refused, hiddenSkipped: p.listing.hiddenSkipped, entries,
    });
    opts.onProgress?.(reused, entries.filenames.length);
    const fill = new SlabFill({
      dir: p.dir, root: p.listing.root, resolution: opts.resolution, limits: p.limits, decode: p.decode,
      crops: p.crops && { listing: p.crops, padding: opts.crops!.padding, videos: p.cropVideos },
      videos: p.listing.videos ?? null,
      entries, slab, index,
      checkpointEvery: opts.checkpointEvery ?? 2048,
      concurrency: Math.max(1, Math.floor(opts.concurrency ?? defaultConcurrency())),
      onProgress: opts.onProgress,
    }, reused);
    await fill.run(todo);
    const compacted = closeSlab(p.dir, slab, entries.slots, stride);
    writeIndex(p.dir, index(true));
    removeOtherSlabs(p.dir, slab.name);
    const n = entries.filenames.length;
    const stats: CacheStats = { files: n, decoded: fill.decoded, reused, failed: entries.failures.size, compacted, durationMs: performance.now() - t0 };
    return new ImageCache(p.dir, index(true), opts.removeExactDuplicates ?? true, stats);
  } finally {
    if (slab && slab.fd >= 0) fs.closeSync(slab.fd);
    release();
  }
}
