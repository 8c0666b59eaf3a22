// Atomic writes for the run folder: a file is either absent or complete.
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

export function writeTextAtomic(file: string, text: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** One name per line (Lightly's *_filenames.txt), final newline when not empty. */
export const linesText = (names: readonly string[]): string => (names.length ? `${names.join("\n")}\n` : "");
