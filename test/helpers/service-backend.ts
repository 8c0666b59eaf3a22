// The service tests run once per backend: "sqlite" (one server, a SQLite file, a local artifact
// folder, local datasources) and "postgres" (PostgreSQL, artifacts and datasources in S3, and the
// e2e tests with two server processes behind the one database). One PostgreSQL cluster and one S3
// server per test process, started on first use and stopped when the process exits.
import * as fs from "node:fs";
import * as path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { s3Client } from "../../src/s3/client.js";
import { startPostgres, type PgCluster } from "./postgres.js";
import { startS3, type LocalS3 } from "./s3.js";

export type BackendName = "sqlite" | "postgres";
export const BACKENDS: readonly BackendName[] = ["sqlite", "postgres"];

let pg: Promise<PgCluster> | null = null;
let s3: Promise<LocalS3> | null = null;
let dbCount = 0;

export const ART_BUCKET = "winnow-art";
export const DATA_BUCKET = "winnow-data";

export function cluster(): Promise<PgCluster> {
  if (!pg) {
    pg = startPostgres();
  }
  return pg;
}

export function localS3(): Promise<LocalS3> {
  if (!s3) {
    s3 = startS3([ART_BUCKET, DATA_BUCKET]);
  }
  return s3;
}

/** A fresh database for one suite: a SQLite file in `dir`, or a new PostgreSQL database. */
export async function freshDatabase(backend: BackendName, dir: string): Promise<string> {
  if (backend === "sqlite") return path.join(dir, "w.db");
  return (await cluster()).createDatabase(`winnow_${process.pid}_${++dbCount}`);
}

/** Where artifacts go: a folder in `dir`, or an S3 prefix (the S3 env is put into process.env too). */
export async function artifactStorage(backend: BackendName, dir: string, name: string): Promise<string> {
  if (backend === "sqlite") return path.join(dir, "art");
  Object.assign(process.env, (await localS3()).env);
  return `s3://${ART_BUCKET}/${name}`;
}

/** Uploads a local folder to s3://DATA_BUCKET/<prefix>/ and answers that URL. */
export async function uploadFolder(folder: string, prefix: string): Promise<string> {
  Object.assign(process.env, (await localS3()).env);
  const c = s3Client();
  for (const f of fs.readdirSync(folder, { recursive: true }) as string[]) {
    const full = path.join(folder, f);
    if (!fs.statSync(full).isFile()) continue;
    await c.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: `${prefix}/${f.split(path.sep).join("/")}`, Body: fs.readFileSync(full) }));
  }
  c.destroy();
  return `s3://${DATA_BUCKET}/${prefix}`;
}
