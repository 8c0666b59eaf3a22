// Object crops as cache entries: each box of a source image becomes an entry `<file>#<index>`, listed
// in code-point order with its source file's size and mtime (so a changed source re-decodes its crops).
import * as crypto from "node:crypto";
import { WinnowError } from "../../util/errors.js";
import { compareCodePoints, type Listing } from "../folder.js";

/** One object box of a source image: `bbox` [x, y, w, h] in pixels (top-left origin), as in the predictions. */
export interface CropBox {
  /** The prediction's index in its file: the entry is named `<file>#<index>`. */
  index: number;
  bbox: [number, number, number, number];
}

export interface CropRequests {
  /** Source image (relative filename, as listed) → its boxes. Files without boxes give no entries. */
  boxes: Map<string, CropBox[]>;
  /** Each side grows by this fraction of the box's width (left/right) and height (top/bottom), then the box is clipped to the image. Lightly's default 0.1. */
  padding: number;
}

/** Separates the source filename from the crop index in crop entry names. */
export const CROP_SEPARATOR = "#";

/** The padded box clipped to a w×h image, in whole pixels [x0, y0, x1, y1); null when the box does not overlap the image. */
export function paddedCropBox(bbox: readonly number[], padding: number, w: number, h: number): [number, number, number, number] | null {
  const [x, y, bw, bh] = bbox as [number, number, number, number];
  if (!(x < w && y < h && x + bw > 0 && y + bh > 0)) return null; // the object itself is outside the image
  const x0 = Math.max(0, Math.floor(x - padding * bw));
  const y0 = Math.max(0, Math.floor(y - padding * bh));
  const x1 = Math.min(w, Math.ceil(x + bw + padding * bw));
  const y1 = Math.min(h, Math.ceil(y + bh + padding * bh));
  return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
}

/** The crop entries of a listing, which source and box each one is, and a digest of all boxes (part of the cache's settings). */
export interface CropListing {
  listing: Listing;
  of: Map<string, { source: string; box: CropBox }>;
  digest: string;
}

export function cropListing(src: Listing, req: CropRequests): CropListing {
  if (!(req.padding >= 0 && Number.isFinite(req.padding))) throw new RangeError(`crops.padding must be a finite number >= 0, got ${req.padding}`);
  const of = new Map<string, { source: string; box: CropBox }>();
  const rows: { name: string; k: number }[] = [];
  const h = crypto.createHash("sha256").update(`padding ${req.padding}\n`);
  src.filenames.forEach((f, k) => {
    for (const box of req.boxes.get(f) ?? []) {
      const name = `${f}${CROP_SEPARATOR}${box.index}`;
      if (of.has(name)) throw new WinnowError("invalid_input", `crops: ${f} has two boxes with index ${box.index}`, { where: f });
      of.set(name, { source: f, box });
      rows.push({ name, k });
      h.update(`${name} ${box.bbox.join(" ")}\n`);
    }
  });
  rows.sort((a, b) => compareCodePoints(a.name, b.name));
  const listing: Listing = {
    root: src.root,
    filenames: rows.map((r) => r.name),
    sizes: Float64Array.from(rows, (r) => src.sizes[r.k]!),
    mtimesNs: BigInt64Array.from(rows, (r) => src.mtimesNs[r.k]!),
    refused: src.refused,
    hiddenSkipped: src.hiddenSkipped,
  };
  return { listing, of, digest: `padding=${req.padding} boxes=${h.digest("hex").slice(0, 16)}` };
}
