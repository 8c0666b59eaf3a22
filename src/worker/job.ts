// The child process that runs one claimed run: `run()` of `winnow run` on the dataset's folder, in
// its own process so a crash, a leak or libtorch's threads never take the worker (and its
// heartbeats) down. It talks to the worker over IPC only: state changes (run()'s onState),
// progress/log lines, and the final result.
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveInRunFolder, PolicyError } from "../run/policy.js";
import { preflightJobConfig } from "./job-preflight.js";
import { FileReadError } from "../util/regular-file.js";
import { jobPolicy, type JobSpec } from "./job-spec.js";
import { sendToWorker as send, workerHooks } from "./job-hooks.js";
import { startJobRanks, type JobRanks } from "./job-ranks.js";
import type { RunOverrides } from "../config/run-config.js";
import type { RunPolicy } from "../run/policy.js";
import type { ProgressStream } from "../util/progress.js";
import { describeFailure } from "../distributed/launch.js";

export type { JobSpec, JobMessage } from "./job-spec.js";

async function main(spec: JobSpec): Promise<void> {
  process.env.WINNOW_HOME = spec.home;
  fs.mkdirSync(spec.home, { recursive: true });
  const config = structuredClone(spec.config);
  const wc = (config.worker_config ??= {}) as Record<string, unknown>;
  const policy = jobPolicy(spec);
  if (spec.checkpoint) {
    // The server's own signed URL (checkpoint_run_id, datapool): trusted, redirects included.
    policy.trustedUrls = [spec.checkpoint];
    wc.checkpoint = spec.checkpoint;
    delete wc.checkpoint_run_id;
  }
  try {
    // checkpoint_callback.dirpath: only a folder inside the run folder (the server refuses others at
    // schedule time; a config stored before that check ends here).
    const cb = (config.lightly_config as { checkpoint_callback?: { dirpath?: unknown } } | null | undefined)?.checkpoint_callback;
    if (cb && typeof cb.dirpath === "string") cb.dirpath = resolveInRunFolder(cb.dirpath, "lightly_config.checkpoint_callback.dirpath", spec.output);
    await preflightJobConfig(wc, policy, spec.input);
  } catch (e) {
    if (!(e instanceof PolicyError || e instanceof FileReadError)) throw e;
    send({ type: "done", ok: false, aborted: false, message: e.message, record: null });
    return;
  }
  const { run, RunError } = await import("../run/run.js");
  if (spec.datapool) {
    // run() finds the datapool in its local runs index: give it one record holding the dataset's
    // datapool as the server knows it.
    const { recordDatapoolRun } = await import("../run/datapool-record.js");
    recordDatapoolRun({ runId: spec.datapool.runId, input: spec.input, filenamesFile: spec.datapool.file, folder: path.join(spec.home, "datapool", spec.datapool.runId) });
  }

  const abort = new AbortController();
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "abort") abort.abort();
  });
  process.on("SIGINT", () => abort.abort()); // Ctrl-C reaches the whole process group
  // The worker died (kill -9): nobody will upload or report what this process computes.
  process.on("disconnect", () => process.exit(1));

  const { flush, ...hooks } = workerHooks();
  const timer = setInterval(flush, 250);
  const overrides = spec.device ? { device: spec.device } : {};
  let ranks: JobRanks | null = null;
  try {
    ranks = await startRanks(spec, { config, overrides, policy, stream: hooks.stream, abort });
    const res = await run({
      input: spec.input, config, output: spec.output, ...hooks, signal: abort.signal, cacheDir: spec.cacheDir,
      overrides, policy, resume: spec.resume ?? undefined, ranks: ranks?.setup,
      tags: Object.fromEntries(Object.entries(spec.tags ?? {}).map(([name, f]) => [name, fs.readFileSync(f, "utf8").split("\n").filter(Boolean)])),
    });
    await ranks?.finish();
    flush();
    send({ type: "done", ok: true, aborted: false, message: "", record: res.record as unknown as Record<string, unknown> });
  } catch (e) {
    const ranksEnd = await ranks?.finish();
    flush();
    const rec = e instanceof RunError ? (e.record as unknown as Record<string, unknown>) : null;
    const peerFailed = ranks?.peerFailed ?? false;
    const aborted = rec?.state === "ABORTED" || (abort.signal.aborted && !peerFailed);
    // Rank 0's own error often comes first (Gloo's "connection reset"): name the rank that died.
    const dead = ranksEnd?.firstFailure;
    const cause = !aborted && dead && (peerFailed || dead.signal) ? ` (${describeFailure(dead)})` : "";
    send({ type: "done", ok: false, aborted, message: `${(e as Error)?.message ?? String(e)}${cause}`, record: rec });
  } finally {
    clearInterval(timer);
  }
}

/**
 * A run over several ranks (trainer.gpus / num_processes): this process is rank 0, ranks 1..N-1
 * start here; one that fails stops rank 0 after its step (FAILED, not ABORTED). Null: one rank.
 */
async function startRanks(spec: JobSpec, a: { config: JobSpec["config"]; overrides: RunOverrides; policy: RunPolicy; stream: ProgressStream | null; abort: AbortController }): Promise<JobRanks | null> {
  const ranks = await startJobRanks({
    config: a.config, overrides: a.overrides, jobDir: path.dirname(spec.output),
    rankSpec: { home: spec.home, opts: { input: spec.input, config: a.config, overrides: a.overrides, cacheDir: spec.cacheDir, policy: a.policy, resume: spec.resume ?? undefined } },
    onOutput: (l) => void a.stream?.write(`${l}\n`),
    onFailure: (message) => {
      void import("../distributed/index.js").then(({ DistributedError }) => a.abort.abort(new DistributedError(`${message}; rank 0 stopped after its current step`)));
    },
  });
  if (ranks) {
    process.on("exit", ranks.killNow); // no rank outlives its job
    send({ type: "ranks", ranks: ranks.setup.rendezvous.worldSize, pids: ranks.pids });
  }
  return ranks;
}

const specFile = process.argv[2];
if (!specFile) {
  process.stderr.write("usage: job.ts <spec.json> (started by `winnow worker`)\n");
  process.exit(2);
}
main(JSON.parse(fs.readFileSync(specFile, "utf8")) as JobSpec).then(
  () => process.disconnect?.(),
  (e) => {
    send({ type: "done", ok: false, aborted: false, message: `job failed to start: ${(e as Error)?.message ?? e}`, record: null });
    process.disconnect?.();
  },
);
