// Datasources in S3: a dataset whose datasource is `s3://bucket/prefix` is mirrored into a local
// folder on the worker, and the run reads that folder exactly like a local datasource (listing,
// decode cache, predictions). The mirror is incremental: an object is downloaded again only when
// its ETag or size changed, files whose objects are gone are removed, and each file's mtime is the
// object's LastModified (plus a sub-millisecond offset taken from the ETag, see objectMtime) so the
// decode cache (keyed by size + mtime) stays valid across syncs: unchanged videos are neither
// probed for their frame count nor decoded again.
// Downloads stream to a temp file beside the folder (renamed into it when complete; temp files a
// killed sync left are removed at the next) and are retried with back-off (the SDK retries failed requests,
// not a body cut off mid-stream).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { writeFileAtomic } from "../util/atomic.js";
import { parseS3Url, s3Client, type S3Location, type S3Settings } from "../s3/client.js";
import { WinnowError } from "../util/errors.js";

export interface MirrorOptions {
  settings?: S3Settings;
  client?: S3Client;
  /** Attempts per object (default 5). */
  attempts?: number;
  /** Downloads in flight (default 4). */
  concurrency?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface MirrorResult {
  /** The local folder to read. */
  dir: string;
  objects: number;
  downloaded: number;
  unchanged: number;
  removed: number;
  /** Keys that cannot be a local path (empty, "." or ".." segments…, or also another key's folder), left out. */
  skipped: string[];
  /** Keys listed but deleted before they were downloaded, left out (and their old copy removed). */
  vanished: string[];
  bytesDownloaded: number;
}

interface Manifest {
  url: string;
  files: Record<string, { etag: string; size: number; lastModified: number }>;
}

const MAX_PAGES = 100_000; // 100 M objects: a bound, not a limit anyone should meet

/** Local relative path of a key below the prefix, or null when it cannot be one safely. */
function localPath(rel: string): string | null {
  if (rel === "" || rel.endsWith("/")) return null; // the prefix itself, or a "folder" marker
  const segs = rel.split("/");
  if (segs.some((s) => s === "" || s === "." || s === ".." || s.includes("\\") || s.includes("\0"))) return null;
  return segs.join(path.sep);
}

/**
 * The mtime (seconds) a mirrored file gets: the object's LastModified plus 0–999 µs taken from its
 * ETag. S3 gives LastModified in whole seconds, so an object overwritten within the same second with
 * the same size would otherwise keep its size + mtime, and the decode cache would reuse the old
 * pixels (and an old video's frame count); the offset makes that a 1-in-1000 chance, and the same
 * object always gets the same mtime, so unchanged files stay cache hits even when downloaded again.
 */
export function objectMtime(lastModifiedMs: number, etag: string): number {
  const us = createHash("sha256").update(etag).digest().readUInt32BE(0) % 1000;
  return lastModifiedMs / 1000 + us / 1e6;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Listed {
  key: string;
  rel: string;
  etag: string;
  size: number;
  lastModified: number;
}

/**
 * Keys that are also another key's folder (S3 holds both `cam` and `cam/a.mp4`; a disk cannot):
 * neither can be mirrored as is, so the file-like one is left out.
 */
function folderClashes(listed: Listed[]): Set<string> {
  const folders = new Set<string>();
  for (const x of listed) {
    for (let i = x.rel.indexOf(path.sep); i >= 0; i = x.rel.indexOf(path.sep, i + 1)) folders.add(x.rel.slice(0, i));
  }
  return new Set(listed.filter((x) => folders.has(x.rel)).map((x) => x.rel));
}

/** Removes a mirrored file and the folders it leaves empty (up to the mirror's root). */
async function removeFile(dir: string, rel: string): Promise<void> {
  await fs.promises.rm(path.join(dir, rel), { force: true });
  for (let d = path.dirname(rel); d !== "." && d !== ""; d = path.dirname(d)) {
    try {
      await fs.promises.rmdir(path.join(dir, d));
    } catch {
      return; // not empty (or already gone)
    }
  }
}

/** Every object below the prefix that can be a local file; keys that cannot are returned as skipped. */
async function listPrefix(client: S3Client, loc: S3Location, url: string, signal?: AbortSignal): Promise<{ listed: Listed[]; skipped: string[] }> {
  const listed: Listed[] = [];
  const skipped: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    if (signal?.aborted) throw new WinnowError("aborted", `mirroring ${url}: aborted`, { where: url });
    const r = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix, ContinuationToken: token }));
    for (const obj of r.Contents ?? []) {
      const rel = obj.Key!.slice(loc.prefix.length);
      const lp = localPath(rel);
      if (lp === null) {
        if (rel !== "" && !rel.endsWith("/")) skipped.push(obj.Key!);
        continue;
      }
      listed.push({ key: obj.Key!, rel: lp, etag: obj.ETag ?? "", size: Number(obj.Size ?? 0), lastModified: obj.LastModified?.getTime() ?? 0 });
    }
    if (!r.IsTruncated || !r.NextContinuationToken) break;
    token = r.NextContinuationToken;
  }
  const clashes = folderClashes(listed);
  if (!clashes.size) return { listed, skipped };
  for (const x of listed) if (clashes.has(x.rel)) skipped.push(x.key);
  return { listed: listed.filter((x) => !clashes.has(x.rel)), skipped };
}

