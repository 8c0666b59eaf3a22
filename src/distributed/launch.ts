// Starts this machine's ranks as torchrun does: one child process per local rank, each with
// torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR,
// MASTER_PORT), then supervises them. When one exits with an error, the others are told at once
// (SIGUSR2: Winnow's rank 0 ends its run FAILED after the current step, keeping its checkpoint; other
// ranks exit), get `graceMs` to finish (a rank in a collective also gets a DistributedError as soon
// as the dead peer's connection closes), and are then killed: a failed rank never leaves the rest hanging.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { WinnowError } from "../util/errors.js";

export interface LaunchOptions {
  /** Ranks on this machine (torchrun's --nproc-per-node). */
  nprocPerNode: number;
  /** Machines (torchrun's --nnodes). Default 1. */
  nnodes?: number;
  /** This machine's index, 0..nnodes-1 (torchrun's --node-rank). Default 0. */
  nodeRank?: number;
  masterAddr: string;
  masterPort: number;
  /** The command every rank runs: [executable, ...args]. */
  command: string[];
  /** Environment of the ranks (default process.env); torchrun's variables are set on top. */
  env?: NodeJS.ProcessEnv;
  /** Extra variables per local rank (e.g. its threads). */
  rankEnv?: (localRank: number) => Record<string, string>;
  /** How long the other ranks may take to exit on their own after one failed (default 30 s). */
  graceMs?: number;
  /** Sent to the other ranks when one fails (default SIGUSR2; null: none). */
  notify?: NodeJS.Signals | null;
  /** "inherit" (default) or "pipe" (tests read the output). */
  stdio?: "inherit" | "pipe";
  /** Called when a rank's process starts. */
  onStart?: (localRank: number, child: ChildProcess) => void;
  /**
   * The first local rank started here (default 0). A caller that is itself local rank 0 (a service
   * worker's job) starts 1..nprocPerNode-1 and supervises them with this launcher.
   */
  firstLocalRank?: number;
  /** Called once, when the first rank fails on its own (the caller's own rank may have to stop). */
  onFailure?: (e: RankExit) => void;
}

export interface RankExit {
  rank: number;
  localRank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the launcher killed it after another rank failed. */
  killed: boolean;
}

export interface LaunchResult {
  ok: boolean;
  exits: RankExit[];
  /** The first rank that failed on its own, or null. */
  firstFailure: RankExit | null;
}

const positiveInt = (v: number, what: string): void => {
  if (!Number.isInteger(v) || v < 1) throw new WinnowError("invalid_input", `${what} must be an integer ≥ 1, got ${v}`, { where: what });
};

/** torchrun's environment for one local rank. */
export function rankEnvironment(o: LaunchOptions, localRank: number): Record<string, string> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  return {
    RANK: String(nodeRank * o.nprocPerNode + localRank), WORLD_SIZE: String(nnodes * o.nprocPerNode),
    LOCAL_RANK: String(localRank), LOCAL_WORLD_SIZE: String(o.nprocPerNode), GROUP_RANK: String(nodeRank),
    MASTER_ADDR: o.masterAddr, MASTER_PORT: String(o.masterPort),
  };
}

/** Starts the local ranks and resolves when all have exited. */
export function launchRanks(o: LaunchOptions): Promise<LaunchResult> {
  positiveInt(o.nprocPerNode, "nproc-per-node");
  positiveInt(o.nnodes ?? 1, "nnodes");
  const nodeRank = o.nodeRank ?? 0;
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= (o.nnodes ?? 1)) {
    throw new WinnowError("invalid_input", `node-rank must be an integer in 0..${(o.nnodes ?? 1) - 1}, got ${nodeRank}`, { where: "node-rank" });
  }
  const [cmd, ...args] = o.command;
  if (!cmd) throw new WinnowError("invalid_input", "launchRanks: no command", { where: "command" });
  const graceMs = o.graceMs ?? 30_000;
  const notify = o.notify === undefined ? "SIGUSR2" : o.notify;
  const first = o.firstLocalRank ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= o.nprocPerNode) {
    throw new WinnowError("invalid_input", `firstLocalRank must be an integer in 0..${o.nprocPerNode - 1}, got ${first}`, { where: "firstLocalRank" });
  }
  // Indexed by localRank - first.
  const exits: (RankExit | null)[] = Array(o.nprocPerNode - first).fill(null);
  const children: ChildProcess[] = [];
  let firstFailure: RankExit | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  return new Promise((resolve) => {
    const signalRest = (sig: NodeJS.Signals, mark: boolean): void => {
      for (const [i, c] of children.entries()) {
        if (exits[i] === null && c.exitCode === null && c.signalCode === null) {
          if (mark) (c as ChildProcess & { winnowKilled?: boolean }).winnowKilled = true;
          c.kill(sig);
        }
      }
    };
    const onExit = (localRank: number, code: number | null, signal: NodeJS.Signals | null): void => {
      if (exits[localRank - first] !== null) return; // "error" and "exit" can both come
      const child = children[localRank - first] as ChildProcess & { winnowKilled?: boolean };
      const e: RankExit = { rank: nodeRank * o.nprocPerNode + localRank, localRank, code, signal, killed: Boolean(child.winnowKilled) };
      exits[localRank - first] = e;
      if ((code !== 0 || signal) && !e.killed && firstFailure === null) {
        firstFailure = e;
        o.onFailure?.(e);
        if (notify) signalRest(notify, false);
        killTimer = setTimeout(() => signalRest("SIGKILL", true), graceMs);
      }
      if (exits.every((x) => x !== null)) {
        if (killTimer) clearTimeout(killTimer);
        const all = exits as RankExit[];
        resolve({ ok: all.every((x) => x.code === 0 && !x.signal), exits: all, firstFailure });
      }
    };
    for (let lr = first; lr < o.nprocPerNode; lr++) {
      const env = { ...(o.env ?? process.env), ...rankEnvironment(o, lr), ...(o.rankEnv?.(lr) ?? {}) };
      const child = spawn(cmd, args, { env, stdio: o.stdio === "pipe" ? ["ignore", "pipe", "pipe"] : "inherit" });
      children.push(child);
      child.on("exit", (code, signal) => onExit(lr, code, signal));
      child.on("error", () => onExit(lr, 127, null)); // could not start (no exit event follows)
      o.onStart?.(lr, child);
    }
  });
}

/** One line that says which rank failed first and how. */
export function describeFailure(f: RankExit): string {
  const how = f.signal ? `was killed by ${f.signal}` : `exited with code ${f.code}`;
  return `rank ${f.rank} (local rank ${f.localRank}) ${how}; the other ranks were stopped`;
}

/** A TCP port nobody listens on right now on `host` (the OS's choice), for a one-machine rendezvous. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
