// Log lines go to the server in batches that fit its limits: each line cut to MAX_TEXT_CHARS (the
// server cuts too; doing it here keeps a batch under the body limit), at most MAX_LINES lines and
// about MAX_BYTES of JSON per batch.
import { truncateText } from "../util/truncate-text.js";

export const MAX_LINES_PER_BATCH = 500;
/** Well under the server's 1 MiB JSON body limit (a cut line is at most ~30 KB as escaped JSON). */
export const MAX_BATCH_BYTES = 256 * 1024;

export function logBatches(lines: readonly string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const raw of lines) {
    const line = truncateText(raw);
    const size = Buffer.byteLength(JSON.stringify(line)) + 1;
    if (cur.length && (cur.length >= MAX_LINES_PER_BATCH || bytes + size > MAX_BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(line);
    bytes += size;
  }
  if (cur.length) out.push(cur);
  return out;
}
