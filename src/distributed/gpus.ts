// How many CUDA devices this process can use. The addon has no device-count binding yet, so: none
// when CUDA is unavailable, else CUDA_VISIBLE_DEVICES's list when set, else `nvidia-smi -L`'s lines
// (one per GPU), else 1 (CUDA works, so there is at least one).
import { execFileSync } from "node:child_process";
import * as torch from "../torch/index.js";

export function cudaDeviceCount(env: NodeJS.ProcessEnv = process.env): number {
  if (!torch.cuda.isAvailable()) return 0;
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined) return visible.split(",").filter((s) => s.trim() !== "" && !s.trim().startsWith("-")).length;
  try {
    const out = execFileSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });
    const n = out.split("\n").filter((l) => /^GPU \d+/.test(l)).length;
    return Math.max(1, n);
  } catch {
    return 1;
  }
}
