// Artifacts in S3-compatible storage: the second ArtifactStorage (the first is a local folder).
// Uploads stream through a size limit and a SHA-256 into a multipart upload (lib-storage's Upload:
// parts of `partSize`, a few in flight, a single PUT when the body is small), so an 8 GiB checkpoint
// is never held in memory and a failed upload leaves no parts behind. Reads are presigned GET URLs
// the server redirects clients to, so large downloads do not pass through the API processes.
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { s3Client, type S3Location, type S3Settings } from "../s3/client.js";
import { WinnowError } from "../util/errors.js";
import { keySegments, measuringStream, storageFullOf, type ArtifactStorage, type StoredObject } from "./storage.js";

export interface S3StorageOptions extends S3Settings {
  /** Multipart part size in bytes (default 16 MiB; S3 requires ≥ 5 MiB except the last part). */
  partSize?: number;
  /** Parts uploaded at once (default 4). */
  queueSize?: number;
}

export class S3Storage implements ArtifactStorage {
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(readonly location: S3Location, o: S3StorageOptions = {}) {
    this.client = s3Client(o);
    this.partSize = o.partSize ?? 16 * 1024 * 1024;
    this.queueSize = o.queueSize ?? 4;
  }

  /** Fails early (at server start) when the bucket is missing or the credentials do not reach it. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const where = `s3://${this.location.bucket}/${this.location.prefix}`;
      throw new WinnowError("invalid_config", `--storage ${where}: bucket not usable (${status ? `HTTP ${status}` : (e as Error).message})`, { where: "--storage", cause: e });
    }
  }

  private key(key: string): string {
    return this.location.prefix + keySegments(key).join("/");
  }

  async put(key: string, body: Readable, maxBytes: number): Promise<StoredObject> {
    const measured = measuringStream(maxBytes);
    const out = new PassThrough();
    const upload = new Upload({
      client: this.client, partSize: this.partSize, queueSize: this.queueSize, leavePartsOnError: false,
      params: { Bucket: this.location.bucket, Key: this.key(key), Body: out, ContentType: "application/octet-stream" },
    });
    const uploaded = upload.done();
    // An S3 failure stops the upload reading `out`: end the pipeline with that error instead of
    // waiting on back-pressure for ever. (Also keeps the rejection handled until awaited below.)
    uploaded.catch((e) => out.destroy(e as Error));
    try {
      await pipeline(body, measured.stream, out);
    } catch (e) {
      // The object is never completed: S3 keeps the previous version (or none) under this key.
      await upload.abort().catch(() => {});
      throw storageFullOf(e) ?? e;
    }
    try {
      await uploaded;
    } catch (e) {
      throw storageFullOf(e) ?? e;
    }
    return measured.result();
  }

  async get(key: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
    return r.Body as Readable;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
  }

  async presignGet(key: string, ttlSec: number, fileName: string): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({
      Bucket: this.location.bucket, Key: this.key(key),
      ResponseContentDisposition: `attachment; filename="${fileName}"`, ResponseContentType: "application/octet-stream",
    }), { expiresIn: Math.max(1, Math.min(7 * 24 * 3600, Math.floor(ttlSec))) });
  }
}
