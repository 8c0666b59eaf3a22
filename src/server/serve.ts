// `winnow serve` as a function: opens the database (migrating it), the artifact storage, builds the
// API and listens; a timer applies the dead-worker policy (see docs/service.md).
import * as fs from "node:fs";
import * as path from "node:path";
import { openDb } from "../db/driver.js";
import { migrate } from "../db/migrations.js";
import { Store, SCHEDULED_CHANNEL } from "../db/store.js";
import { buildApp } from "./app.js";
import { newSigningSecret } from "./signing.js";
import { LocalStorage, storageFullOf, type ArtifactStorage } from "./storage.js";
import { isS3Url, parseS3Url } from "../s3/client.js";
import type { S3StorageOptions } from "./s3-storage.js";

export interface ServeOptions {
  /** SQLite file (default ./winnow-service/winnow.db) or a postgres:// URL. */
  database?: string;
  /** Artifact directory (default ./winnow-service/artifacts) or s3://bucket/prefix. */
  storage?: string;
  /** Endpoint, path style, region, multipart sizes of s3:// storage (else from the environment). */
  s3?: S3StorageOptions;
  /** Redirect downloads to presigned storage URLs where the storage has them (default true). */
  storageRedirect?: boolean;
  /** Folder datasets' datasources are relative to (default: the current directory). */
  datasourceRoot?: string;
  /** Refuse datasets whose folder is not under datasourceRoot (default true; see AppOptions). */
  datasourceCheck?: boolean;
  /** Folders besides a dataset's datasource that scheduled configs may name by absolute path. */
  allowRoots?: string[];
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Base URL put into signed URLs (default http://host:port as listened). */
  publicUrl?: string;
  /** A worker silent this long has its runs ended CRASHED (ms, default 60 000). */
  heartbeatTimeoutMs?: number;
  /** A LOCKED scheduled run without a run row (written before claims were atomic) reopens after this long (ms, default 60 000). */
  orphanLockGraceMs?: number;
  bodyLimit?: number;
  artifactLimit?: number;
  /**
   * Tests only, where no tiny filesystem can be mounted: every artifact write fails with ENOSPC
   * while this file exists (the storage then behaves as a full disk does).
   */
  testStorageFullWhile?: string;
  logger?: boolean;
  /** The built web UI served under /ui/ (default: web/dist of this checkout, made by `npm run build:web`). */
  uiDist?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function serve(o: ServeOptions = {}): Promise<RunningServer> {
  const base = path.resolve("winnow-service");
  let storage = await openStorage(o.storage ?? path.join(base, "artifacts"), o.s3);
  if (o.testStorageFullWhile) storage = fullWhile(storage, o.testStorageFullWhile);
  const db = await openDb(o.database ?? path.join(base, "winnow.db"));
  await migrate(db);
  const store = new Store(db);
  const secret = await store.setting("url_signing_secret", newSigningSecret);
  let url = "";
  // LISTEN/NOTIFY (PostgreSQL): a schedule through any replica wakes this one's long-polling
  // claims at once. While the LISTEN connection is up, the claims' fallback poll is slow.
  let listening = false;
  const claimPollMs = (): number => (listening ? 5000 : 1000);
  const { app, wake } = buildApp({
    claimPollMs,
    store, storage, signingSecret: secret, datasourceRoot: path.resolve(o.datasourceRoot ?? "."),
    publicUrl: () => o.publicUrl?.replace(/\/+$/, "") ?? url, bodyLimit: o.bodyLimit, artifactLimit: o.artifactLimit, logger: o.logger,
    storageRedirect: o.storageRedirect, allowRoots: o.allowRoots, datasourceCheck: o.datasourceCheck, ui: { workerTimeoutMs: o.heartbeatTimeoutMs ?? 60_000 },
    uiDist: o.uiDist,
  });
  const host = o.host ?? "127.0.0.1";
  await app.listen({ host, port: o.port ?? 8470 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const unlisten = db.listen
    ? await db.listen(SCHEDULED_CHANNEL, () => wake.emit("scheduled"), (up) => {
      // Coming back up: a schedule made while it was down woke nobody here.
      if (up && !listening) wake.emit("scheduled");
      listening = up;
    })
    : null;
  const timeout = o.heartbeatTimeoutMs ?? 60_000;
  const orphanGrace = o.orphanLockGraceMs ?? 60_000;
  // A server that was down could not hear heartbeats: it judges no worker dead before it has itself
  // been up for a full timeout (workers back off and reconnect meanwhile).
  const upSince = Date.now();
  const reaper = setInterval(() => {
    if (Date.now() - upSince >= timeout) store.reapDeadWorkers(timeout).catch((e) => console.error(`dead-worker check failed: ${(e as Error).message}`));
    store.reclaimOrphanLocks(orphanGrace)
      .then((n) => n > 0 && wake.emit("scheduled"))
      .catch((e) => console.error(`orphan-lock check failed: ${(e as Error).message}`));
  }, Math.max(200, Math.min(5000, timeout / 4)));
  reaper.unref();
  return {
    url,
    async close() {
      clearInterval(reaper);
      await unlisten?.();
      await app.close();
      await db.close();
    },
  };
}

function fullWhile(inner: ArtifactStorage, flag: string): ArtifactStorage {
  return {
    put: async (key, body, max) => {
      if (!fs.existsSync(flag)) return inner.put(key, body, max);
      body.resume();
      throw storageFullOf(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
    },
    get: (key) => inner.get(key),
    delete: (key) => inner.delete(key),
    ...(inner.presignGet ? { presignGet: inner.presignGet.bind(inner) } : {}),
  };
}

async function openStorage(spec: string, s3?: S3StorageOptions): Promise<ArtifactStorage> {
  if (!isS3Url(spec)) return new LocalStorage(spec);
  const { S3Storage } = await import("./s3-storage.js");
  const st = new S3Storage(parseS3Url(spec, "--storage"), s3);
  await st.check();
  return st;
}
