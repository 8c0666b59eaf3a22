// The one crash-safe file replacement: a reader sees either the old file or the complete new one, also
// after a power cut (temp file in the same folder, fsync, rename, fsync of the folder).
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { WinnowError } from "./errors.js";

export type AtomicData = string | Uint8Array | readonly Uint8Array[];

/**
 * Writes `data` to `target` atomically. The parent folder must exist unless `mkdir` is set (a checkpoint
 * path with a typo should fail, a run folder's files create their folders). Throws WinnowError("io").
 */
export function writeFileAtomic(target: string, data: AtomicData, opts: { mkdir?: boolean } = {}): void {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const chunks = typeof data === "string" ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  let fd = -1;
  try {
    if (opts.mkdir) fs.mkdirSync(dir, { recursive: true });
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
    fs.rmSync(tmp, { force: true });
    throw new WinnowError("io", `cannot write ${target}: ${(e as Error).message}`, { where: target, cause: e });
  }
  fsyncFolder(dir);
}

/** Makes a rename or create in `dir` durable; best effort (not every file system supports it). */
export function fsyncFolder(dir: string): void {
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* unsupported here */
  }
}
