// NVIDIA GPUs this machine shows, without loading the engine (the service's worker counts them
// before any job runs): CUDA_VISIBLE_DEVICES's list when set, else `nvidia-smi -L`'s lines, else 0.
import { execFileSync } from "node:child_process";

export function countNvidiaGpus(env: NodeJS.ProcessEnv = process.env): number | null {
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined) return visible.split(",").filter((s) => s.trim() !== "" && !s.trim().startsWith("-")).length;
  try {
    const out = execFileSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });
    return out.split("\n").filter((l) => /^GPU \d+/.test(l)).length;
  } catch {
    return null; // no driver tool: unknown
  }
}
