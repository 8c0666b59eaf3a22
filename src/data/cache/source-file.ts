// Reading one listed image for the cache: the path is checked again at open time (no symlinks, only
// regular files, never blocking on a FIFO), and the size/mtime of what was actually read becomes the
// entry's key. Also the reason given when a file is over the size limit.
import * as fs from "node:fs";
import { checkRealInside, resolveInside } from "../folder.js";
import { ImageDecodeError } from "../decode.js";
import type { Entries } from "./index-format.js";

export function tooLarge(size: number, max: number): string {
  return `file is ${size} bytes, more than the limit of ${max}`;
}

/**
 * Reads a listed file, refusing symlinks (in any component or at the end) and non-regular files
 * at open time, and records the size/mtime of what was actually read as entry i's key.
 */
export async function readInside(root: string, rel: string, i: number, e: Entries, maxFileBytes: number): Promise<Buffer> {
  const abs = resolveInside(root, rel);
  await checkRealInside(abs, rel);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageDecodeError("unreadable", code === "ELOOP" ? "symbolic link (not followed)" : `cannot be opened (${code ?? (err as Error).message})`);
  }
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw new ImageDecodeError("unreadable", "not a regular file");
    e.sizes[i] = Number(st.size);
    e.mtimesNs[i] = st.mtimeNs;
    if (st.size === 0n) throw new ImageDecodeError("empty", "file is empty (0 bytes)");
    if (Number(st.size) > maxFileBytes) throw new ImageDecodeError("too_large", tooLarge(Number(st.size), maxFileBytes));
    try {
      return await fh.readFile();
    } catch (err) {
      throw new ImageDecodeError("unreadable", `read failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  } finally {
    await fh.close();
  }
}
