// The options of buildApp (app.ts): what the API needs from serve() or a test.
import type { Store } from "../db/store.js";
import type { ArtifactStorage } from "./storage.js";
import type { UiApiOptions } from "./ui-api.js";

export interface AppOptions {
  store: Store;
  storage: ArtifactStorage;
  /** Folder every dataset's datasource is relative to. */
  datasourceRoot: string;
  /** HMAC key for signed URLs (hex). */
  signingSecret: string;
  /** Base of the URLs the server hands out (signed URLs), e.g. http://host:port. */
  publicUrl: () => string;
  /** Largest JSON body (bytes). */
  bodyLimit?: number;
  /** Largest artifact upload (bytes). */
  artifactLimit?: number;
  /** Seconds a signed URL handed to a worker for a checkpoint stays valid. */
  workerUrlTtl?: number;
  /**
   * Answer downloads with a redirect to the storage's own presigned URL where it has them (S3),
   * so artifact bytes do not pass through the API (default true). Off: the server streams them.
   */
  storageRedirect?: boolean;
  /**
   * Refuse a dataset whose datasource folder is not under `datasourceRoot` (default true). Off where
   * only the workers mount the data (the server then cannot show thumbnails either).
   */
  datasourceCheck?: boolean;
  /** Folders besides a dataset's datasource that scheduled configs may name by absolute path (--allow-root). */
  allowRoots?: string[];
  logger?: boolean;
  /** Bounds of the UI's heavy routes (embedding map, thumbnails); defaults in ui-api.ts. */
  ui?: Pick<UiApiOptions, "embeddingMap" | "thumbnails" | "workerTimeoutMs">;
  /** The built web UI served under /ui/ (default: web/dist of this checkout). */
  uiDist?: string;
  /**
   * How often a long-polling claim re-checks the queue without a wake-up (ms; default 1000). With
   * LISTEN/NOTIFY running, schedules on other replicas wake it, so serve() lengthens this then.
   */
  claimPollMs?: () => number;
}
