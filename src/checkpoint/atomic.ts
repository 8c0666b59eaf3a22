// Crash-safe file replacement: a reader sees either the old file or the complete new one.
import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError } from "./errors.js";

/** Writes chunks to `target` atomically: temp file in the same folder, fsync, rename, fsync folder. */
export function writeFileAtomic(target: string, chunks: readonly Uint8Array[]): void {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  let fd = -1;
  try {
    fd = fs.openSync(tmp, "wx", 0o644);
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, Math.min(c.length - off, 1 << 30));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new CheckpointError(`cannot write ${target}: ${(e as Error).message}`, "IO", { cause: e });
  }
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* directory fsync is best effort (not supported everywhere) */
  }
}
