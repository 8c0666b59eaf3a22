// `winnow worker`: registers with the server, long-polls for the highest-priority OPEN scheduled run
// its labels fit, runs it in a child process (job.ts), streams state and log lines, uploads the
// newest epoch checkpoint while training and every artifact at the end, and heartbeats throughout.
// Calls to the server are retried while it is unreachable (a restarted server is picked up again):
// without end while no run is held, within a budget for a run's calls (retry.ts); a 507 or a spent
// budget for an artifact fails the run with the reason, and the worker goes on to the next run.
// A 409 on an update means the server ended the run (dead-worker policy or cancel): the job stops.
import { fork, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { resolveInside, PathRefused } from "../data/folder.js";
import { ApiHttp } from "../client/http.js";
import { ApiConflictError, ApiError } from "../client/errors.js";
import { truncateText } from "../util/truncate-text.js";
import { logBatches } from "./log-batches.js";
import {
  DEFAULT_END_BUDGET, DEFAULT_UPDATE_BUDGET, DEFAULT_UPLOAD_BUDGET, RetryBudgetExhausted, describeError, isStorageFull, isTransientError,
  type RetryBudget,
} from "./retry.js";
import { RUN_STATES, type ArtifactData, type ArtifactType, type RunState, type WorkerData } from "../db/records.js";
import type { JobMessage, JobSpec } from "./job.js";
import type { ClaimResponse } from "../client/claim-response.js";
import { artifactsOfRun } from "./artifacts.js";
import { isS3Url, type S3Settings } from "../s3/client.js";

export interface WorkerOptions {
  server: string;
  token: string;
  name?: string;
  labels?: string[];
  /** Reuse a registered worker id instead of registering a new one. */
  workerId?: string;
  device?: "cpu" | "cuda";
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

type Claim = ClaimResponse;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

export { isTransientError } from "./retry.js";

/** run()'s states that are not Lightly's are reported as the Lightly state they belong to. */
function lightlyState(s: string): RunState | null {
  if (s === "SAVING_RESULTS") return "SAMPLING";
  return (RUN_STATES as readonly string[]).includes(s) ? (s as RunState) : null;
}

export async function runWorker(o: WorkerOptions): Promise<void> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const stop = o.signal;
  const workDir = path.resolve(o.workDir ?? "winnow-worker");
  fs.mkdirSync(workDir, { recursive: true });
  const realRoot = fs.realpathSync(o.datasourceRoot ?? ".");
  const heartbeatMs = o.heartbeatMs ?? 10_000;
  const progressMs = o.progressMs ?? 1000;

  let http = new ApiHttp({ url: o.server, token: o.token });
  const budget = (given: Partial<RetryBudget> | undefined, d: RetryBudget): RetryBudget => ({ ...d, ...given });
  const uploadBudget = budget(o.uploadRetry, DEFAULT_UPLOAD_BUDGET);
  const updateBudget = budget(o.updateRetry, DEFAULT_UPDATE_BUDGET);
  const endBudget = budget(o.endRetry, DEFAULT_END_BUDGET);
  /**
   * Retries `fn` while the server is unreachable, until it answers, the worker stops, or (with a
   * budget: calls made for a run) the budget is spent, which throws RetryBudgetExhausted.
   */
  async function retrying<T>(what: string, fn: () => Promise<T>, opts: { untilStopped?: boolean; budget?: RetryBudget } = {}): Promise<T> {
    let delay = 250;
    let warned = false;
    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const v = await fn();
        if (warned) log(`server reachable again (${what})`);
        return v;
      } catch (e) {
        if (!isTransientError(e)) throw e;
        if (opts.untilStopped !== false && stop?.aborted) throw e;
        const b = opts.budget;
        if (b && (attempt >= b.attempts || Date.now() - t0 + delay > b.totalMs)) throw new RetryBudgetExhausted(what, attempt, Date.now() - t0, e);
        // The first failure and every 10th: with the underlying cause (fetch says only "fetch failed").
        if (!warned || attempt % 10 === 0) log(`server unreachable (${what}, attempt ${attempt}: ${describeError(e)}); retrying`);
        warned = true;
        await sleep(delay);
        delay = Math.min(5000, delay * 2);
      }
    }
  }

  let workerId = o.workerId;
  if (!workerId) {
    // A registered name is reused (Lightly's rule): the default is unique per process, because two
    // processes sharing one worker would share its heartbeat and hide each other's death.
    const w = await retrying("register", () => http.json<WorkerData>("POST", "/v1/workers", { name: o.name ?? `${os.hostname()}-${process.pid}`, labels: o.labels ?? [] }));
    workerId = w.id;
  }
  const workerName = o.name ?? workerId;
  log(`worker ${workerId} registered at ${http.base} (labels: ${(o.labels ?? []).join(", ") || "none"})`);
  http = new ApiHttp({ url: o.server, token: o.token, headers: { "x-winnow-worker": workerId } });

  /**
   * End states the server could not be told (unreachable past the budget): sent once more before each
   * claim, so a run this worker has finished does not stay "going" for ever while it heartbeats.
   */
  const unsentEnds = new Map<string, { state: RunState; message: string }>();
  async function sendUnsentEnds(): Promise<void> {
    for (const [runId, body] of unsentEnds) {
      try {
        await http.json("PATCH", `/v1/runs/${runId}`, body);
        unsentEnds.delete(runId);
        log(`run ${runId}: ${body.state} set after all`);
      } catch (e) {
        if (isTransientError(e)) return;
        unsentEnds.delete(runId);
        log(`run ${runId}: the late end state ${body.state} was refused: ${describeError(e)}`);
      }
    }
  }

  const beat = setInterval(() => {
    http.json("POST", `/v1/workers/${workerId}/heartbeat`, {}, { timeoutMs: heartbeatMs * 2 }).catch(() => {});
  }, heartbeatMs);
  try {
    while (!stop?.aborted) {
      await sendUnsentEnds();
      let claim: Claim | null;
      try {
        claim = await retrying("claim", () => http.json<Claim | null>("POST", `/v1/workers/${workerId}/claim`, { wait_ms: o.pollWaitMs ?? 20_000 }, { timeoutMs: (o.pollWaitMs ?? 20_000) + 30_000 }));
      } catch (e) {
        if (stop?.aborted) break;
        throw e;
      }
      if (!claim) continue;
      log(`claimed run ${claim.run.id} (scheduled ${claim.run.scheduled_id}, dataset ${claim.dataset.name})`);
      await runJob(claim);
      // Lightly's worker_config.shutdown_when_job_finished: the flag, or the run's own config.
      const fromRun = (claim.config.worker_config as { shutdown_when_job_finished?: unknown } | null | undefined)?.shutdown_when_job_finished === true;
      if (o.shutdownWhenJobFinished || fromRun) {
        log(`shutting down after run ${claim.run.id} (${fromRun ? "worker_config.shutdown_when_job_finished" : "--shutdown-when-job-finished"})`);
        break;
      }
    }
  } finally {
    clearInterval(beat);
  }

  async function runJob(c: Claim): Promise<void> {
    const runId = c.run.id;
    const jobDir = path.join(workDir, "runs", runId);
    let ended = false;
    let cancelSeen = false;
    let child: ChildProcess | null = null;
    // Asks the job to stop after its step. Once it has exited, send() would throw (channel closed).
    const abortChild = (): void => {
      if (child?.connected) child.send({ type: "abort" });
    };
    /** Why the run must end FAILED whatever the job does (an artifact that cannot be stored). */
    let fatal: string | null = null;
    const onConflict = (e: ApiConflictError): void => {
      ended = true;
      log(`run ${runId} was ended by the server: ${e.message}`);
      abortChild();
    };
    // Updates and log lines go out in order, one at a time.
    let chain: Promise<unknown> = Promise.resolve();
    const enqueue = (what: string, fn: () => Promise<unknown>): Promise<unknown> => {
      chain = chain.then(() => (ended ? null : retrying(what, fn, { untilStopped: false, budget: updateBudget }))).catch((e) => {
        if (e instanceof ApiConflictError) onConflict(e);
        else log(`run ${runId}: ${what} failed: ${(e as Error).message}`);
      });
      return chain;
    };
    type RunUpdate = { state?: RunState; message?: string; progress?: Record<string, unknown> | null; checkpoint_source?: string | null };
    const patch = async (body: RunUpdate): Promise<void> => {
      const r = await http.json<{ cancel_requested: boolean }>("PATCH", `/v1/runs/${runId}`, body);
      if (r.cancel_requested && !cancelSeen) {
        cancelSeen = true;
        log(`run ${runId}: canceled by the client; aborting`);
        abortChild();
      }
    };
    const update = (body: RunUpdate) => enqueue(`update ${body.state ?? ""}`, () => patch(body));
    const logLines = (lines: string[]) => {
      for (const batch of logBatches(lines)) enqueue("log", () => http.json("POST", `/v1/runs/${runId}/log`, { lines: batch }));
      return chain;
    };
    const upload = async (file: string, name: string, type: ArtifactType): Promise<void> => {
      await retrying(`upload ${name}`, () => http.upload<ArtifactData>(`/v1/runs/${runId}/artifacts/${encodeURIComponent(name)}?type=${type}`, file), { untilStopped: false, budget: uploadBudget });
    };
    /** An upload that failed for good: 507 or a spent budget make the run FAILED with this reason. */
    const uploadFailed = (name: string, e: unknown): void => {
      if (e instanceof ApiConflictError) return onConflict(e);
      const why = isStorageFull(e) ? (e as Error).message : e instanceof RetryBudgetExhausted ? e.message : `upload of ${name} failed: ${describeError(e)}`;
      log(`run ${runId}: artifact ${name} cannot be stored: ${why}`);
      if (!fatal && (isStorageFull(e) || e instanceof RetryBudgetExhausted)) {
        fatal = `artifact ${name} could not be uploaded: ${why}`;
        abortChild();
      }
    };
    /**
     * Sets the end state. A message the server refuses (a 4xx other than 409) is sent again shorter,
     * then without it: a run must not stay in UPLOADING_ARTIFACTS because of its message.
     */
    const finish = async (state: RunState, message: string): Promise<void> => {
      await chain;
      if (ended) return;
      const tries = [truncateText(message), truncateText(message, 500), ""];
      let last: unknown = null;
      for (const m of [...new Set(tries)]) {
        try {
          await retrying(`end ${state}`, () => patch({ state, message: m }), { untilStopped: false, budget: endBudget });
          last = null;
          break;
        } catch (e) {
          last = e;
          if (e instanceof ApiConflictError) return onConflict(e);
          if (!(e instanceof ApiError && e.status >= 400 && e.status < 500)) break;
          log(`run ${runId}: the server refused the end state with this message (${describeError(e)}); sending a shorter one`);
        }
      }
      ended = true;
      if (last) {
        log(`!!! run ${runId}: the end state ${state} could not be set: ${describeError(last)}; the server still shows the run as going. Message: ${truncateText(message, 2000)}`);
        // The server was unreachable: try again before each later claim.
        if (isTransientError(last) || last instanceof RetryBudgetExhausted) unsentEnds.set(runId, { state, message: truncateText(message, 500) });
        return;
      }
      log(`run ${runId}: ${state}${message ? ` (${truncateText(message, 2000)})` : ""}`);
    };

    // ---- inputs: datasource inside the root, checkpoint and datapool from the server ----
    let input: string;
    if (isS3Url(c.dataset.datasource)) {
      // Mirrored into the work dir (only what changed is fetched), then read like a local folder.
      try {
        const { mirrorS3Prefix } = await import("../data/s3-mirror.js");
        const m = await mirrorS3Prefix(c.dataset.datasource, path.join(workDir, "s3-mirror"), { settings: o.s3, log: (l) => logLines([l]) });
        input = m.dir;
        logLines([`datasource ${c.dataset.datasource}: ${m.objects} object(s), ${m.downloaded} downloaded (${m.bytesDownloaded} bytes), ${m.unchanged} unchanged, ${m.removed} removed${m.skipped.length ? `, ${m.skipped.length} skipped (keys that cannot be a local path, e.g. ${JSON.stringify(m.skipped[0])})` : ""}`]);
      } catch (e) {
        return finish("FAILED", `datasource ${JSON.stringify(c.dataset.datasource)} cannot be read on worker ${workerName}: ${(e as Error).message}`);
      }
    } else {
      try {
        input = resolveInside(realRoot, c.dataset.datasource);
        const real = fs.realpathSync(input);
        if (real !== input) throw new PathRefused(c.dataset.datasource, "symbolic link in the path (it may lead outside the datasource root)");
      } catch (e) {
        const why = e instanceof PathRefused ? e.reason : (e as Error).message;
        // The root is this machine's business: in the run's log, not in the message the UI shows.
        logLines([`datasource root on worker ${workerName}: ${realRoot}`]);
        return finish("FAILED", `datasource ${JSON.stringify(c.dataset.datasource)} cannot be used on worker ${workerName}: ${why}`);
      }
    }
    if (c.checkpoint && "error" in c.checkpoint) return finish("FAILED", c.checkpoint.error);
    fs.rmSync(jobDir, { recursive: true, force: true });
    fs.mkdirSync(jobDir, { recursive: true });
    let datapool: JobSpec["datapool"] = null;
    if (c.datapool) {
      const f = path.join(jobDir, "datapool.txt");
      try {
        await retrying("datapool download", () => http.download(c.datapool!.url, f, { auth: false }), { untilStopped: false, budget: uploadBudget });
      } catch (e) {
        return finish("FAILED", `use_datapool: the datapool of run ${c.datapool.run_id} cannot be downloaded: ${(e as Error).message}`);
      }
      datapool = { runId: c.datapool.run_id, file: f };
    }
    const tagFiles: Record<string, string> = {};
    for (const [k, [name, t]] of Object.entries(Object.entries(c.tags ?? {}))) {
      const f = path.join(jobDir, `tag-${k}.txt`);
      try {
        await retrying("tag download", () => http.download(t.url, f, { auth: false }), { untilStopped: false, budget: uploadBudget });
      } catch (e) {
        return finish("FAILED", `tag ${JSON.stringify(name)}: the selection of run ${t.run_id} cannot be downloaded: ${(e as Error).message}`);
      }
      tagFiles[name] = f;
    }
    if (c.checkpoint) await update({ checkpoint_source: c.checkpoint.source });

    const spec: JobSpec = {
      input, output: path.join(jobDir, "output"), home: path.join(jobDir, "home"), cacheDir: path.join(workDir, "cache"),
      config: { worker_config: c.config.worker_config, selection_config: c.config.selection_config, lightly_config: c.config.lightly_config },
      checkpoint: c.checkpoint && "url" in c.checkpoint ? c.checkpoint.url : null, datapool, device: o.device,
      policy: { allowRoots: (o.allowRoots ?? []).map((r) => path.resolve(r)), allowUrlHosts: o.allowUrlHosts ?? [], serverOrigin: new URL(http.base).origin },
      resume: c.resume ? { runId: c.resume.run_id, checkpoint: c.resume.url } : null,
      tags: tagFiles,
    };
    const specFile = path.join(jobDir, "spec.json");
    fs.writeFileSync(specFile, JSON.stringify(spec));

    // ---- the child ----
    // From the sources (a checkout) the job runs through tsx; from the compiled package, as JavaScript.
    const fromSource = import.meta.url.endsWith(".ts");
    const jobScript = fileURLToPath(new URL(fromSource ? "./job.ts" : "./job.js", import.meta.url));
    const execArgv = fromSource ? ["--import", import.meta.resolve("tsx")] : [];
    child = fork(jobScript, [specFile], { execArgv, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    const tail: string[] = [];
    const onOutput = (buf: Buffer): void => {
      const lines = buf.toString("utf8").split(/\r?\n/).filter((l) => l.trim());
      tail.push(...lines);
      tail.splice(0, Math.max(0, tail.length - 20));
      if (lines.length) logLines(lines);
    };
    child.stdout!.on("data", onOutput);
    child.stderr!.on("data", onOutput);
    const onStop = (): void => {
      log(`stopping: run ${runId} finishes its step, keeps its checkpoint and ends ABORTED`);
      abortChild();
    };
    stop?.addEventListener("abort", onStop, { once: true });

    // The newest epoch checkpoint is uploaded while training, so a crash loses at most one epoch.
    const ckptDir = path.join(spec.output, "checkpoints");
    let lastCkpt = "";
    const uploadNewestCheckpoint = async (): Promise<void> => {
      let files: string[];
      try {
        files = fs.readdirSync(ckptDir).filter((f) => f.endsWith(".ckpt"));
      } catch {
        return;
      }
      const newest = files.map((f) => ({ f, st: fs.statSync(path.join(ckptDir, f)) })).sort((a, b) => b.st.mtimeMs - a.st.mtimeMs)[0];
      if (!newest) return;
      const key = `${newest.f}:${newest.st.mtimeMs}:${newest.st.size}`;
      if (key === lastCkpt) return;
      lastCkpt = key;
      // A full storage (507) ends the run now; a spent budget is tried again with the next epoch's file.
      await upload(path.join(ckptDir, newest.f), "checkpoint.ckpt", "CHECKPOINT").catch((e) => {
        if (isStorageFull(e) || e instanceof ApiConflictError) uploadFailed("checkpoint.ckpt", e);
        else log(`run ${runId}: checkpoint upload failed: ${(e as Error).message}`);
      });
    };
    let uploading = false;
    const ckptTimer = setInterval(() => {
      if (uploading) return;
      uploading = true;
      uploadNewestCheckpoint().finally(() => (uploading = false));
    }, 1000);

    // Live progress goes to the server at most once a second (the newest only); each update's answer
    // also carries cancel_requested, so a cancel from the UI is noticed within about a second.
    let progress: Record<string, unknown> | null = null;
    const progressTimer = setInterval(() => {
      if (progress) update({ progress });
      progress = null;
    }, progressMs);
    const done = await new Promise<Extract<JobMessage, { type: "done" }> | null>((resolve) => {
      let result: Extract<JobMessage, { type: "done" }> | null = null;
      child!.on("message", (m: JobMessage) => {
        if (m.type === "state") {
          const s = lightlyState(m.state);
          progress = null;
          if (s && !["COMPLETED", "FAILED", "ABORTED"].includes(s)) update({ state: s, progress: { stage: m.state } });
        } else if (m.type === "progress") progress = { ...m.progress };
        else if (m.type === "log") logLines(m.lines);
        else if (m.type === "done") result = m;
      });
      child!.on("exit", (code, sig) => {
        if (!result) tail.push(`job process exited with ${sig ? `signal ${sig}` : `code ${code}`}`);
        resolve(result);
      });
    });
    clearInterval(ckptTimer);
    clearInterval(progressTimer);
    stop?.removeEventListener("abort", onStop);
    while (uploading) await sleep(50);
    if (ended) return; // the server ended the run (dead-worker policy or cancel); nothing more to say

    // ---- artifacts, then the end state ----
    await update({ state: "UPLOADING_ARTIFACTS" });
    const record = done?.record ?? null;
    for (const a of artifactsOfRun(spec.output, record, c.config.worker_config ?? {})) {
      if (ended) return;
      try {
        await upload(a.file, a.name, a.type);
      } catch (e) {
        uploadFailed(a.name, e);
        // The server stays unreachable: the other uploads would spend their budgets too.
        if (e instanceof RetryBudgetExhausted) break;
      }
    }
    if (ended) return;
    if (fatal) return finish("FAILED", fatal);
    if (!done) return finish("FAILED", `the job process died: ${tail.slice(-5).join(" | ")}`);
    if (done.ok) return finish("COMPLETED", "");
    if (done.aborted || cancelSeen || stop?.aborted) return finish("ABORTED", cancelSeen ? "canceled by the client" : done.message);
    return finish("FAILED", done.message);
  }
}
