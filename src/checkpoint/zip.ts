// Minimal zip support for PyTorch checkpoints: STORED entries only, zip64-aware, with CRC checks on
// read, and on write exactly the layout torch.save (miniz) produces: 64-byte aligned record data
// (padding in an "FB" extra field filled with 'Z'), data descriptors (flag 0x0808), zero DOS times,
// and an always-present zip64 end record.
import { CheckpointError } from "./errors.js";
import { crc32 } from "./crc32.js";
import type { ByteSource } from "./source.js";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${what}: 64-bit value ${x} is out of range`, "FORMAT");
  return Number(x);
}

export class ZipReader {
  readonly entries: ZipEntry[] = [];
  private readonly byName = new Map<string, ZipEntry>();
  /** Where the central directory starts: no record's data may extend past it. */
  private readonly cdOffset: number;

  constructor(private readonly src: ByteSource) {
    const size = src.size;
    if (size < 22) throw new CheckpointError(`not a zip archive (only ${size} bytes)`, "FORMAT");
    // The end record sits in the last 22 + 65535 (max comment) bytes.
    const tailLen = Math.min(size, 22 + U16_MAX);
    const tailStart = size - tailLen;
    const tail = src.read(tailStart, tailLen, "zip end record");
    const tv = dv(tail);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) === tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new CheckpointError("not a zip archive or truncated: end-of-central-directory record not found", "FORMAT");
    const eocdAbs = tailStart + eocd;
    let disk = tv.getUint16(eocd + 4, true);
    let cdDisk = tv.getUint16(eocd + 6, true);
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    let cdLimit = eocdAbs;
    // A zip64 locator right before the end record points at the zip64 end record (torch always writes one).
    if (eocdAbs >= 20) {
      const loc = src.read(eocdAbs - 20, 20, "zip64 locator");
      const lv = dv(loc);
      if (lv.getUint32(0, true) === SIG_LOCATOR64) {
        const e64 = u64(lv, 8, "zip64 locator");
        if (e64 + 56 > eocdAbs - 20) throw new CheckpointError("zip64 end record offset is out of range", "FORMAT");
        const r = dv(src.read(e64, 56, "zip64 end record"));
        if (r.getUint32(0, true) !== SIG_EOCD64) throw new CheckpointError("zip64 end record signature is wrong", "FORMAT");
        disk = r.getUint32(16, true);
        cdDisk = r.getUint32(20, true);
        count = u64(r, 32, "zip64 entry count");
        cdSize = u64(r, 40, "zip64 directory size");
        cdOffset = u64(r, 48, "zip64 directory offset");
        cdLimit = e64;
      } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
        throw new CheckpointError("zip64 archive without a zip64 end record", "FORMAT");
      }
    }
    if (disk !== 0 || cdDisk !== 0) throw new CheckpointError("multi-disk zip archives are not supported", "UNSUPPORTED");
    if (cdOffset + cdSize > cdLimit) {
      throw new CheckpointError(`central directory (offset ${cdOffset}, ${cdSize} bytes) extends past the end of the archive (truncated?)`, "FORMAT");
    }
    if (count * 46 > cdSize) throw new CheckpointError(`central directory claims ${count} entries but is only ${cdSize} bytes`, "FORMAT");
    this.cdOffset = cdOffset;
    const cd = src.read(cdOffset, cdSize, "central directory");
    const v = dv(cd);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL) {
        throw new CheckpointError(`central directory entry ${i} is corrupt`, "FORMAT");
      }
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let sz = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let lho = v.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) throw new CheckpointError(`central directory entry ${i} overruns the directory`, "FORMAT");
      let name: string;
      try {
        name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      } catch {
        throw new CheckpointError(`central directory entry ${i} has a name that is not valid UTF-8`, "FORMAT");
      }
      // zip64 extra: 64-bit values appear only for the fields saturated in the fixed header, in this order.
      if (sz === U32_MAX || compressedSize === U32_MAX || lho === U32_MAX) {
        let q = p + 46 + nameLen;
        const qEnd = q + extraLen;
        let found = false;
        while (q + 4 <= qEnd) {
          const id = v.getUint16(q, true);
          const len = v.getUint16(q + 2, true);
          if (q + 4 + len > qEnd) break;
          if (id === 1) {
            let r = q + 4;
            const need = (sz === U32_MAX ? 8 : 0) + (compressedSize === U32_MAX ? 8 : 0) + (lho === U32_MAX ? 8 : 0);
            if (len < need) throw new CheckpointError(`entry ${name}: zip64 extra field is too short`, "FORMAT");
            if (sz === U32_MAX) { sz = u64(v, r, name); r += 8; }
            if (compressedSize === U32_MAX) { compressedSize = u64(v, r, name); r += 8; }
            if (lho === U32_MAX) { lho = u64(v, r, name); r += 8; }
            found = true;
            break;
          }
          q += 4 + len;
        }
        if (!found) throw new CheckpointError(`entry ${name}: sizes need a zip64 extra field, which is missing`, "FORMAT");
      }
      if (compressedSize > src.size || lho + 30 + compressedSize > cdOffset) {
        throw new CheckpointError(
          `entry ${name} claims ${compressedSize} bytes at offset ${lho} but the archive's data ends at ${cdOffset} (file is ${src.size} bytes)`,
          "FORMAT",
        );
      }
      if (this.byName.has(name)) throw new CheckpointError(`duplicate zip entry ${name}`, "FORMAT");
      const e: ZipEntry = { name, method, flags, crc, compressedSize, size: sz, localHeaderOffset: lho };
      this.entries.push(e);
      this.byName.set(name, e);
      p = end;
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry's bytes, after checking its local header and CRC32. */
  read(e: ZipEntry): Uint8Array {
    if (e.flags & 1) throw new CheckpointError(`entry ${e.name} is encrypted`, "UNSUPPORTED");
    if (e.method !== 0) {
      throw new CheckpointError(`entry ${e.name} is compressed (method ${e.method}); PyTorch checkpoints store records uncompressed`, "UNSUPPORTED");
    }
    if (e.size !== e.compressedSize) {
      throw new CheckpointError(`entry ${e.name} is stored but its sizes differ (${e.compressedSize} vs ${e.size})`, "FORMAT");
    }
    const h = dv(this.src.read(e.localHeaderOffset, 30, `local header of ${e.name}`));
    if (h.getUint32(0, true) !== SIG_LOCAL) throw new CheckpointError(`entry ${e.name}: local header signature is wrong`, "FORMAT");
    const nameLen = h.getUint16(26, true);
    const extraLen = h.getUint16(28, true);
    const nameBytes = this.src.read(e.localHeaderOffset + 30, nameLen, `local header of ${e.name}`);
    // A local name that differs from the directory's is a classic zip-confusion trick: refuse it.
    let localName = "";
    try {
      localName = utf8.decode(nameBytes);
    } catch {
      /* mismatch below */
    }
    if (localName !== e.name) throw new CheckpointError(`entry ${e.name}: local header names a different file`, "FORMAT");
    const start = e.localHeaderOffset + 30 + nameLen + extraLen;
    if (start + e.size > this.cdOffset) {
      throw new CheckpointError(`entry ${e.name}: data (${e.size} bytes at ${start}) runs past the end of the archive data`, "FORMAT");
    }
    const data = this.src.read(start, e.size, `entry ${e.name}`);
    const c = crc32(data);
    if (c !== e.crc) {
      throw new CheckpointError(`CRC32 mismatch in entry ${e.name} (stored ${hex(e.crc)}, computed ${hex(c)}): the file is corrupt`, "CRC");
    }
    return data;
  }
}

