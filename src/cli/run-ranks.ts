// `winnow run` over several ranks (src/distributed/rank-plan.ts decides): with torchrun's
// environment this process is one rank; with trainer.gpus > 1, trainer.num_processes > 1 or
// --nproc-per-node/--nnodes it starts this machine's ranks (each runs this same command line and
// finds itself in the environment) and supervises them: rank 0's exit code is the command's.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { RunConfig } from "../config/run-config.js";
import type { RankSetup } from "../run/ranks.js";
import { CliError, EXIT } from "./index.js";

const posInt = (name: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} takes an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
};

/** torchrun's flags on `winnow run`. */
export function addRankOptions(cmd: Command): Command {
  return cmd
    .option("--nproc-per-node <N>", "ranks on this machine (torchrun's flag; default trainer.gpus when > 1, else trainer.num_processes)", posInt("--nproc-per-node", 1))
    .option("--nnodes <N>", "machines taking part (torchrun's flag; default 1)", posInt("--nnodes", 1))
    .option("--node-rank <K>", "this machine's index, 0..nnodes-1 (torchrun's flag; default 0)", posInt("--node-rank", 0))
    .option("--master-addr <host>", "address of the machine with --node-rank 0 (torchrun's flag; default 127.0.0.1 on one machine)")
    .option("--master-port <port>", "its TCP port for the rendezvous (torchrun's flag; default a free port on one machine, 29500 across machines)", posInt("--master-port", 1))
    .option("--dist-timeout <seconds>", "how long a rank waits for the others at the rendezvous and at every collective (default 1800, torch's)", posInt("--dist-timeout", 1));
}

export type RankMode = { kind: "single" } | { kind: "launched"; exitCode: number } | { kind: "rank"; setup: RankSetup };

/** Decides; in "launch" mode starts and supervises this machine's ranks and returns their outcome. */
export async function rankMode(config: RunConfig | null, o: Record<string, unknown>): Promise<RankMode> {
  const gpus = config?.lightly_config.trainer.gpus ?? (o.device === "cpu" ? 0 : 1);
  const asked = gpus > 1 || (config?.lightly_config.trainer.num_processes ?? 1) > 1 || o.nprocPerNode !== undefined || o.nnodes !== undefined || Boolean(process.env.WORLD_SIZE);
  if (!asked) return { kind: "single" }; // the usual case: no engine loaded, no GPU count asked for here
  const { planRanks, cudaDeviceCount, launchRanks, freePort, describeFailure } = await import("../distributed/index.js");
  const plan = planRanks({
    flags: { nprocPerNode: o.nprocPerNode as number | undefined, nnodes: o.nnodes as number | undefined, nodeRank: o.nodeRank as number | undefined, masterAddr: o.masterAddr as string | undefined, masterPort: o.masterPort as number | undefined },
    gpus, numProcesses: config?.lightly_config.trainer.num_processes ?? 1, cudaDevices: gpus >= 1 ? cudaDeviceCount() : 0,
    numThreads: config?.worker_config.num_threads ?? -1,
  });
  const timeoutMs = o.distTimeout === undefined ? undefined : (o.distTimeout as number) * 1000;
  if (plan.kind === "single") return plan;
  if (plan.kind === "rank") return { kind: "rank", setup: { rendezvous: plan.rendezvous, device: plan.device, threads: plan.threadsPerRank, timeoutMs } };
  const masterPort = plan.masterPort || (await freePort(plan.masterAddr));
  const world = plan.nprocPerNode * plan.nnodes;
  if (!o.quiet) process.stderr.write(`starting ${plan.nprocPerNode} rank(s) here (${world} in all, on ${plan.onGpus ? "GPUs" : "CPUs"}, ${plan.threadsPerRank} thread(s) each), rendezvous ${plan.masterAddr}:${masterPort}\n`);
  // Ctrl-C in a terminal reaches every rank itself (one process group); a SIGTERM sent to this
  // process is passed on. Either way rank 0 ends the run (ABORTED, checkpoint kept).
  const children: import("node:child_process").ChildProcess[] = [];
  const onInt = (): void => {};
  const onTerm = (): void => children.forEach((c) => c.kill("SIGTERM"));
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const r = await launchRanks({
      nprocPerNode: plan.nprocPerNode, nnodes: plan.nnodes, nodeRank: plan.nodeRank, masterAddr: plan.masterAddr, masterPort,
      command: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      onStart: (_, c) => children.push(c),
    });
    if (r.ok) return { kind: "launched", exitCode: 0 };
    const zero = r.exits.find((e) => e.rank === 0);
    const code = zero && !zero.killed && zero.code !== null && zero.code !== 0 ? zero.code : EXIT.failed;
    if (r.firstFailure && r.firstFailure.rank !== 0) process.stderr.write(`winnow run: ${describeFailure(r.firstFailure)}\n`);
    return { kind: "launched", exitCode: code };
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** A rank other than 0: no output of its own; failures go to stderr with the rank's number. */
export async function runAsOtherRank(input: string | undefined, o: Record<string, unknown>, overrides: object, setup: RankSetup): Promise<void> {
  const { runOtherRank } = await import("../run/ranks.js");
  try {
    await runOtherRank({
      input, configFile: o.config as string | undefined, lightlyPath: o.lightlyPath as string | undefined,
      resume: o.resume as string | undefined, overrides, stream: o.quiet ? null : process.stderr,
    }, setup);
  } catch (e) {
    throw new CliError(`rank ${setup.rendezvous.rank}: ${(e as Error).message}`, EXIT.failed);
  }
}
