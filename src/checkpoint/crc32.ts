// CRC-32 (IEEE, as used by zip). Node >= 20.15 ships zlib.crc32, which is far faster than any
// JavaScript loop over storages of hundreds of megabytes; the table version is the fallback.
import * as zlib from "node:zlib";

const nativeCrc = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;
function getTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of `data`, continuing from `previous` (0 to start). Result is an unsigned 32-bit number. */
export function crc32(data: Uint8Array, previous = 0): number {
  if (nativeCrc) return nativeCrc(data, previous) >>> 0;
  return crc32Js(data, previous);
}

export function crc32Js(data: Uint8Array, previous = 0): number {
  const t = getTable();
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
