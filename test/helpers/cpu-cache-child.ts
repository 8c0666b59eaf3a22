// Child process of test/engine-cpu-cache.test.ts (WINNOW_CPU_CACHE_MB is read once, when the addon loads):
// allocates, fills and frees a 32 MiB tensor `rounds` times and prints the page faults taken and the
// cache's stats as JSON.
import * as torch from "../../src/torch/index.js";

const rounds = 16;
const f0 = process.resourceUsage().minorPageFault;
for (let i = 0; i < rounds; i++) {
  torch.scope(() => {
    torch.full([8 << 20], i); // 8 Mi float32 = 32 MiB, written (so every page is touched)
  });
}
const faults = process.resourceUsage().minorPageFault - f0;
console.log(JSON.stringify({ rounds, faults, stats: torch.cpuCache.stats() }));
