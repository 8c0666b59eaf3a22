// The child process that runs one claimed run: `run()` of `winnow run` on the dataset's folder, in
// its own process so a crash, a leak or libtorch's threads never take the worker (and its
// heartbeats) down. It talks to the worker over IPC only: state changes (run()'s onState),
// progress/log lines, and the final result.
import * as fs from "node:fs";
import * as path from "node:path";
import type { ProgressStream } from "../util/progress.js";
import type { LiveProgress } from "../run/live-progress.js";
import type { RunState } from "../run/states.js";
import type { RunOptions } from "../run/options.js";
import { resolveInRunFolder, PolicyError, type RunPolicy } from "../run/policy.js";
import { preflightJobConfig } from "./job-preflight.js";
import { FileReadError } from "../util/regular-file.js";

/**
 * What a job's config may read: the datasource, this job's folder, --allow-root folders. Not the
 * shared decode cache: it holds other datasets' decoded images.
 */
export function jobPolicy(spec: Pick<JobSpec, "input" | "output" | "policy">): RunPolicy {
  return {
    roots: [spec.input, path.dirname(spec.output), ...(spec.policy?.allowRoots ?? [])],
    allowOrigins: spec.policy?.serverOrigin ? [spec.policy.serverOrigin] : [],
    allowHosts: spec.policy?.allowUrlHosts ?? [],
  };
}

export interface JobSpec {
  /** Real path of the dataset's folder on this machine. */
  input: string;
  /** The scheduled config as the client sent it (Lightly's keys). */
  config: { worker_config?: Record<string, unknown> | null; selection_config?: Record<string, unknown> | null; lightly_config?: Record<string, unknown> | null };
  /** Empty folder for the run's outputs. */
  output: string;
  /** $WINNOW_HOME of this job (its runs index holds only what the server said counts). */
  home: string;
  /** The worker's decode cache, shared by its jobs. */
  cacheDir: string;
  /** A URL (signed, from the server) or path of the checkpoint to start from; replaces checkpoint_run_id. */
  checkpoint?: string | null;
  /** The dataset's datapool before this run (file of filenames) and the run it came from. */
  datapool?: { runId: string; file: string } | null;
  /** "cuda" or "cpu" forces the device. */
  device?: "cpu" | "cuda";
  /**
   * The policy for the config's paths and URLs (src/run/policy.ts): folders besides the datasource
   * and the job folder (--allow-root), hosts/CIDRs allowed though internal (--allow-url-host),
   * and the server's origin (its signed URLs). Absent in old spec files: the defaults apply.
   */
  policy?: { allowRoots?: string[]; allowUrlHosts?: string[]; serverOrigin?: string | null };
  /** Continue the training of a CRASHED run from its checkpoint (signed URL; the service's automatic resume). */
  resume?: { runId: string; checkpoint: string } | null;
  /** Tag name → file of its filenames (downloaded by the worker), for SIMILARITY's tag_name. */
  tags?: Record<string, string>;
}

export type JobMessage =
  | { type: "state"; state: string }
  | { type: "log"; lines: string[] }
  | { type: "progress"; progress: LiveProgress }
  | { type: "done"; ok: boolean; aborted: boolean; message: string; record: Record<string, unknown> | null };

function send(m: JobMessage): void {
  process.send?.(m);
}

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
  try {
    const res = await run({
      input: spec.input, config, output: spec.output, ...hooks, signal: abort.signal, cacheDir: spec.cacheDir,
      overrides: spec.device ? { device: spec.device } : {}, policy, resume: spec.resume ?? undefined,
      tags: Object.fromEntries(Object.entries(spec.tags ?? {}).map(([name, f]) => [name, fs.readFileSync(f, "utf8").split("\n").filter(Boolean)])),
    });
    flush();
    send({ type: "done", ok: true, aborted: false, message: "", record: res.record as unknown as Record<string, unknown> });
  } catch (e) {
    flush();
    const rec = e instanceof RunError ? (e.record as unknown as Record<string, unknown>) : null;
    const aborted = rec?.state === "ABORTED" || abort.signal.aborted;
    send({ type: "done", ok: false, aborted, message: (e as Error)?.message ?? String(e), record: rec });
  } finally {
    clearInterval(timer);
  }
}

/**
 * run()'s hooks for the worker: the lines the run prints (progress, notes) and the newest structured
 * progress go out batched when `flush` is called (every step would flood the IPC channel); a state
 * change goes out at once, after the lines of the state before it.
 */
function workerHooks(): Required<Pick<RunOptions, "stream" | "onProgress" | "onState">> & { flush: () => void } {
  let pending: string[] = [];
  let partial = "";
  let progress: LiveProgress | null = null;
  const stream: ProgressStream = {
    write(s: string) {
      const parts = (partial + s).split(/\r|\n/);
      partial = parts.pop() ?? "";
      for (const p of parts) if (p.trim()) pending.push(p);
      return true;
    },
  };
  const flush = (): void => {
    if (pending.length) {
      send({ type: "log", lines: pending });
      pending = [];
    }
    if (progress) {
      send({ type: "progress", progress });
      progress = null;
    }
  };
  const onState = (state: RunState): void => {
    flush();
    send({ type: "state", state });
  };
  return { stream, onProgress: (p) => void (progress = p), onState, flush };
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
