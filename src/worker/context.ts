// What a job of the worker needs from the worker: its settings, its connection to the server (with
// the worker's id header), its retry loop and the end states still to send. Built once, after the
// worker registered; read-only for the jobs except `unsentEnds`.
import type { ApiHttp } from "../client/http.js";
import type { S3Settings } from "../s3/client.js";
import type { RetryBudget } from "./retry.js";
import type { Retrying } from "./retrying.js";
import type { UnsentEnds } from "./unsent-ends.js";

export interface WorkerContext {
  http: ApiHttp;
  log: (line: string) => void;
  /** The worker's stop signal (--signal). */
  stop?: AbortSignal;
  retrying: Retrying;
  budgets: { upload: RetryBudget; update: RetryBudget; end: RetryBudget };
  unsentEnds: UnsentEnds;
  workerName: string;
  /** Absolute: jobs' folders, the decode cache and the S3 mirror. */
  workDir: string;
  /** Real path of the folder datasets' datasources are relative to. */
  realRoot: string;
  progressMs: number;
  device?: "cpu" | "cuda";
  s3?: S3Settings;
  allowRoots: string[];
  allowUrlHosts: string[];
}
