// The cache index file (index.bin): every listed file's key, slot and failure, columnar, replaced
// atomically as a whole. Byte layout (little-endian), unchanged since FORMAT_VERSION 1:
//   MAGIC(8) | u32 version | u32 header bytes | header JSON | zero pad to 8 | columns, each padded to 8
// The header JSON gives each column's [offset from the columns' start, bytes].
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../../util/atomic.js";
import type { Refused } from "../folder.js";
import type { DecodeFailure } from "../decode.js";

/** Changing anything the pixels depend on bumps this (old caches are then ignored). */
export const FORMAT_VERSION = 1;
const MAGIC = "WINNOWIC";
export const INDEX_FILE = "index.bin";

/** What the pixels depend on: part of the cache folder's name, so other settings never share a cache. */
export interface Settings {
  version: number;
  resolution: number;
  root: string;
  autoOrient: boolean;
  failOn: string;
  kernel: string;
  /** Crop caches only: padding and a digest of every box (changed predictions give a new cache). */
  crops?: string;
}

export interface Limits {
  maxPixels: number;
  maxFileBytes: number;
}

/** Slot value of an entry that has no pixels. (An entry with pixels can still carry a failure:
 * refused by the current limits; its pixels are kept for when the limits are raised.) */
export const FAILED = -1;
export const PENDING = -2;

export type Failure = { code: DecodeFailure; reason: string };

/** All listed files, columnar, in filename order. */
export interface Entries {
  filenames: string[];
  sizes: Float64Array;
  mtimesNs: BigInt64Array;
  slots: Int32Array;
  widths: Int32Array;
  heights: Int32Array;
  sha256: Uint8Array; // n*32
  failures: Map<number, Failure>;
}

export interface IndexFile {
  settings: Settings;
  limits: Limits;
  slab: string;
  slotCount: number;
  complete: boolean;
  refused: Refused[];
  hiddenSkipped: number;
  entries: Entries;
}

/** The cache folder for `s`: `<S>px-<hash of the settings>`. */
export function settingsDir(cacheDir: string, s: Settings): string {
  const h = crypto.createHash("sha256").update(JSON.stringify(s)).digest("hex").slice(0, 12);
  return path.join(cacheDir, `${s.resolution}px-${h}`);
}

export function sameSettings(a: Settings, b: Settings): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function newEntries(filenames: string[]): Entries {
  const n = filenames.length;
  return {
    filenames,
    sizes: new Float64Array(n),
    mtimesNs: new BigInt64Array(n),
    slots: new Int32Array(n).fill(PENDING),
    widths: new Int32Array(n),
    heights: new Int32Array(n),
    sha256: new Uint8Array(n * 32),
    failures: new Map(),
  };
}

const columnsOf = (e: Entries): [string, ArrayBufferView][] => [
  ["sizes", e.sizes],
  ["mtimesNs", e.mtimesNs],
  ["slots", e.slots],
  ["widths", e.widths],
  ["heights", e.heights],
  ["sha256", e.sha256],
];

/** The bytes of index.bin for `idx`. */
export function encodeIndex(idx: IndexFile): Buffer {
  const e = idx.entries;
  const cols = columnsOf(e);
  const columns: Record<string, [number, number]> = {};
  let off = 0;
  for (const [name, arr] of cols) {
    columns[name] = [off, arr.byteLength];
    off += Math.ceil(arr.byteLength / 8) * 8;
  }
  const header = Buffer.from(
    JSON.stringify({
      settings: idx.settings,
      limits: idx.limits,
      slab: idx.slab,
      slotCount: idx.slotCount,
      complete: idx.complete,
      count: e.filenames.length,
      columns,
      filenames: e.filenames,
      failures: [...e.failures].map(([i, f]) => [i, f.code, f.reason]),
      refused: idx.refused,
      hiddenSkipped: idx.hiddenSkipped,
    }),
  );
  const headAt = 16;
  const colsAt = Math.ceil((headAt + header.length) / 8) * 8;
  const out = Buffer.alloc(colsAt + off);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(FORMAT_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, headAt);
  for (const [name, arr] of cols) {
    Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).copy(out, colsAt + columns[name]![0]);
  }
  return out;
}

/** Replaces `dir`/index.bin atomically: a reader or a resumed build sees the old index or the new one. */
export function writeIndex(dir: string, idx: IndexFile): void {
  writeFileAtomic(path.join(dir, INDEX_FILE), encodeIndex(idx));
}

/** Temp files an interrupted index write may leave: writeFileAtomic's, and those of caches built before it. */
export const isIndexTemp = (name: string): boolean => name.startsWith(`.${INDEX_FILE}.tmp-`) || name.startsWith(`${INDEX_FILE}.tmp-`);

/** The index in `dir`, or null when there is none or it cannot be used. */
export function readIndex(dir: string): IndexFile | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path.join(dir, INDEX_FILE));
  } catch {
    return null;
  }
  try {
    return decodeIndex(buf);
  } catch {
    return null;
  }
}

/** Parses index.bin; null (or a throw) when it is not a usable index of this format. */
export function decodeIndex(buf: Buffer): IndexFile | null {
  if (buf.length < 16 || buf.toString("latin1", 0, 8) !== MAGIC || buf.readUInt32LE(8) !== FORMAT_VERSION) return null;
  const hlen = buf.readUInt32LE(12);
  const h = JSON.parse(buf.toString("utf8", 16, 16 + hlen));
  const colsAt = Math.ceil((16 + hlen) / 8) * 8;
  const n: number = h.count;
  const col = (name: string, bytesPer: number): ArrayBuffer => {
    const [o, len] = h.columns[name] as [number, number];
    if (len !== n * bytesPer || colsAt + o + len > buf.length) throw new Error(`column ${name}`);
    return new Uint8Array(buf.subarray(colsAt + o, colsAt + o + len)).buffer; // aligned copy
  };
  const failures = new Map<number, Failure>();
  for (const [i, code, reason] of h.failures as [number, DecodeFailure, string][]) failures.set(i, { code, reason });
  const entries: Entries = {
    filenames: h.filenames,
    sizes: new Float64Array(col("sizes", 8)),
    mtimesNs: new BigInt64Array(col("mtimesNs", 8)),
    slots: new Int32Array(col("slots", 4)),
    widths: new Int32Array(col("widths", 4)),
    heights: new Int32Array(col("heights", 4)),
    sha256: new Uint8Array(col("sha256", 32)),
    failures,
  };
  if (entries.filenames.length !== n) return null;
  const { settings, limits, slab, slotCount, complete, refused, hiddenSkipped } = h;
  return { settings, limits, slab, slotCount, complete, refused, hiddenSkipped, entries };
}
