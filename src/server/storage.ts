// Where artifact bytes live. The server only speaks to this interface: the local implementation
// keeps files under one root directory, S3Storage (s3-storage.ts) in a bucket.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { WinnowError } from "../util/errors.js";

export interface StoredObject {
  size: number;
  sha256: string;
}

export interface ArtifactStorage {
  /** Stores the stream under `key` (replacing), refusing more than `maxBytes`. */
  put(key: string, body: Readable, maxBytes: number): Promise<StoredObject>;
  get(key: string): Promise<Readable>;
  delete(key: string): Promise<void>;
  /**
   * A URL that reads the object without the server for `ttlSec` seconds (S3: a presigned GET);
   * where present, downloads are answered with a redirect to it. Absent: the server streams.
   */
  presignGet?(key: string, ttlSec: number, fileName: string): Promise<string>;
}

/** Artifact names: one path segment of safe characters (no "..", no slashes, no leading dot). */
export const ARTIFACT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkArtifactName(name: string): string | null {
  if (!ARTIFACT_NAME.test(name)) return `artifact name ${JSON.stringify(name)} is not allowed: expected 1–200 characters of A-Z a-z 0-9 _ . - not starting with "." or "-"`;
  if (name.includes("..")) return `artifact name ${JSON.stringify(name)} contains ".."`;
  return null;
}

export class TooLarge extends WinnowError {
  constructor(readonly limit: number) {
    super("too_large", `body larger than the limit of ${limit} bytes`);
  }
}

/**
 * The storage has no room (a full disk: ENOSPC, a quota: EDQUOT, an S3 store answering 507). The
 * API answers 507 and the partial object is gone; the worker fails the run instead of retrying.
 */
export class StorageFull extends WinnowError {
  /** `systemCode`: what the storage said (ENOSPC, EDQUOT, an S3 error name). */
  constructor(readonly systemCode: string) {
    super("storage_full", `artifact storage is full (${systemCode}); the upload was discarded`);
  }
}

/** The StorageFull that `e` means, or null. */
export function storageFullOf(e: unknown): StorageFull | null {
  if (e instanceof StorageFull) return e;
  const code = (e as { code?: unknown })?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return new StorageFull(code);
  const s3 = e as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  if (s3?.$metadata?.httpStatusCode === 507 || s3?.name === "XMinioStorageFull") return new StorageFull(String(s3.name ?? "HTTP 507"));
  return null;
}

/** Storage keys are built by the server from ids and checked names; refusing odd segments is defence in depth. */
export function keySegments(key: string): string[] {
  const segs = key.split("/");
  if (segs.some((s) => s === "" || s === "." || s === ".." || s.includes("\\"))) throw new Error(`bad storage key ${JSON.stringify(key)}`);
  return segs;
}

/** A pass-through that counts and hashes the bytes of an upload, failing with TooLarge past `maxBytes`. */
export function measuringStream(maxBytes: number): { stream: Transform; result(): StoredObject } {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) return cb(new TooLarge(maxBytes));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ size, sha256: hash.digest("hex") }) };
}

export class LocalStorage implements ArtifactStorage {
  readonly root: string;

  constructor(root: string) {
    fs.mkdirSync(root, { recursive: true });
    this.root = fs.realpathSync(root);
  }

  private file(key: string): string {
    return path.join(this.root, ...keySegments(key));
  }

  async put(key: string, body: Readable, maxBytes: number): Promise<StoredObject> {
    const dest = this.file(key);
    const tmp = `${dest}.${process.pid}.${Date.now()}.part`;
    const measured = measuringStream(maxBytes);
    try {
      await fs.promises.mkdir(path.dirname(dest), { recursive: true });
      await pipeline(body, measured.stream, fs.createWriteStream(tmp));
      await fs.promises.rename(tmp, dest);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      throw storageFullOf(e) ?? e;
    }
    return measured.result();
  }

  async get(key: string): Promise<Readable> {
    const f = this.file(key);
    await fs.promises.access(f);
    return fs.createReadStream(f);
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }
}
