// Small generated images for the data tests (sharp writes PNG/JPEG/WebP/GIF/TIFF; BMP and the
// malformed files are written by hand here).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import sharp from "sharp";

export type RGB = [number, number, number];

export function tempDir(prefix = "winnow-data-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function write(root: string, rel: string, bytes: Uint8Array | string): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
}

export async function solid(format: "png" | "jpeg" | "webp" | "gif" | "tiff", w: number, h: number, [r, g, b]: RGB): Promise<Buffer> {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });
  switch (format) {
    case "png": return img.png().toBuffer();
    case "jpeg": return img.jpeg({ quality: 100, chromaSubsampling: "4:4:4" }).toBuffer();
    case "webp": return img.webp({ lossless: true }).toBuffer();
    case "gif": return img.gif().toBuffer();
    case "tiff": return img.tiff({ compression: "deflate" }).toBuffer();
  }
}

/** PNG from raw RGB (HWC) bytes. */
export function rawPng(data: Uint8Array, w: number, h: number): Promise<Buffer> {
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** w×h RGB with four solid quadrants: TL red, TR green, BL blue, BR white. */
export function quadrants(w: number, h: number): Buffer {
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c: RGB = y < h / 2 ? (x < w / 2 ? [255, 0, 0] : [0, 255, 0]) : x < w / 2 ? [0, 0, 255] : [255, 255, 255];
      out.set(c, (y * w + x) * 3);
    }
  }
  return out;
}

// ---- BMP by hand ------------------------------------------------------------------------------

/** 24-bit BI_RGB BMP (bottom-up unless topDown) from RGB HWC bytes. */
export function bmp24(rgb: Uint8Array, w: number, h: number, topDown = false): Buffer {
  const row = Math.floor((24 * w + 31) / 32) * 4;
  const out = Buffer.alloc(54 + row * h);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(topDown ? -h : h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(row * h, 34);
  for (let y = 0; y < h; y++) {
    const dst = 54 + (topDown ? y : h - 1 - y) * row;
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      out[dst + x * 3] = rgb[s + 2]!;
      out[dst + x * 3 + 1] = rgb[s + 1]!;
      out[dst + x * 3 + 2] = rgb[s]!;
    }
  }
  return out;
}

/** 8-bit palette BMP: `indices` (h*w) into `palette` (RGB triples). */
export function bmp8(indices: Uint8Array, w: number, h: number, palette: RGB[]): Buffer {
  const row = Math.floor((8 * w + 31) / 32) * 4;
  const palBytes = palette.length * 4;
  const off = 54 + palBytes;
  const out = Buffer.alloc(off + row * h);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(off, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(8, 28);
  out.writeUInt32LE(palette.length, 46);
  palette.forEach(([r, g, b], i) => out.set([b, g, r, 0], 54 + i * 4));
  for (let y = 0; y < h; y++) out.set(indices.subarray(y * w, y * w + w), off + (h - 1 - y) * row);
  return out;
}

/** 16-bit BI_BITFIELDS 5-6-5 BMP from RGB HWC bytes (values are truncated to 5/6 bits). */
export function bmp565(rgb: Uint8Array, w: number, h: number): Buffer {
  const row = Math.floor((16 * w + 31) / 32) * 4;
  const off = 54 + 12;
  const out = Buffer.alloc(off + row * h);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(off, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(16, 28);
  out.writeUInt32LE(3, 30); // BI_BITFIELDS
  out.writeUInt32LE(0xf800, 54);
  out.writeUInt32LE(0x07e0, 58);
  out.writeUInt32LE(0x001f, 62);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const v = ((rgb[s]! >> 3) << 11) | ((rgb[s + 1]! >> 2) << 5) | (rgb[s + 2]! >> 3);
      out.writeUInt16LE(v, off + (h - 1 - y) * row + x * 2);
    }
  }
  return out;
}

/** A BMP header declaring w×h 24-bit pixels with (almost) no data. */
export function bmpBomb(w: number, h: number): Buffer {
  const out = Buffer.alloc(54 + 16);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  return out;
}

// ---- PNG by hand ------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid PNG signature + IHDR declaring w×h RGB8, a small IDAT, IEND: a decompression bomb. */
export function pngBomb(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.alloc(4096))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}
