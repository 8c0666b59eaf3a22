// Benchmark: lightly's collate augmentations (lightly_config.collate defaults) for SimCLR's two
// views of a batch. Winnow's batched tensor pipeline (simclrViews on a uint8 [B, 3, S, S] cache
// batch) against torchvision run image by image in Python (bench/augment_ref.py, spawned here):
// on PIL images as lightly runs it, and on uint8 tensors through torchvision's tensor kernels.
//
//   npx tsx bench/augment.ts [--batch 256] [--size 72] [--out 64] [--threads 2] [--steps 7]
//                            [--tensor-images 16] [--device cpu|cuda]
//
// The engines take turns step by step (Winnow, PIL, tensor path) so that load from other
// processes hits them alike; each reports the median (and best) of its steps. The per-image tensor
// path is slow, so it runs on --tensor-images images per step and is scaled to views/s.
// Prints the results; nothing is written.
//
// The OpenMP wait setting (src/torch/omp-env.ts) is applied when the engine loads, before the
// Python side is spawned, so both run with the same one. The load average is printed with the results.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import { simclrViews, augmentViews } from "../src/transforms/index.js";

const PYTHON = "/usr/bin/python3";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
function sarg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const BATCH = arg("batch", 256);
const SIZE = arg("size", 72);
const OUT = arg("out", 64);
const THREADS = arg("threads", 2);
const STEPS = arg("steps", 7);
const TENSOR_IMAGES = arg("tensor-images", 16);
const DEVICE = sarg("device", "cpu");

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];

class Py {
  private readonly proc = spawn(PYTHON, [join(root, "bench", "augment_ref.py")], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS), PYTHONDONTWRITEBYTECODE: "1", PYTHONWARNINGS: "ignore" },
  });
  private readonly lines: AsyncIterator<string> = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  async call(msg: object): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(JSON.stringify(msg) + "\n");
    const r = await this.lines.next();
    if (r.done) throw new Error("augment_ref.py exited");
    return JSON.parse(r.value) as Record<string, unknown>;
  }
  close(): void {
    this.proc.stdin!.write(JSON.stringify({ op: "quit" }) + "\n");
    this.proc.stdin!.end();
  }
}

async function main(): Promise<void> {
  torch.setNumThreads(THREADS);
  torch.manualSeed(0);
  if (DEVICE !== "cpu" && !torch.cuda.isAvailable()) throw new Error(`--device ${DEVICE}: CUDA is not available`);
  const cpuImages = torch.randint(0, 256, [BATCH, 3, SIZE, SIZE], { dtype: "uint8" });
  const images = DEVICE === "cpu" ? cpuImages : cpuImages.to(DEVICE);
  const cfg = { input_size: OUT };

  const py = new Py();
  const info = await py.call({ op: "setup", batch: BATCH, size: SIZE, out: OUT, threads: THREADS });

  const ours = (): { ms: number; profile: Record<string, number> } => {
    const profile: Record<string, number> = {};
    const t = performance.now();
    const all = augmentViews(images, cfg, { views: 2, profile });
    if (DEVICE !== "cpu") torch.cuda.synchronize();
    const ms = performance.now() - t;
    all.dispose();
    return { ms, profile };
  };
  // Warm-up (allocator, first-call costs), including the public two-view entry point.
  for (let i = 0; i < 2; i++) {
    const [a, b] = simclrViews(images, cfg);
    a.dispose();
    b.dispose();
  }
  await py.call({ op: "step", path: "pil", images: 16 });
  await py.call({ op: "step", path: "tensor", images: 2 });

  const w: number[] = [];
  const pil: number[] = [];
  const tens: number[] = [];
  const stages: Record<string, number[]> = {};
  for (let s = 0; s < STEPS; s++) {
    const r = ours();
    w.push(r.ms);
    for (const [k, v] of Object.entries(r.profile)) (stages[k] ??= []).push(v);
    pil.push((await py.call({ op: "step", path: "pil", images: BATCH })).ms as number);
    tens.push((await py.call({ op: "step", path: "tensor", images: TENSOR_IMAGES })).ms as number);
  }
  py.close();

  const views = 2 * BATCH;
  const rate = (ms: number, n = views): string => ((n / ms) * 1000).toFixed(0);
  console.log(`augment bench: B=${BATCH} images ${SIZE}x${SIZE} uint8 → 2 views ${OUT}x${OUT}, lightly_config.collate defaults`);
  console.log(
    `threads ${THREADS}, device ${DEVICE}, ${STEPS} steps (median / best); python torch ${info.torch}; ` +
      `OpenMP wait: OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? "(unset)"}, GOMP_SPINCOUNT=${process.env.GOMP_SPINCOUNT ?? "(unset)"}; load average ${loadavg().map((v) => v.toFixed(1)).join(" ")}`,
  );
  console.log(`  winnow (batched tensor ops, ${DEVICE})   ${rate(median(w))} views/s  (best ${rate(Math.min(...w))})   ${median(w).toFixed(1)} ms per ${views} views`);
  console.log(`  torchvision per image, PIL (lightly)   ${rate(median(pil))} views/s  (best ${rate(Math.min(...pil))})`);
  console.log(`  torchvision per image, uint8 tensors   ${rate(median(tens), 2 * TENSOR_IMAGES)} views/s  (best ${rate(Math.min(...tens), 2 * TENSOR_IMAGES)})`);
  console.log(`  winnow stages, median ms: ${Object.entries(stages).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(", ")}`);
  images.dispose();
  if (images !== cpuImages) cpuImages.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
