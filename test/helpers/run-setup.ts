// Shared set-up of the `winnow run` tests: a private WINNOW_HOME (runs index + decode cache), a tiny
// image folder with one corrupt file and one exact duplicate, and a tiny model config.
import * as fs from "node:fs";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { tempDir } from "./data-images.js";
import { writePatternFolder } from "./ssl-images.js";

/** Points WINNOW_HOME at a fresh folder (call before any run). */
export function privateHome(prefix = "winnow-run-home-"): string {
  const home = tempDir(prefix);
  process.env.WINNOW_HOME = home;
  return home;
}

/** n pattern PNGs + "zz-broken.png" (truncated) + "zz-copy.png" (same bytes as the first image). */
export async function tinyFolder(n = 24, prefix = "winnow-run-img-"): Promise<{ root: string; names: string[] }> {
  const root = tempDir(prefix);
  const names = await writePatternFolder(root, n, 20);
  const first = fs.readFileSync(path.join(root, names[0]!));
  fs.writeFileSync(path.join(root, "zz-broken.png"), first.subarray(0, 40));
  fs.writeFileSync(path.join(root, "zz-copy.png"), first);
  return { root, names };
}

/** The lightly_config of the tests: a tiny ResNet, 16 px, CPU, one thread. */
export const TINY_LIGHTLY = {
  model: { name: "resnet-9", width: 0.125, num_ftrs: 8, out_dim: 8 },
  loader: { batch_size: 8 },
  trainer: { gpus: 0, max_epochs: 2 },
  optimizer: { lr: 0.1, momentum: 0.9 },
  collate: { input_size: 16 },
  seed: 3,
  // Lightly's zoo has no tiny model; false keeps these runs from looking for one (tests stay offline and quiet).
  pre_trained: false,
};

export function tinyConfig(extra: { worker_config?: Record<string, unknown>; selection_config?: Record<string, unknown>; lightly_config?: Record<string, unknown> } = {}) {
  return {
    worker_config: { num_threads: 1, ...extra.worker_config },
    selection_config: { n_samples: 5, ...extra.selection_config },
    lightly_config: { ...TINY_LIGHTLY, ...extra.lightly_config },
  };
}

export const lines = (file: string): string[] => fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0);

/** Runs the `winnow` CLI (bin/winnow.mjs) as a child process to its end; onSpawn gets its pid. */
export function runWinnow(args: string[], o: { env: NodeJS.ProcessEnv; cwd?: string; onSpawn?: (pid: number) => void }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.resolve("bin/winnow.mjs"), ...args], { env: o.env, cwd: o.cwd });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    o.onSpawn?.(p.pid!);
  });
}
