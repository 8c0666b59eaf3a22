// S3-compatible object storage settings shared by the server (artifacts) and the workers
// (datasources): `s3://bucket/prefix` URLs, and a client whose endpoint and addressing style can be
// set for MinIO, Ceph, R2, s3rver… Credentials and region come from the AWS SDK's usual chain
// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles; AWS_REGION).
import { S3Client } from "@aws-sdk/client-s3";

export interface S3Location {
  bucket: string;
  /** Key prefix without leading slash; ends with "/" unless empty. */
  prefix: string;
}

export interface S3Settings {
  /** e.g. http://127.0.0.1:9000 (default: AWS; or $WINNOW_S3_ENDPOINT). */
  endpoint?: string;
  /** Path-style addressing (http://host/bucket/key), which most non-AWS servers need ($WINNOW_S3_PATH_STYLE=1). */
  forcePathStyle?: boolean;
  /** Default $AWS_REGION, else us-east-1. */
  region?: string;
}

// Bucket names per S3's rules: 3–63 of a-z 0-9 . -, starting and ending with a letter or digit.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const isS3Url = (s: string): boolean => /^s3:\/\//i.test(s);

/** Parses `s3://bucket/prefix`; `what` names the option or field in errors. */
export function parseS3Url(url: string, what: string): S3Location {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/i.exec(url);
  if (!m) throw new Error(`${what}: expected s3://bucket/prefix, got ${JSON.stringify(url)}`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket)) throw new Error(`${what}: ${JSON.stringify(bucket)} is not a valid bucket name (3–63 of a-z 0-9 . -)`);
  const segs = (m[2] ?? "").split("/").filter((s) => s !== "");
  if (segs.some((s) => s === "." || s === "..")) throw new Error(`${what}: the prefix of ${JSON.stringify(url)} contains "." or ".." segments`);
  return { bucket, prefix: segs.length ? `${segs.join("/")}/` : "" };
}

export const s3UrlOf = (l: S3Location): string => `s3://${l.bucket}/${l.prefix}`;

/** Settings from the environment, overridden by those given (CLI flags). */
export function s3Settings(given: S3Settings = {}): S3Settings {
  const env = process.env;
  const flag = env.WINNOW_S3_PATH_STYLE;
  return {
    endpoint: given.endpoint ?? (env.WINNOW_S3_ENDPOINT || undefined),
    forcePathStyle: given.forcePathStyle ?? (flag === undefined ? undefined : /^(1|true|yes)$/i.test(flag)),
    region: given.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
  };
}

export function s3Client(given: S3Settings = {}): S3Client {
  const s = s3Settings(given);
  if (s.endpoint && !/^https?:\/\/[^/]+\/?$/.test(s.endpoint)) throw new Error(`S3 endpoint: expected http(s)://host[:port], got ${JSON.stringify(s.endpoint)}`);
  return new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    // A custom endpoint almost always means a server without virtual-host buckets.
    forcePathStyle: s.forcePathStyle ?? Boolean(s.endpoint),
    // The SDK retries throttling and 5xx answers itself (standard mode, with back-off).
    maxAttempts: 5,
  });
}