function hex(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface ZipWriterOptions {
  /** Record data alignment (torch: 64). */
  alignment?: number;
  /** Test hook: use zip64 fields for every entry, as files over 4 GiB must. */
  forceZip64?: boolean;
}

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
  zip64: boolean;
  flags: number;
}

/** Produces the archive as a list of chunks so large storages are never concatenated needlessly. */
export class ZipWriter {
  readonly chunks: Uint8Array[] = [];
  private pos = 0;
  private readonly written: Written[] = [];
  private readonly alignment: number;
  private readonly forceZip64: boolean;

  constructor(opts: ZipWriterOptions = {}) {
    this.alignment = opts.alignment ?? 64;
    this.forceZip64 = opts.forceZip64 ?? false;
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.pos += b.length;
  }

  add(name: string, data: Uint8Array): void {
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length > U16_MAX) throw new CheckpointError(`zip entry name too long: ${name}`, "INVALID_ARGUMENT");
    const size = data.length;
    const offset = this.pos;
    const zip64 = this.forceZip64 || size >= U32_MAX || offset >= U32_MAX;
    const z64Len = zip64 ? 4 + 16 : 0;
    const dataStartNoPad = offset + 30 + nameBytes.length + z64Len + 4;
    const pad = (this.alignment - (dataStartNoPad % this.alignment)) % this.alignment;
    const extraLen = z64Len + 4 + pad;
    const crc = crc32(data);
    const h = new Uint8Array(30 + nameBytes.length + extraLen);
    const v = dv(h);
    v.setUint32(0, SIG_LOCAL, true);
    v.setUint16(4, zip64 ? 45 : 0, true); // version needed (torch writes 0)
    // bit 3: sizes/CRC follow in a data descriptor; bit 11: UTF-8 names. Like miniz, torch writes
    // empty records without a descriptor (flags 0x0800).
    const flags = size === 0 ? 0x0800 : 0x0808;
    v.setUint16(6, flags, true);
    // method 0, time 0, date 0; CRC and sizes live in the descriptor (zeros here, like torch)
    if (zip64) {
      v.setUint32(18, U32_MAX, true);
      v.setUint32(22, U32_MAX, true);
    }
    v.setUint16(26, nameBytes.length, true);
    v.setUint16(28, extraLen, true);
    h.set(nameBytes, 30);
    let q = 30 + nameBytes.length;
    if (zip64) {
      v.setUint16(q, 1, true);
      v.setUint16(q + 2, 16, true);
      v.setBigUint64(q + 4, BigInt(size), true);
      v.setBigUint64(q + 12, BigInt(size), true);
      q += 20;
    }
    h[q] = 0x46; // 'F'
    h[q + 1] = 0x42; // 'B'
    v.setUint16(q + 2, pad, true);
    h.fill(0x5a, q + 4, q + 4 + pad); // 'Z'
    this.push(h);
    if (size > 0) this.push(data);
    this.written.push({ name: nameBytes, crc, size, offset, zip64, flags });
    if (size === 0) return;
    const d = new Uint8Array(zip64 ? 24 : 16);
    const dvv = dv(d);
    dvv.setUint32(0, SIG_DESCRIPTOR, true);
    dvv.setUint32(4, crc, true);
    if (zip64) {
      dvv.setBigUint64(8, BigInt(size), true);
      dvv.setBigUint64(16, BigInt(size), true);
    } else {
      dvv.setUint32(8, size, true);
      dvv.setUint32(12, size, true);
    }
    this.push(d);
  }

  /** Appends the central directory and end records; returns the chunks. */
  finish(): Uint8Array[] {
    const cdStart = this.pos;
    for (const w of this.written) {
      const big = this.forceZip64 || w.size >= U32_MAX;
      const bigOff = this.forceZip64 || w.offset >= U32_MAX;
      const z64Len = big || bigOff ? 4 + (big ? 16 : 0) + (bigOff ? 8 : 0) : 0;
      const c = new Uint8Array(46 + w.name.length + z64Len);
      const v = dv(c);
      v.setUint32(0, SIG_CENTRAL, true);
      v.setUint16(4, z64Len ? 45 : 0, true); // made by
      v.setUint16(6, z64Len ? 45 : 0, true); // needed
      v.setUint16(8, w.flags, true);
      v.setUint32(16, w.crc, true);
      v.setUint32(20, big ? U32_MAX : w.size, true);
      v.setUint32(24, big ? U32_MAX : w.size, true);
      v.setUint16(28, w.name.length, true);
      v.setUint16(30, z64Len, true);
      v.setUint32(42, bigOff ? U32_MAX : w.offset, true);
      c.set(w.name, 46);
      if (z64Len) {
        let q = 46 + w.name.length;
        v.setUint16(q, 1, true);
        v.setUint16(q + 2, z64Len - 4, true);
        q += 4;
        if (big) {
          v.setBigUint64(q, BigInt(w.size), true);
          v.setBigUint64(q + 8, BigInt(w.size), true);
          q += 16;
        }
        if (bigOff) v.setBigUint64(q, BigInt(w.offset), true);
      }
      this.push(c);
    }
    const cdSize = this.pos - cdStart;
    const n = this.written.length;
    const e64Off = this.pos;
    const t = new Uint8Array(56 + 20 + 22);
    const v = dv(t);
    v.setUint32(0, SIG_EOCD64, true);
    v.setBigUint64(4, 44n, true);
    v.setUint16(12, 0x031e, true);
    v.setUint16(14, 45, true);
    v.setBigUint64(24, BigInt(n), true);
    v.setBigUint64(32, BigInt(n), true);
    v.setBigUint64(40, BigInt(cdSize), true);
    v.setBigUint64(48, BigInt(cdStart), true);
    v.setUint32(56, SIG_LOCATOR64, true);
    v.setBigUint64(64, BigInt(e64Off), true);
    v.setUint32(72, 1, true);
    v.setUint32(76, SIG_EOCD, true);
    v.setUint16(84, Math.min(n, U16_MAX), true);
    v.setUint16(86, Math.min(n, U16_MAX), true);
    v.setUint32(88, Math.min(cdSize, U32_MAX), true);
    v.setUint32(92, Math.min(cdStart, U32_MAX), true);
    this.push(t);
    return this.chunks;
  }
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
