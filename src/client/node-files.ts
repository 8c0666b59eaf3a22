// The client's file-system side (downloads to files, uploads from files, a run's filenames read from
// its embeddings CSV). The client imports this module lazily, only inside the methods that take file
// paths, so `winnow/client`'s static import graph has no node: modules and a browser bundler can
// bundle it (those methods are Node-only; the JSON methods work anywhere fetch does).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { readEmbeddingsCsv } from "../run/embeddings-csv.js";

/** Streams a response body to `dest` (a temp name, then renamed); returns the bytes written. */
export async function bodyToFile(body: ReadableStream<Uint8Array>, dest: string): Promise<number> {
  await fs.promises.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const tmp = `${dest}.part`;
  await pipeline(Readable.fromWeb(body as never), fs.createWriteStream(tmp));
  await fs.promises.rename(tmp, dest);
  return (await fs.promises.stat(dest)).size;
}

/** A file as a request body, with its size. */
export async function fileBody(file: string): Promise<{ size: number; body: ReadableStream }> {
  const size = (await fs.promises.stat(file)).size;
  return { size, body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream };
}

/** Runs `fn` with a fresh temp folder, removed afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

export const joinPath = path.join;
export { readEmbeddingsCsv };
