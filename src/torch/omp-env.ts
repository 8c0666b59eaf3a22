// How libgomp's idle threads wait between parallel regions (libtorch's CPU ops run on OpenMP).
// libgomp reads these variables once, when libtorch is loaded, so they must be set before the
// addon is required (native.ts does it; the benches call it first so that the PyTorch processes
// they spawn inherit the same setting).
//
// Measured on a 2-core VM (docs/benchmarks.md, 2026-11-28, third session), resnet-18 width 0.25
// SimCLR at 32 px, batch 128:
//   - libgomp's default (spin ~300k iterations, then sleep): fine on an idle machine, but several
//     times slower whenever another process holds a core (the spinning threads take its turns);
//   - OMP_WAIT_POLICY=PASSIVE (sleep at once): robust, but every op then pays a futex wake-up; the
//     augmentation's many small ops took 20 ms per step instead of 11, the training step 15–20% longer;
//   - GOMP_SPINCOUNT=1000 (spin briefly, then sleep): the speed of spinning on an idle machine
//     (1000 beat 300 and 3000), and 5–14% slower than PASSIVE beside one busy-looping process.
// The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins.
export const DEFAULT_GOMP_SPINCOUNT = "1000";

/** Sets the default when the user set neither variable; returns the setting in effect, for reports. */
export function applyOpenMPDefaults(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) {
    env.GOMP_SPINCOUNT = DEFAULT_GOMP_SPINCOUNT;
    return `GOMP_SPINCOUNT=${DEFAULT_GOMP_SPINCOUNT} (Winnow's default)`;
  }
  const set = [["OMP_WAIT_POLICY", env.OMP_WAIT_POLICY], ["GOMP_SPINCOUNT", env.GOMP_SPINCOUNT]].filter(([, v]) => v !== undefined);
  return `${set.map(([k, v]) => `${k}=${v}`).join(", ")} (set by the caller)`;
}
