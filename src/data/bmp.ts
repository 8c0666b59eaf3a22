// A BMP decoder: sharp's prebuilt libvips has no BMP loader, so BMP files are decoded here into
// RGB and handed to sharp as raw pixels. Covered: OS/2 core and Windows info headers (v1–v5),
// 1/4/8-bit palettes, 16-bit (5-5-5 default or bit fields), 24-bit, 32-bit (BGRX or bit fields),
// bottom-up and top-down rows. RLE and embedded JPEG/PNG compressions are refused as unsupported.
// Alpha is dropped (PIL's convert("RGB") does the same). Channel scaling follows PIL (v*255/max,
// truncated), so 16-bit files decode to the same values PIL gives.

import { ImageDecodeError, tooManyPixels } from "./decode-error.js";

export interface RawRGB {
  data: Buffer; // height*width*3, rows top-down
  width: number;
  height: number;
}

const COMPRESSION_NAMES: Record<number, string> = { 1: "RLE8", 2: "RLE4", 4: "JPEG", 5: "PNG" };

/** Width and height declared by a BMP header (no pixel decoding). */
export function bmpSize(buf: Uint8Array): { width: number; height: number } {
  const h = parseHeader(buf);
  return { width: h.width, height: h.height };
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  dataOffset: number;
  headerSize: number;
  masks: [number, number, number] | null;
  paletteOffset: number;
  paletteEntrySize: number;
  paletteCount: number;
}

function parseHeader(buf: Uint8Array): Header {
  if (buf.length < 26 || buf[0] !== 0x42 || buf[1] !== 0x4d) throw new ImageDecodeError("truncated", "BMP: file header is incomplete");
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  let width: number, height: number, bpp: number, compression = 0, clrUsed = 0;
  let paletteEntrySize = 4;
  if (headerSize === 12) {
    width = dv.getUint16(18, true);
    height = dv.getInt16(20, true);
    bpp = dv.getUint16(24, true);
    paletteEntrySize = 3;
  } else if (headerSize >= 40 && headerSize <= 124) {
    if (buf.length < 14 + 40) throw new ImageDecodeError("truncated", "BMP: info header is incomplete");
    width = dv.getInt32(18, true);
    height = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true);
    clrUsed = dv.getUint32(46, true);
  } else {
    throw new ImageDecodeError("unsupported", `BMP: unknown header size ${headerSize}`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw new ImageDecodeError("corrupt", `BMP: invalid size ${width}x${height}`);
  if (COMPRESSION_NAMES[compression]) throw new ImageDecodeError("unsupported", `BMP: ${COMPRESSION_NAMES[compression]} compression is not supported`);
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new ImageDecodeError("unsupported", `BMP: unknown compression ${compression}`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new ImageDecodeError("unsupported", `BMP: ${bpp} bits per pixel is not supported`);

  let masks: [number, number, number] | null = null;
  let afterHeader = 14 + headerSize;
  if (compression === 3 || compression === 6) {
    if (bpp !== 16 && bpp !== 32) throw new ImageDecodeError("corrupt", `BMP: bit fields with ${bpp} bits per pixel`);
    let at = 14 + 40; // masks follow the 40-byte header, or are part of v2+ headers
    if (headerSize === 40) afterHeader += compression === 6 ? 16 : 12;
    if (buf.length < at + 12) throw new ImageDecodeError("truncated", "BMP: bit masks are missing");
    masks = [dv.getUint32(at, true), dv.getUint32(at + 4, true), dv.getUint32(at + 8, true)];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f];
  }
  let paletteCount = 0;
  if (bpp <= 8) {
    paletteCount = clrUsed > 0 ? Math.min(clrUsed, 1 << bpp) : 1 << bpp;
    // Core-header files sometimes carry fewer entries than 2^bpp: take what fits before the data.
    const room = Math.floor((Math.min(dataOffset, buf.length) - afterHeader) / paletteEntrySize);
    paletteCount = Math.max(0, Math.min(paletteCount, room));
    if (paletteCount === 0) throw new ImageDecodeError("corrupt", "BMP: palette is missing");
  }
  return { width, height, topDown, bpp, compression, dataOffset, headerSize, masks, paletteOffset: afterHeader, paletteEntrySize, paletteCount };
}

function channelReader(mask: number): (px: number) => number {
  if (mask === 0) return () => 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  if (max === 255) return (px) => (px >>> shift) & 255;
  return (px) => Math.floor((((px & mask) >>> shift) * 255) / max);
}

/** Decodes a BMP file to RGB. Refuses (too_many_pixels) before allocating when width*height > maxPixels. */
export function decodeBmp(buf: Uint8Array, maxPixels: number): RawRGB {
  const h = parseHeader(buf);
  const { width, height, bpp } = h;
  if (width * height > maxPixels) {
    throw new ImageDecodeError("too_many_pixels", tooManyPixels(width, height, maxPixels));
  }
  const rowBytes = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.dataOffset + rowBytes * height > buf.length) {
    throw new ImageDecodeError("truncated", `BMP: pixel data is truncated (${buf.length} bytes, needs ${h.dataOffset + rowBytes * height})`);
  }
  const out = Buffer.allocUnsafe(width * height * 3);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    palette = new Uint8Array(256 * 3); // indices beyond the palette read black
    for (let i = 0; i < h.paletteCount; i++) {
      const p = h.paletteOffset + i * h.paletteEntrySize;
      palette[i * 3] = buf[p + 2]!;
      palette[i * 3 + 1] = buf[p + 1]!;
      palette[i * 3 + 2] = buf[p]!;
    }
  }
  const [rd, gd, bd] = h.masks ? h.masks.map(channelReader) : [null, null, null];

  for (let y = 0; y < height; y++) {
    const src = h.dataOffset + (h.topDown ? y : height - 1 - y) * rowBytes;
    let o = y * width * 3;
    if (bpp === 24) {
      for (let x = 0, p = src; x < width; x++, p += 3) {
        out[o++] = buf[p + 2]!;
        out[o++] = buf[p + 1]!;
        out[o++] = buf[p]!;
      }
    } else if (bpp === 32 && !h.masks) {
      for (let x = 0, p = src; x < width; x++, p += 4) {
        out[o++] = buf[p + 2]!;
        out[o++] = buf[p + 1]!;
        out[o++] = buf[p]!;
      }
    } else if (bpp === 32 || bpp === 16) {
      for (let x = 0; x < width; x++) {
        const px = bpp === 32 ? dv.getUint32(src + x * 4, true) : dv.getUint16(src + x * 2, true);
        out[o++] = rd!(px);
        out[o++] = gd!(px);
        out[o++] = bd!(px);
      }
    } else {
      const pal = palette!;
      const perByte = 8 / bpp;
      const mask = (1 << bpp) - 1;
      for (let x = 0; x < width; x++) {
        const byte = buf[src + Math.floor(x / perByte)]!;
        const shift = 8 - bpp * ((x % perByte) + 1);
        const idx = (byte >> shift) & mask;
        out[o++] = pal[idx * 3]!;
        out[o++] = pal[idx * 3 + 1]!;
        out[o++] = pal[idx * 3 + 2]!;
      }
    }
  }
  return { data: out, width, height };
}
