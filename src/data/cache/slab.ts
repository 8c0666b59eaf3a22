// The slab file: slot k's S×S×3 pixels at byte k*stride. Positional reads and writes that finish
// short transfers, compaction into a new generation file, and removal of older generations.
import * as fs from "node:fs";
import * as path from "node:path";
import { WinnowError } from "../../util/errors.js";
import { isIndexTemp } from "./index-format.js";

export const isSlabName = (s: unknown): boolean => typeof s === "string" && /^slab-[0-9a-z-]+\.u8$/.test(s);

export function writeFully(fd: number, data: Uint8Array, position: number): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, position + off);
}

export function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  let got = 0;
  while (got < length) {
    const r = fs.readSync(fd, buf, offset + got, length - got, position + got);
    if (r === 0) throw new WinnowError("io", `image cache slab ends early (wanted ${length} bytes at ${position}); rebuild the cache`);
    got += r;
  }
}

/** Copies live slots, in entry order, into a new slab file and renumbers them. */
export function compactSlab(fd: number, newPath: string, slots: Int32Array, stride: number): void {
  const per = Math.max(1, Math.floor((4 << 20) / stride));
  const buf = Buffer.allocUnsafe(per * stride);
  const out = fs.openSync(newPath, "w");
  try {
    let k = 0;
    let filled = 0;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s < 0) continue;
      readFully(fd, buf, filled * stride, stride, s * stride);
      slots[i] = k++;
      if (++filled === per) {
        writeFully(out, buf.subarray(0, filled * stride), (k - filled) * stride);
        filled = 0;
      }
    }
    if (filled) writeFully(out, buf.subarray(0, filled * stride), (k - filled) * stride);
    fs.fsyncSync(out);
  } finally {
    fs.closeSync(out);
  }
}

/** Removes every slab generation but `keep`, and index temp files an interrupted write left. */
export function removeOtherSlabs(dir: string, keep: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name !== keep && (isSlabName(name) || isIndexTemp(name))) {
      try {
        fs.unlinkSync(path.join(dir, name));
      } catch {
        /* another reader may still have it open: unlinking is still fine on POSIX */
      }
    }
  }
}
