// Where bench results are recorded. docs/benchmarks.md holds the current numbers (one table per
// bench, kept by hand); docs/benchmarks-history.md is the dated log, newest first. A bench run
// inserts its section into the log just below MARKER, so the newest run is always at the top and
// nothing in benchmarks.md is rewritten by a script.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const MARKER = "<!-- bench scripts insert new runs below this line (newest first) -->";
export const HISTORY_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "docs", "benchmarks-history.md");

/** Inserts one run's markdown section below the history file's marker; returns the file written. */
export function recordRun(markdown: string, file: string = HISTORY_FILE): string {
  const doc = fs.readFileSync(file, "utf8");
  const at = doc.indexOf(MARKER);
  if (at < 0) throw new Error(`${file}: marker line "${MARKER}" not found; restore it below the file's header`);
  const end = at + MARKER.length;
  fs.writeFileSync(file, `${doc.slice(0, end)}\n\n${markdown.trim()}\n${doc.slice(end)}`);
  return file;
}
