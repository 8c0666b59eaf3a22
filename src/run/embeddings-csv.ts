// Reads an embeddings CSV in Lightly's format (worker_config.embeddings, lightly.utils.io):
// header filenames,embedding_0,…,embedding_{D-1},labels; one row per image; Python csv quoting.
// Errors name the file, the line and what was expected, never the file's content (the file may be
// something else entirely, e.g. /proc/self/environ named by an untrusted config). Only a regular
// file is read, opened without blocking (a FIFO fails at once instead of hanging the run).
import { readRegularText } from "../util/regular-file.js";

export interface EmbeddingsCsv {
  filenames: string[];
  /** Row-major [n, d]. */
  values: Float32Array;
  d: number;
}

/** Splits one CSV record (RFC 4180 / Python's default dialect: "" escapes a quote inside quotes). */
function splitRecord(text: string, start: number): { fields: string[]; next: number } {
  const fields: string[] = [];
  let i = start;
  let field = "";
  let quoted = false;
  for (;;) {
    if (i >= text.length) {
      if (quoted) throw new Error("a quoted field is not closed");
      fields.push(field);
      return { fields, next: i };
    }
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else {
          quoted = false;
          i++;
        }
      } else {
        field += ch;
        i++;
      }
    } else if (ch === '"' && field === "") {
      quoted = true;
      i++;
    } else if (ch === ",") {
      fields.push(field);
      field = "";
      i++;
    } else if (ch === "\r" || ch === "\n") {
      fields.push(field);
      const next = ch === "\r" && text[i + 1] === "\n" ? i + 2 : i + 1;
      return { fields, next };
    } else {
      field += ch;
      i++;
    }
  }
}

export function readEmbeddingsCsv(file: string, what = "worker_config.embeddings"): EmbeddingsCsv {
  let text = readRegularText(file, what);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let pos = 0;
  let line = 1;
  const rec = (): string[] => {
    try {
      const r = splitRecord(text, pos);
      pos = r.next;
      return r.fields;
    } catch (e) {
      throw new Error(`${what}: ${file} line ${line}: ${(e as Error).message}`);
    }
  };
  const header = rec();
  const d = header.length - 2;
  const ok = d >= 1 && header[0] === "filenames" && header[header.length - 1] === "labels" && header.slice(1, -1).every((h, j) => h === `embedding_${j}`);
  if (!ok) {
    throw new Error(`${what}: ${file} line 1: expected the header filenames,embedding_0,…,embedding_{D-1},labels (Lightly's format), got ${header.length} column(s) that do not match it`);
  }
  const filenames: string[] = [];
  const rows: number[] = [];
  const seen = new Map<string, number>();
  while (pos < text.length) {
    line++;
    const f = rec();
    if (f.length === 1 && f[0] === "") continue; // blank line (e.g. the file's last newline)
    if (f.length !== d + 2) throw new Error(`${what}: ${file} line ${line}: ${f.length} fields, expected ${d + 2} (filename, ${d} embedding values, label)`);
    const name = f[0]!;
    if (!name) throw new Error(`${what}: ${file} line ${line}: empty filename`);
    const first = seen.get(name);
    if (first !== undefined) throw new Error(`${what}: ${file} line ${line}: the filename of line ${first} appears again`);
    seen.set(name, line);
    for (let j = 0; j < d; j++) {
      const s = f[j + 1]!.trim();
      const v = Number(s);
      if (s === "" || !Number.isFinite(v)) throw new Error(`${what}: ${file} line ${line}: embedding_${j} is not a finite number`);
      rows.push(v);
    }
    filenames.push(name);
  }
  if (!filenames.length) throw new Error(`${what}: ${file} has a header and no rows`);
  return { filenames, values: Float32Array.from(rows), d };
}
