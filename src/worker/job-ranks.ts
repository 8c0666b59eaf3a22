// A job whose run asks for several ranks (trainer.gpus: N, trainer.num_processes: N): the job
// process is rank 0 (its run() reports states, progress and artifacts as a 1-rank job does) and
// starts ranks 1..N-1 with the launcher of `winnow run` (src/distributed/launch.ts). The other ranks
// run job-rank.ts: runOtherRank() with the job's config, input, cache and policy, a scratch folder in
// the job's folder, and their output on the job's stdout (the run's log). A rank that fails stops
// rank 0 after its step (FAILED, checkpoint kept); when rank 0's run ends, the ranks still running
// get a short grace (they leave at the group's last barrier, or fail at their next collective once
// rank 0's group is gone) and are then killed: no rank outlives its job.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { WinnowError } from "../util/errors.js";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { resolveRunConfig, type RunOverrides } from "../config/run-config.js";
import type { RankSetup } from "../run/ranks.js";
import type { RunOptions } from "../run/options.js";
import type { LaunchResult, RankExit } from "../distributed/launch.js";

/** What job-rank.ts reads (ranks-spec.json in the job's folder). */
export interface RankSpec {
  home: string;
  onGpus: boolean;
  threads: number;
  timeoutMs?: number;
  opts: Pick<RunOptions, "input" | "config" | "overrides" | "cacheDir" | "policy" | "resume">;
}

export interface JobRanks {
  /** Rank 0's place in the group (run()'s `ranks`). */
  setup: RankSetup;
  /** Process ids of every rank, rank 0 (this process) first. */
  pids: number[];
  /** After rank 0's run ended: waits up to graceMs for the other ranks, then kills what is left. */
  finish(graceMs?: number): Promise<LaunchResult>;
  /** Kills the other ranks at once (this process is exiting). */
  killNow(): void;
  /** True once another rank failed while rank 0's run was still going. */
  readonly peerFailed: boolean;
}

/** The rank count the run's config asks for (after the worker's --device); null when it asks for one or cannot be read (run() reports that). Throws for more CPU ranks than cores. */
export async function jobRankPlan(config: unknown, overrides: RunOverrides, cores?: number) {
  let gpus: number, numProcesses: number, numThreads: number;
  try {
    const c = resolveRunConfig(config, overrides, null);
    ({ gpus, num_processes: numProcesses } = c.lightly_config.trainer);
    numThreads = c.worker_config.num_threads;
  } catch {
    return null;
  }
  if (gpus <= 1 && numProcesses <= 1) return null; // the usual case: the engine stays unloaded here
  const { planRanks, cudaDeviceCount } = await import("../distributed/index.js");
  // The worker's own environment is not a rendezvous: the job decides from its config only.
  const plan = planRanks({ flags: {}, gpus, numProcesses, cudaDevices: gpus >= 1 ? cudaDeviceCount() : 0, numThreads, env: {}, cores });
  if (plan.kind !== "launch") return null;
  // A scheduled config is another tenant's input: CPU ranks beyond this worker's cores would only
  // crowd the machine (each rank is a process with its own engine), so they are refused.
  const maxRanks = cores ?? os.availableParallelism();
  if (!plan.onGpus && plan.nprocPerNode > maxRanks) {
    throw new WinnowError("invalid_config", `lightly_config.trainer.num_processes ${plan.nprocPerNode}: this worker has ${maxRanks} CPU core(s); a job runs at most one CPU rank per core`,
      { where: "lightly_config.trainer.num_processes" });
  }
  return plan;
}

/** Starts ranks 1..N-1 of the job's run when it asks for several; null for a 1-rank run. */
export async function startJobRanks(a: {
  config: unknown; overrides: RunOverrides; jobDir: string; rankSpec: Omit<RankSpec, "onGpus" | "threads">;
  onOutput: (line: string) => void; onFailure: (message: string) => void;
}): Promise<JobRanks | null> {
  const plan = await jobRankPlan(a.config, a.overrides);
  if (!plan) return null;
  const { launchRanks, freePort, describeFailure } = await import("../distributed/index.js");
  const masterPort = await freePort(plan.masterAddr); // one per job: two jobs on a machine never meet
  const specFile = path.join(a.jobDir, "ranks-spec.json");
  const spec: RankSpec = { ...a.rankSpec, onGpus: plan.onGpus, threads: plan.threadsPerRank };
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const scratch = path.join(a.jobDir, "rank-tmp");
  fs.mkdirSync(scratch, { recursive: true });
  const fromSource = import.meta.url.endsWith(".ts");
  const script = fileURLToPath(new URL(fromSource ? "./job-rank.ts" : "./job-rank.js", import.meta.url));
  const execArgv = fromSource ? ["--import", import.meta.resolve("tsx")] : [];
  const children: ChildProcess[] = [];
  const pump = (rank: number, c: ChildProcess): void => {
    for (const s of [c.stdout, c.stderr]) {
      s?.on("data", (b: Buffer) => String(b).split(/\r?\n/).filter((l) => l.trim()).forEach((l) => a.onOutput(l.startsWith("[rank") ? l : `[rank ${rank}] ${l}`)));
    }
  };
  let runEnded = false;
  let peerFailed = false;
  const done = launchRanks({
    nprocPerNode: plan.nprocPerNode, firstLocalRank: 1, masterAddr: plan.masterAddr, masterPort,
    command: [process.execPath, ...execArgv, script, specFile], stdio: "pipe", notify: null,
    env: { ...process.env, TMPDIR: scratch }, graceMs: 2 ** 31 - 1, // finish() decides when to kill
    onStart: (lr, c) => (children.push(c), pump(lr, c)),
    onFailure: (e: RankExit) => {
      if (runEnded) return;
      peerFailed = true;
      a.onFailure(describeFailure(e));
    },
  });
  const live = (): ChildProcess[] => children.filter((c) => c.exitCode === null && c.signalCode === null);
  const killNow = (): void => live().forEach((c) => c.kill("SIGKILL"));
  return {
    setup: { rendezvous: { rank: 0, worldSize: plan.nprocPerNode, localRank: 0, masterAddr: plan.masterAddr, masterPort }, device: plan.onGpus ? "cuda:0" : "cpu", threads: plan.threadsPerRank },
    pids: [process.pid, ...children.map((c) => c.pid ?? -1)],
    killNow,
    get peerFailed() {
      return peerFailed;
    },
    async finish(graceMs = 10_000) {
      runEnded = true;
      const timer = setTimeout(killNow, graceMs);
      try {
        return await done;
      } finally {
        clearTimeout(timer);
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    },
  };
}
