// torchrun's rendezvous environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), read
// the way torch.distributed's env:// init reads it: explicit options win over the environment.
import { WinnowError } from "../util/errors.js";

export interface RendezvousOptions {
  rank?: number;
  worldSize?: number;
  localRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

export interface Rendezvous {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw.trim())) {
    throw new WinnowError("invalid_input", `${name}=${JSON.stringify(raw)}: expected a non-negative integer`, { where: name });
  }
  return Number(raw.trim());
}

function need<T>(value: T | undefined, option: string, envName: string): T {
  if (value === undefined) {
    throw new WinnowError("invalid_input", `initProcessGroup: no ${option} given and ${envName} is not set (torchrun sets it)`, {
      where: envName,
    });
  }
  return value;
}

/** Resolves the rendezvous from options, then torchrun's environment variables. */
export function resolveRendezvous(o: RendezvousOptions, env: NodeJS.ProcessEnv = process.env): Rendezvous {
  const worldSize = need(o.worldSize ?? envInt(env, "WORLD_SIZE"), "worldSize", "WORLD_SIZE");
  const rank = need(o.rank ?? envInt(env, "RANK"), "rank", "RANK");
  const localRank = o.localRank ?? envInt(env, "LOCAL_RANK") ?? rank;
  const masterAddr = need(o.masterAddr ?? (env.MASTER_ADDR || undefined), "masterAddr", "MASTER_ADDR");
  const masterPort = need(o.masterPort ?? envInt(env, "MASTER_PORT"), "masterPort", "MASTER_PORT");
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new WinnowError("invalid_input", `worldSize must be an integer ≥ 1, got ${worldSize}`, { where: "WORLD_SIZE" });
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new WinnowError("invalid_input", `rank must be an integer in 0..${worldSize - 1} (world size ${worldSize}), got ${rank}`, {
      where: "RANK",
    });
  }
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) {
    throw new WinnowError("invalid_input", `masterPort must be an integer in 1..65535, got ${masterPort}`, { where: "MASTER_PORT" });
  }
  return { rank, worldSize, localRank, masterAddr, masterPort };
}
