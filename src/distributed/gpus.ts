// How many CUDA devices this process can use. The addon has no device-count binding yet, so: none
// when CUDA is unavailable, else what countNvidiaGpus sees (CUDA_VISIBLE_DEVICES, nvidia-smi -L),
// at least 1 (CUDA works, so there is one).
import * as torch from "../torch/index.js";
import { countNvidiaGpus } from "../util/gpus.js";

export function cudaDeviceCount(env: NodeJS.ProcessEnv = process.env): number {
  if (!torch.cuda.isAvailable()) return 0;
  return Math.max(1, countNvidiaGpus(env) ?? 1);
}
