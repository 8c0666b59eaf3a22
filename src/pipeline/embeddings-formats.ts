// `winnow embed --format`: the embeddings (embedImages' raw float32 file + its filenames) as
//   lightly_csv  Lightly's embeddings.csv (filenames,embedding_0..,labels; CRLF) — embedImages writes it
//   csv          filename,embedding_0,… (LF, no labels column)
//   npy          NumPy .npy, float32 [N, D] (format 1.0), with the row order in <stem>.filenames.txt
//   torch        torch.save({"embeddings": float32 [N, D], "filenames": [str, …]}) — loads with weights_only=True
// Written atomically (temporary file, then rename); the float32 file is read in chunks (csv, npy).
import * as fs from "node:fs";
import * as path from "node:path";
import { encodeTorchFile } from "../checkpoint/index.js";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import { csvField } from "./embed.js";
import { formatFloat32 } from "../util/float32-repr.js";

export const EMBED_FORMATS = ["lightly_csv", "csv", "npy", "torch"] as const;
export type EmbedFormat = (typeof EMBED_FORMATS)[number];
export const FORMAT_EXT: Record<EmbedFormat, string> = { lightly_csv: ".csv", csv: ".csv", npy: ".npy", torch: ".pt" };

/** The .npy header (format 1.0) for float32 little-endian [n, d], padded so the data starts at a multiple of 64. */
export function npyHeader(n: number, d: number): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const text = dict + " ".repeat(total - 10 - dict.length - 1) + "\n";
  const out = new Uint8Array(total);
  out.set([0x93, ...Buffer.from("NUMPY"), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(Buffer.from(text, "latin1"), 10);
  return out;
}

const tmpOf = (p: string): string => path.join(path.dirname(p), `.${path.basename(p)}.tmp-${process.pid}`);

/** Streams rows of the raw float32 file [n, d] in chunks to `fn`. */
function forEachChunk(f32File: string, n: number, d: number, fn: (rows: Float32Array, first: number, count: number) => void): void {
  const rowsPer = Math.max(1, Math.floor((8 << 20) / (4 * d)));
  const fd = fs.openSync(f32File, "r");
  try {
    for (let first = 0; first < n; first += rowsPer) {
      const count = Math.min(rowsPer, n - first);
      const buf = Buffer.alloc(count * d * 4);
      fs.readSync(fd, buf, 0, buf.length, first * d * 4);
      fn(new Float32Array(buf.buffer, buf.byteOffset, count * d), first, count);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function writeStream(out: string, body: (write: (b: Uint8Array | string) => void) => void): void {
  const tmp = tmpOf(out);
  const fd = fs.openSync(tmp, "w", 0o644);
  try {
    body((b) => {
      const buf = typeof b === "string" ? Buffer.from(b, "utf8") : b;
      let off = 0;
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    });
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, out);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch { /* already closed */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes `format` at `out` from the raw float32 file (row order = `filenames`). lightly_csv is
 * written by embedImages itself: pass its CSV as `lightlyCsv` and it is moved into place.
 * Returns the files written.
 */
export function writeEmbeddingsAs(
  format: EmbedFormat, out: string, src: { f32File: string; n: number; d: number; filenames: readonly string[]; lightlyCsv?: string | null },
): string[] {
  const { f32File, n, d, filenames } = src;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (format === "lightly_csv") {
    if (!src.lightlyCsv) throw new Error("writeEmbeddingsAs: lightly_csv needs the CSV embedImages wrote");
    fs.renameSync(src.lightlyCsv, out);
    return [out];
  }
  if (format === "csv") {
    writeStream(out, (write) => {
      const cols = ["filename"];
      for (let j = 0; j < d; j++) cols.push(`embedding_${j}`);
      write(`${cols.join(",")}\n`);
      forEachChunk(f32File, n, d, (rows, first, count) => {
        let text = "";
        for (let i = 0; i < count; i++) {
          text += csvField(filenames[first + i]!);
          for (let j = 0; j < d; j++) text += `,${formatFloat32(rows[i * d + j]!)}`;
          text += "\n";
        }
        write(text);
      });
    });
    return [out];
  }
  if (format === "npy") {
    writeStream(out, (write) => {
      write(npyHeader(n, d));
      forEachChunk(f32File, n, d, (rows) => write(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength)));
    });
    const names = out.replace(/\.npy$/, "") + ".filenames.txt";
    writeFileAtomic(names, [Buffer.from(filenames.map((f) => `${f}\n`).join(""), "utf8")]);
    return [out, names];
  }
  const data = fs.readFileSync(f32File);
  const bytes = encodeTorchFile([], {
    omitEmptyStateDict: true,
    extra: { embeddings: { dtype: "float32", shape: [n, d], data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, filenames: [...filenames] },
  });
  writeFileAtomic(out, [bytes]);
  return [out];
}
