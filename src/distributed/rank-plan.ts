// How many ranks a run has and which one this process is, from what users already write:
// torchrun's environment (this process is one rank), or `trainer.gpus: N` / `trainer.num_processes: N`
// / `winnow run --nproc-per-node N --nnodes M --node-rank K --master-addr A --master-port P` (this
// process starts this machine's ranks). One rank per GPU (CUDA device = LOCAL_RANK) when the run
// trains on GPUs; CPU ranks otherwise.
import * as os from "node:os";
import { WinnowError } from "../util/errors.js";
import { resolveRendezvous, type Rendezvous } from "./env.js";

/** torchrun's default --master-port. */
export const DEFAULT_MASTER_PORT = 29500;

export interface RankFlags {
  nprocPerNode?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

export interface RankPlanInput {
  flags: RankFlags;
  /** lightly_config.trainer.gpus (after --device). */
  gpus: number;
  /** lightly_config.trainer.num_processes: CPU ranks on this machine when not on GPUs. */
  numProcesses: number;
  /** CUDA devices this process sees (0 without CUDA). */
  cudaDevices: number;
  /** worker_config.num_threads (-1: split the cores over the local ranks). */
  numThreads: number;
  env?: NodeJS.ProcessEnv;
  cores?: number;
}

export type RankPlan =
  | { kind: "single" }
  | { kind: "launch"; nprocPerNode: number; nnodes: number; nodeRank: number; masterAddr: string; masterPort: number; onGpus: boolean; threadsPerRank: number }
  | { kind: "rank"; rendezvous: Rendezvous; localWorldSize: number; device: string; threadsPerRank: number };

const bad = (where: string, msg: string): WinnowError => new WinnowError("invalid_config", msg, { where });

/** Threads of each rank: worker_config.num_threads when set, else this machine's cores shared by its ranks. */
export function threadsPerRank(numThreads: number, localRanks: number, cores = os.availableParallelism()): number {
  return numThreads >= 1 ? numThreads : Math.max(1, Math.floor(cores / localRanks));
}

/** GPUs asked for and found: a run that asks for more GPUs than there are fails before it starts. */
function gpuRanks(i: RankPlanInput): number | null {
  if (i.gpus <= 1 || i.cudaDevices === 0) return i.gpus >= 1 && i.cudaDevices > 0 ? 1 : null;
  if (i.cudaDevices < i.gpus) {
    throw bad("lightly_config.trainer.gpus", `lightly_config.trainer.gpus is ${i.gpus}, but this machine has ${i.cudaDevices} CUDA device(s); ask for at most ${i.cudaDevices}`);
  }
  return i.gpus;
}

/** Which ranks to start here, or which rank this process is. */
export function planRanks(i: RankPlanInput): RankPlan {
  const env = i.env ?? process.env;
  const cores = i.cores ?? os.availableParallelism();
  if (env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== "") {
    const rendezvous = resolveRendezvous({}, env);
    if (rendezvous.worldSize === 1) return { kind: "single" };
    const localWorldSize = Number(env.LOCAL_WORLD_SIZE ?? "") || 1;
    const onGpus = i.gpus >= 1 && i.cudaDevices > 0;
    if (onGpus && rendezvous.localRank >= i.cudaDevices) {
      throw bad("LOCAL_RANK", `LOCAL_RANK ${rendezvous.localRank} has no CUDA device (this machine has ${i.cudaDevices}); start at most ${i.cudaDevices} ranks per machine, or train on the CPU (trainer.gpus: 0)`);
    }
    const device = onGpus ? `cuda:${rendezvous.localRank}` : "cpu";
    return { kind: "rank", rendezvous, localWorldSize, device, threadsPerRank: threadsPerRank(i.numThreads, localWorldSize, cores) };
  }
  const gpu = gpuRanks(i);
  const f = i.flags;
  const nprocPerNode = f.nprocPerNode ?? (gpu !== null && gpu > 1 ? gpu : Math.max(1, i.numProcesses));
  const nnodes = f.nnodes ?? 1;
  if (!Number.isInteger(nprocPerNode) || nprocPerNode < 1) throw bad("--nproc-per-node", `--nproc-per-node must be an integer ≥ 1, got ${nprocPerNode}`);
  if (!Number.isInteger(nnodes) || nnodes < 1) throw bad("--nnodes", `--nnodes must be an integer ≥ 1, got ${nnodes}`);
  if (nprocPerNode * nnodes === 1) return { kind: "single" };
  const onGpus = gpu !== null;
  if (onGpus && nprocPerNode > i.cudaDevices) {
    throw bad("--nproc-per-node", `${nprocPerNode} ranks per machine on GPUs, but this machine has ${i.cudaDevices} CUDA device(s); use --device cpu for CPU ranks`);
  }
  const nodeRank = f.nodeRank ?? 0;
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) throw bad("--node-rank", `--node-rank must be in 0..${nnodes - 1}, got ${nodeRank}`);
  if (nnodes > 1 && !f.masterAddr) throw bad("--master-addr", `--nnodes ${nnodes}: give --master-addr (the address of the machine with --node-rank 0, reachable from every machine)`);
  const masterAddr = f.masterAddr ?? "127.0.0.1";
  const masterPort = f.masterPort ?? (nnodes > 1 ? DEFAULT_MASTER_PORT : 0); // 0: a free port, found at launch
  return { kind: "launch", nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, onGpus, threadsPerRank: threadsPerRank(i.numThreads, nprocPerNode, cores) };
}
