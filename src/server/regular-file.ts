// Reads a datasource file for the server without letting it block a thread: opened with
// O_NONBLOCK (a FIFO with no writer would otherwise hold the opening thread forever, and with it a
// slot of libuv's pool shared by every tenant's thumbnails) and O_NOFOLLOW, then fstat'ed on the
// open descriptor (no race with a rename), and only a regular file of bounded size is read.
import * as fs from "node:fs";
import { PathRefused } from "../data/folder.js";
import { WinnowError } from "../util/errors.js";

/** The file is a regular file, but larger than the caller reads. */
export class FileTooLarge extends WinnowError {
  readonly statusCode = 413;
  constructor(readonly file: string, readonly size: number, readonly limit: number) {
    super("too_large", `file ${JSON.stringify(file)} is ${size} bytes; at most ${limit} are read`, { where: file });
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isDirectory()) return "a folder";
  return "not a regular file";
}

/** The bytes of `abs` (`shown` names it in errors); PathRefused if it is not a regular file. */
export async function readRegularFile(abs: string, shown: string, maxBytes: number): Promise<Buffer> {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(abs, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (e) {
    throw new PathRefused(shown, `cannot be opened (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PathRefused(shown, `is ${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes) throw new FileTooLarge(shown, st.size, maxBytes);
    // Exactly the size fstat saw: a file growing meanwhile is not read past it.
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === buf.length ? buf : buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}
