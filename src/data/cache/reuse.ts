// Incremental builds: the new listing merged with the previous index in one pass (both are sorted).
// An unchanged file (same name, size and mtime) keeps its slot or its recorded failure without being
// read; everything else goes on the to-do list.
import type { Listing } from "../folder.js";
import type { DecodeFailure } from "../decode.js";
import { compareCodePoints } from "../folder.js";
import { FAILED, PENDING, newEntries, type Entries, type IndexFile, type Limits } from "./index-format.js";
import { tooManyPixels } from "../decode-error.js";
import { tooLarge } from "./source-file.js";

/** Failures that depend on the limits, or may be transient, are retried; the others are kept. */
function retryFailure(code: DecodeFailure, limitsChanged: boolean): boolean {
  return code === "unreadable" || (limitsChanged && (code === "too_many_pixels" || code === "too_large"));
}

export interface Merged {
  entries: Entries;
  /** Entry indices to read and decode, ascending. */
  todo: number[];
  reused: number;
}

/** `fromVideo(name)`: whether an entry comes from a video (the file-size limit is not for videos); default: listed frames. */
export function mergeWithPrevious(listing: Listing, old: IndexFile | null, limits: Limits, fromVideo?: (name: string) => boolean): Merged {
  const n = listing.filenames.length;
  const e = newEntries(listing.filenames);
  e.sizes.set(listing.sizes);
  e.mtimesNs.set(listing.mtimesNs);
  const limitsChanged = !!old && (old.limits.maxPixels !== limits.maxPixels || old.limits.maxFileBytes !== limits.maxFileBytes);
  const todo: number[] = [];
  let reused = 0;
  const oe = old?.entries;
  const frames = listing.videos?.of;
  const video = fromVideo ?? ((name: string) => !!frames?.has(name));
  let j = 0;
  for (let i = 0; i < n; i++) {
    let match = -1;
    if (oe) {
      const name = e.filenames[i]!;
      while (j < oe.filenames.length && compareCodePoints(oe.filenames[j]!, name) < 0) j++;
      if (j < oe.filenames.length && oe.filenames[j] === name) match = j;
    }
    if (match >= 0 && oe!.sizes[match] === e.sizes[i] && oe!.mtimesNs[match] === e.mtimesNs[i] && reuseEntry(oe!, match, e, i, limits, limitsChanged, !video(e.filenames[i]!))) reused++;
    else todo.push(i);
  }
  return { entries: e, todo, reused };
}

/** Copies old entry `m` into new entry `i` when it can be kept as it is; false when it must be decoded again. */
function reuseEntry(oe: Entries, m: number, e: Entries, i: number, limits: Limits, limitsChanged: boolean, sizeLimited = true): boolean {
  const slot = oe.slots[m]!;
  if (slot === PENDING) return false;
  if (slot >= 0) {
    // Pixels are cached. A failure recorded with them can only be a limit refusal: the
    // limits are checked again now, so lowering and raising them needs no decoding.
    e.slots[i] = slot;
    e.widths[i] = oe.widths[m]!;
    e.heights[i] = oe.heights[m]!;
    e.sha256.set(oe.sha256.subarray(m * 32, m * 32 + 32), i * 32);
    const px = e.widths[i]! * e.heights[i]!;
    if (px > limits.maxPixels) e.failures.set(i, { code: "too_many_pixels", reason: tooManyPixels(e.widths[i]!, e.heights[i]!, limits.maxPixels) });
    else if (sizeLimited && e.sizes[i]! > limits.maxFileBytes) e.failures.set(i, { code: "too_large", reason: tooLarge(e.sizes[i]!, limits.maxFileBytes) });
    return true;
  }
  const f = oe.failures.get(m);
  if (f && !retryFailure(f.code, limitsChanged)) {
    e.slots[i] = FAILED;
    e.failures.set(i, f);
    return true;
  }
  return false;
}
