// Random-access byte sources. Reading a path through positional reads (instead of readFileSync)
// keeps memory proportional to what is actually used and works for files over 2 GiB; every read
// is bounds-checked against the real length first, so no attacker-claimed size drives an allocation.
import * as fs from "node:fs";
import { CheckpointError } from "./errors.js";

export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset+length). Memory sources return views; file sources return fresh copies. */
  read(offset: number, length: number, what: string): Uint8Array;
  close(): void;
}

function checkRange(size: number, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new CheckpointError(
      `${what}: needs bytes ${offset}..${offset + length} but the file is only ${size} bytes long (truncated or corrupt)`,
      "FORMAT",
    );
  }
}

export class MemorySource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number, what: string): Uint8Array {
    checkRange(this.bytes.length, offset, length, what);
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

export class FileSource implements ByteSource {
  private fd: number;
  readonly size: number;
  constructor(readonly path: string) {
    try {
      // O_NONBLOCK: a FIFO or device named as a checkpoint fails below (not a regular file) instead of hanging.
      this.fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      throw new CheckpointError(`cannot open: ${(e as Error).message}`, "IO", { cause: e });
    }
    try {
      const st = fs.fstatSync(this.fd);
      if (!st.isFile()) throw new CheckpointError("not a regular file", "IO");
      this.size = st.size;
    } catch (e) {
      fs.closeSync(this.fd);
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`cannot stat: ${(e as Error).message}`, "IO", { cause: e });
    }
  }
  read(offset: number, length: number, what: string): Uint8Array {
    checkRange(this.size, offset, length, what);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, done, Math.min(length - done, 1 << 30), offset + done);
      } catch (e) {
        throw new CheckpointError(`${what}: read failed: ${(e as Error).message}`, "IO", { cause: e });
      }
      if (n === 0) throw new CheckpointError(`${what}: file shrank while reading`, "IO");
      done += n;
    }
    return buf;
  }
  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** Opens `src` (a path or bytes), runs `fn`, always closes. */
export function withSource<T>(src: string | Uint8Array, fn: (s: ByteSource) => T): T {
  const s: ByteSource = typeof src === "string" ? new FileSource(src) : new MemorySource(src);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}