/** Objects whose ETag or size changed since the manifest, or whose local file is missing or cut. */
function changedSince(manifest: Manifest, listed: Listed[], dir: string): Listed[] {
  return listed.filter((x) => {
    const m = manifest.files[x.rel];
    if (!m || m.etag !== x.etag || m.size !== x.size) return true;
    try {
      return fs.statSync(path.join(dir, x.rel)).size !== x.size;
    } catch {
      return true;
    }
  });
}

/**
 * Downloads one object to its local file: streamed to a temp file that is renamed only when its size
 * is the listed one, retried with back-off. Its mtime becomes the object's LastModified. Answers the
 * bytes, or null when the object was deleted since the listing (S3's NoSuchKey: nothing to retry).
 */
async function fetchObject(client: S3Client, loc: S3Location, x: Listed, dir: string, parts: string, o: MirrorOptions): Promise<number | null> {
  const dest = path.join(dir, x.rel);
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  // Outside the folder runs read, so a partial file is never listed; one name per key.
  const tmp = path.join(parts, createHash("sha256").update(x.rel).digest("hex").slice(0, 32));
  const attempts = o.attempts ?? 5;
  for (let a = 1; ; a++) {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: x.key }), { abortSignal: o.signal });
      await pipeline(r.Body as Readable, fs.createWriteStream(tmp));
      const size = (await fs.promises.stat(tmp)).size;
      if (size !== x.size) throw new Error(`got ${size} bytes, the listing said ${x.size}`);
      await fs.promises.rename(tmp, dest);
      const t = objectMtime(x.lastModified || Date.now(), x.etag);
      await fs.promises.utimes(dest, t, t);
      return size;
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      if ((e as { name?: string }).name === "NoSuchKey" && !o.signal?.aborted) return null;
      const where = `s3://${loc.bucket}/${x.key}`;
      if (a >= attempts || o.signal?.aborted) {
        throw new WinnowError(o.signal?.aborted ? "aborted" : "io", `downloading ${where} failed after ${a} attempt(s): ${(e as Error).message}`, { where, cause: e });
      }
      o.log?.(`${where}: ${(e as Error).message}; retrying`);
      await sleep(Math.min(5000, 250 * 2 ** (a - 1)));
    }
  }
}

/** Mirrors `url` (s3://bucket/prefix) under `mirrorRoot`; answers the folder to read. */
export async function mirrorS3Prefix(url: string, mirrorRoot: string, o: MirrorOptions = {}): Promise<MirrorResult> {
  const loc = parseS3Url(url, "datasource");
  const client = o.client ?? s3Client(o.settings);
  const id = createHash("sha256").update(`${loc.bucket}\n${loc.prefix}`).digest("hex").slice(0, 16);
  const base = path.join(mirrorRoot, `${loc.bucket}-${id}`);
  const dir = path.join(base, "files");
  const manifestFile = path.join(base, "manifest.json");
  const parts = path.join(base, "parts");
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(parts, { recursive: true, force: true }); // left by a sync that was killed
  fs.mkdirSync(parts);
  let manifest: Manifest = { url, files: {} };
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
  } catch {
    /* first sync, or an unreadable manifest: everything is fetched again */
  }

  const { listed, skipped } = await listPrefix(client, loc, url, o.signal);
  // Files whose objects are gone go first: a new key may need the name as a folder.
  const want = new Set(listed.map((x) => x.rel));
  let removed = 0;
  for (const rel of Object.keys(manifest.files)) {
    if (want.has(rel)) continue;
    await removeFile(dir, rel);
    removed++;
  }
  const todo = changedSince(manifest, listed, dir);
  let bytes = 0;
  let next = 0;
  const gone: Listed[] = [];
  const conc = Math.max(1, o.concurrency ?? 4);
  await Promise.all(Array.from({ length: Math.min(conc, todo.length) }, async () => {
    while (next < todo.length) {
      const x = todo[next++]!;
      const got = await fetchObject(client, loc, x, dir, parts, o);
      if (got === null) gone.push(x);
      else bytes += got; // not `bytes += await …`: that would add to the value read before the await
    }
  }));

  // Objects deleted while this sync ran: their old copies must not be read either.
  const goneRels = new Set(gone.map((x) => x.rel));
  const kept = listed.filter((x) => !goneRels.has(x.rel));
  for (const rel of goneRels) {
    await removeFile(dir, rel);
    if (manifest.files[rel]) removed++;
  }
  const files: Manifest["files"] = {};
  for (const x of kept) files[x.rel] = { etag: x.etag, size: x.size, lastModified: x.lastModified };
  writeFileAtomic(manifestFile, JSON.stringify({ url, files } satisfies Manifest));
  const downloaded = todo.length - gone.length;
  return { dir, objects: kept.length, downloaded, unchanged: kept.length - downloaded, removed, skipped, vanished: gone.map((x) => x.key), bytesDownloaded: bytes };
}
