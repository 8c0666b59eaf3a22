// Reading text artifacts for the UI's routes without holding the event loop: bounded reads, and
// line counts taken chunk by chunk (no whole-file string).
import type { Readable } from "node:stream";
import { HttpError } from "./http-error.js";

/** The most bytes of a text artifact read (EMBEDDINGS for the map, selections for counts). */
export const TEXT_LIMIT = 256 * 1024 * 1024;

/** The whole text of an artifact stream, refused (413) past `limit` bytes. */
export async function readText(body: Readable, limit = TEXT_LIMIT): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) throw new HttpError(413, `artifact larger than ${limit} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * Non-empty lines of a text artifact as `split(/\r?\n/)` sees them, counted chunk by chunk (no
 * whole-file string; the event loop runs between chunks).
 */
export async function countLines(body: Readable, limit = TEXT_LIMIT): Promise<number> {
  let count = 0;
  let n = 0;
  let segLen = 0; // bytes of the current line so far
  let first = -1; // its first byte (a line of just "\r" before "\n" is empty)
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > limit) throw new HttpError(413, `artifact larger than ${limit} bytes`);
    let start = 0;
    for (let i = b.indexOf(10, start); i !== -1; i = b.indexOf(10, start)) {
      const len = segLen + i - start;
      const head = segLen > 0 ? first : b[start];
      if (len > 1 || (len === 1 && head !== 13)) count++;
      segLen = 0;
      start = i + 1;
    }
    if (start < b.length) {
      if (segLen === 0) first = b[start]!;
      segLen += b.length - start;
    }
  }
  return segLen > 0 ? count + 1 : count;
}
