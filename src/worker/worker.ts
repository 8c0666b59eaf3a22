// `winnow worker`: registers with the server, long-polls for the highest-priority OPEN scheduled run
// its labels fit, runs it in a child process (job.ts), streams state and log lines, uploads the
// newest epoch checkpoint while training and every artifact at the end, and heartbeats throughout.
// Calls to the server are retried while it is unreachable (a restarted server is picked up again):
// without end while no run is held, within a budget for a run's calls (retry.ts); a 507 or a spent
// budget for an artifact fails the run with the reason, and the worker goes on to the next run.
// A 409 on an update means the server ended the run (dead-worker policy or cancel): the job stops.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ApiHttp } from "../client/http.js";
import type { WorkerData } from "../db/records.js";
import type { S3Settings } from "../s3/client.js";
import { DEFAULT_END_BUDGET, DEFAULT_UPDATE_BUDGET, DEFAULT_UPLOAD_BUDGET, type RetryBudget } from "./retry.js";
import { retryingWith, type Retrying } from "./retrying.js";
import type { Claim } from "./claim.js";
import type { WorkerContext } from "./context.js";
import { startHeartbeat } from "./heartbeat.js";
import { runJob } from "./run-job.js";
import { shutdownReason } from "./shutdown.js";
import { UnsentEnds } from "./unsent-ends.js";
import { countNvidiaGpus } from "../util/gpus.js";
import { workerGpuLabels } from "../config/gpu-labels.js";

export interface WorkerOptions {
  server: string;
  token: string;
  name?: string;
  labels?: string[];
  /** Reuse a registered worker id instead of registering a new one. */
  workerId?: string;
  device?: "cpu" | "cuda";
  /** GPUs this worker advertises (labels gpus:1 … gpus:N); default: the NVIDIA GPUs it sees (none with device "cpu"). */
  gpus?: number;
  /** Jobs' outputs and the decode cache (default ./winnow-worker). */
  workDir?: string;
  /** Folder datasets' datasources are relative to (default: the current directory). */
  datasourceRoot?: string;
  /** Endpoint, path style and region for datasources in S3 (else from the environment). */
  s3?: S3Settings;
  /** Heartbeat period, ms (default 10 000; the server's timeout should be several periods). */
  heartbeatMs?: number;
  /** Least time between two live-progress updates of a run, ms (default 1000). */
  progressMs?: number;
  /** Long-poll wait per claim request, ms (default 20 000). */
  pollWaitMs?: number;
  /** Retry budget of each artifact upload (and datapool download) of a run (default 10 tries / 5 minutes). */
  uploadRetry?: Partial<RetryBudget>;
  /** Retry budget of each state update and log batch (default 10 tries / 2 minutes). */
  updateRetry?: Partial<RetryBudget>;
  /** Retry budget of the update that sets the end state (default 30 tries / 5 minutes). */
  endRetry?: Partial<RetryBudget>;
  /** Exit after one run (Lightly's shutdown_when_job_finished). */
  shutdownWhenJobFinished?: boolean;
  /** Folders a run config's paths may also read (besides its datasource, job folder and cache): --allow-root. */
  allowRoots?: string[];
  /** Hosts, IPs or CIDRs a run config's URLs may reach though internal: --allow-url-host. */
  allowUrlHosts?: string[];
  /** Stops the worker: a running job is aborted (after its step, checkpoint kept) and marked ABORTED. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export { isTransientError } from "./retry.js";

export async function runWorker(o: WorkerOptions): Promise<void> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const workDir = path.resolve(o.workDir ?? "winnow-worker");
  fs.mkdirSync(workDir, { recursive: true });
  const realRoot = fs.realpathSync(o.datasourceRoot ?? ".");
  const retrying = retryingWith(log, o.signal);
  const workerId = await registerWorker(o, retrying, log);
  const http = new ApiHttp({ url: o.server, token: o.token, headers: { "x-winnow-worker": workerId } });
  const budget = (given: Partial<RetryBudget> | undefined, d: RetryBudget): RetryBudget => ({ ...d, ...given });
  const ctx: WorkerContext = {
    http, log, stop: o.signal, retrying, unsentEnds: new UnsentEnds(log), workerName: o.name ?? workerId, workDir, realRoot,
    budgets: { upload: budget(o.uploadRetry, DEFAULT_UPLOAD_BUDGET), update: budget(o.updateRetry, DEFAULT_UPDATE_BUDGET), end: budget(o.endRetry, DEFAULT_END_BUDGET) },
    progressMs: o.progressMs ?? 1000, device: o.device, s3: o.s3, allowRoots: o.allowRoots ?? [], allowUrlHosts: o.allowUrlHosts ?? [],
  };
  const stopHeartbeat = startHeartbeat(http, workerId, o.heartbeatMs ?? 10_000);
  try {
    await claimLoop(ctx, workerId, o);
  } finally {
    stopHeartbeat();
  }
}

/** The worker's id: the one given, or a new registration (retried while the server is unreachable). */
async function registerWorker(o: WorkerOptions, retrying: Retrying, log: (line: string) => void): Promise<string> {
  const http = new ApiHttp({ url: o.server, token: o.token });
  let workerId = o.workerId;
  const gpus = o.gpus ?? (o.device === "cpu" ? 0 : countNvidiaGpus() ?? 0);
  const labels = [...new Set([...(o.labels ?? []), ...workerGpuLabels(gpus)])];
  if (!workerId) {
    // A registered name is reused (Lightly's rule): the default is unique per process, because two
    // processes sharing one worker would share its heartbeat and hide each other's death.
    const w = await retrying("register", () => http.json<WorkerData>("POST", "/v1/workers", { name: o.name ?? `${os.hostname()}-${process.pid}`, labels }));
    workerId = w.id;
  }
  log(`worker ${workerId} registered at ${http.base} (${gpus} GPU(s); labels: ${labels.join(", ") || "none"})`);
  return workerId;
}

/** Long-polls for runs and runs them one at a time until stopped or a shutdown rule says so. */
async function claimLoop(ctx: WorkerContext, workerId: string, o: WorkerOptions): Promise<void> {
  const waitMs = o.pollWaitMs ?? 20_000;
  while (!ctx.stop?.aborted) {
    await ctx.unsentEnds.sendAll(ctx.http);
    let claim: Claim | null;
    try {
      claim = await ctx.retrying("claim", () => ctx.http.json<Claim | null>("POST", `/v1/workers/${workerId}/claim`, { wait_ms: waitMs }, { timeoutMs: waitMs + 30_000 }));
    } catch (e) {
      if (ctx.stop?.aborted) break;
      throw e;
    }
    if (!claim) continue;
    ctx.log(`claimed run ${claim.run.id} (scheduled ${claim.run.scheduled_id}, dataset ${claim.dataset.name})`);
    await runJob(ctx, claim);
    const why = shutdownReason(o.shutdownWhenJobFinished, claim);
    if (why) {
      ctx.log(`shutting down after run ${claim.run.id} (${why})`);
      break;
    }
  }
}
