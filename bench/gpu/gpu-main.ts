// The GPU check (issue 11), bundled to one .mjs by scripts/gpu-prepare.sh and run on the lent GPU
// machine by scripts/gpu-check.sh. Rehearse here with:  npx tsx bench/gpu/gpu-main.ts --device cpu --quick
//   1. CUDA-vs-CPU parity of the op families (TF32 off: float32 on both sides)
//   2. lightly fixture checkpoints on the device reproduce lightly's outputs
//   3. a few SGD training steps on CPU and on the device from the same init end equal
//   4. checkpoints both ways with the PyTorch on that machine (torch 2.x there)
//   5. benchmarks, Winnow vs PyTorch eager in the same run (torch_ref.py)
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { buildModel, loadModelCheckpoint, saveCheckpoint, type SimCLR } from "../../src/models/index.js";
import { SGD } from "../../src/nn/index.js";
import { ntXentLoss } from "../../src/ssl/index.js";
import { selectDiverse } from "../../src/select/diversity.js";
import { opParity } from "./parity-ops.js";
import { simclrViews } from "../../src/transforms/index.js";

const argv = process.argv.slice(2);
const arg = (k: string, d: string): string => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1] : d;
};
const here = dirname(fileURLToPath(import.meta.url));
const device = arg("device", "cuda");
const python = arg("python", "/usr/bin/python3");
const fixtures = arg("fixtures", join(here, "..", "..", "..", "shared", "fixtures", "lightly"));
const out = arg("out", "/tmp/winnow-gpu-out");
const quick = argv.includes("--quick");
const only = arg("only", "");
mkdirSync(out, { recursive: true });
const report: Record<string, unknown> = { device, build: torch.buildInfo(), cudaAvailable: torch.cuda.isAvailable() };
const save = (): void => writeFileSync(join(out, "gpu-report.json"), JSON.stringify(report, null, 2));
const log = (...a: unknown[]): void => console.log(...a);
const sync = (): void => torch.cuda.synchronize();
const want = (s: string): boolean => !only || only.split(",").includes(s);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// Python sources are read from the repository (the GPU check runs from its root).
function pyScript(path: string, payload: unknown): any {
  const r = spawnSync(python, [path, JSON.stringify(payload)], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr.slice(-3000)}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

// ---- 1. op parity -------------------------------------------------------------------------------
if (want("ops")) {
  const rows = opParity(device);
  report.opParity = rows;
  const bad = rows.filter((r) => !r.ok);
  log(`op parity on ${device}: ${rows.length - bad.length}/${rows.length} within 1e-4`, bad.length ? bad : "");
  save();
}

// ---- 2. fixtures on the device ------------------------------------------------------------------
if (want("fixtures")) {
  torch.cuda.setAllowTF32(false);
  const manifest = JSON.parse(readFileSync(join(fixtures, "manifest.json"), "utf8"));
  const rows: unknown[] = [];
  for (const c of manifest.cases) {
    const { model } = loadModelCheckpoint(join(fixtures, c.checkpoint));
    model.to(device).eval();
    const m = model as SimCLR;
    let worst = 0;
    for (const [key, inp] of Object.entries<any>(manifest.inputs)) {
      const x = torch.tensor(readF32(join(fixtures, inp.file)), { shape: inp.shape, device });
      const [emb, proj] = torch.noGrad(() => torch.scope(() => [m.embed(x).cpu().data(), m.forward(x).cpu().data()]));
      const eb = maxDiff(emb as Float32Array, readF32(join(fixtures, c.outputs[key].backbone.file)));
      const ep = maxDiff(proj as Float32Array, readF32(join(fixtures, c.outputs[key].model.file)));
      worst = Math.max(worst, eb, ep);
      x.dispose();
    }
    rows.push({ case: c.name, maxAbsErr: worst, ok: worst <= 1e-4 });
    model.dispose();
  }
  report.fixtures = rows;
  log(`fixtures on ${device}:`, rows);
  save();
}

// ---- 3. training parity: CPU vs device from the same init ----------------------------------------
function trainSteps(dev: string, steps: number): { losses: number[]; params: Float32Array } {
  torch.manualSeed(7);
  const model = buildModel({ name: "resnet-9", width: 0.125, numFtrs: 16, outDim: 32, projectionHeadBatchNorm: true }) as SimCLR;
  model.to(dev).train();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    torch.scope(() => {
      torch.manualSeed(100 + s);
      const x0 = torch.randn([16, 3, 32, 32]).to(dev);
      const x1 = torch.randn([16, 3, 32, 32]).to(dev);
      opt.zeroGrad();
      const z = model.forward(torch.cat([x0, x1]));
      const loss = ntXentLoss(z.narrow(0, 0, 16), z.narrow(0, 16, 16));
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  const params = torch.scope(() => torch.cat(model.parameters().map((p) => p.detach().flatten())).cpu().data() as Float32Array);
  model.dispose();
  opt.dispose();
  return { losses, params };
}
if (want("train")) {
  torch.cuda.setAllowTF32(false);
  const a = trainSteps("cpu", 3);
  const b = trainSteps(device, 3);
  const r = { lossesCpu: a.losses, lossesDevice: b.losses, maxLossDiff: maxDiff(a.losses, b.losses), maxParamDiff: maxDiff(a.params, b.params) };
  // The first step's loss is the float32 check (1e-5). After three momentum-SGD steps through
  // NT-Xent, cuDNN's and the CPU's different summation orders compound; we bound that drift at 1e-3.
  report.trainParity = { ...r, ok: Math.abs(a.losses[0] - b.losses[0]) <= 1e-5 && r.maxLossDiff <= 1e-4 && r.maxParamDiff <= 1e-3 };
  log("training parity:", report.trainParity);
  save();
}

// ---- 4. checkpoints both ways with this machine's PyTorch -----------------------------------------
if (want("ckpt")) {
  torch.cuda.setAllowTF32(false);
  const dir = join(out, "ckpt");
  mkdirSync(dir, { recursive: true });
  torch.manualSeed(3);
  const m = buildModel({ name: "resnet-18", width: 0.25, numFtrs: 32, outDim: 64, projectionHeadBatchNorm: false }) as SimCLR;
  m.to(device).eval();
  torch.manualSeed(4);
  const x = torch.randn([2, 3, 32, 32]);
  writeFileSync(join(dir, "x.f32"), Buffer.from((x.data() as Float32Array).buffer));
  const xd = x.to(device);
  const emb = torch.noGrad(() => torch.scope(() => m.embed(xd).cpu().data() as Float32Array));
  saveCheckpoint(m, join(dir, "winnow.ckpt"));
  const py = pyScript("bench/gpu/ckpt_check.py", { dir, ref: "bench/torch_ref.py" });
  const loaded = readF32(join(dir, "torch-from-winnow.f32"));
  const { model: back } = loadModelCheckpoint(join(dir, "torch-written.ckpt"));
  back.to(device).eval();
  const embBack = torch.noGrad(() => torch.scope(() => (back as SimCLR).embed(xd).cpu().data() as Float32Array));
  const errTo = maxDiff(emb, loaded);
  const errBack = maxDiff(embBack, readF32(join(dir, "torch-written.f32")));
  report.checkpoints = {
    torch: py.torch,
    winnowToTorch: { maxAbsErr: errTo, ok: errTo <= 1e-4 },
    torchToWinnow: { maxAbsErr: errBack, ok: errBack <= 1e-4 },
    torchRecords: py.records,
  };
  log("checkpoints:", report.checkpoints);
  m.dispose();
  back.dispose();
  x.dispose();
  xd.dispose();
  save();
}

// ---- 4b. augmentations: the same views on the device as on the CPU (same seed) --------------------
if (want("augment")) {
  torch.manualSeed(5);
  const images = torch.randint(0, 256, [8, 3, 40, 40], { dtype: "uint8" });
  const all = { input_size: 32, cj_prob: 1, random_gray_scale: 0.5, gaussian_blur: 1, hf_prob: 0.5, vf_prob: 0.5, rr_prob: 0.5 };
  const d = torch.scope(() => {
    const dev = images.to(device);
    torch.manualSeed(8);
    const [c0, c1] = simclrViews(dev, all);
    torch.manualSeed(8);
    const [a0, a1] = simclrViews(images, all);
    return Math.max(c0.cpu().sub(a0).abs().max().item(), c1.cpu().sub(a1).abs().max().item());
  });
  images.dispose();
  report.augmentParity = { maxAbsDiff: d, ok: d < 1e-3 };
  log("augmentation parity:", report.augmentParity);
  save();
}

// ---- 5. benchmarks --------------------------------------------------------------------------------
interface Task { kind: "train_step" | "embed" | "diversity"; [k: string]: unknown }

function timed(fn: () => void, warmup: number, iters: number): number {
  for (let i = 0; i < warmup; i++) fn();
  sync();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    sync();
    ts.push(performance.now() - t0);
  }
  ts.sort((p, q) => p - q);
  return ts[Math.floor(ts.length / 2)];
}

function winnowTask(t: any): Record<string, number> {
  const fmt = t.channels_last ? "channels_last" : "contiguous";
  if (t.kind === "train_step") {
    torch.manualSeed(0);
    const model = buildModel({ name: t.model ?? "resnet-18", width: t.width ?? 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: false }) as SimCLR;
    model.to({ device, memoryFormat: fmt }).train();
    const opt = new SGD(model.parameters(), { lr: 0.06, momentum: 0.9, weightDecay: 5e-4 });
    const b = t.batch as number;
    const x0 = torch.randn([b, 3, t.size, t.size], { device }).contiguous(fmt);
    const x1 = torch.randn([b, 3, t.size, t.size], { device }).contiguous(fmt);
    const step = (): void =>
      torch.scope(() => {
        opt.zeroGrad();
        const fwd = (): Tensor => model.forward(torch.cat([x0, x1]));
        const z = t.autocast ? torch.autocast(device.startsWith("cuda") ? "cuda" : "cpu", t.autocast, fwd) : fwd();
        const zf = z.float();
        ntXentLoss(zf.narrow(0, 0, b), zf.narrow(0, b, b)).backward();
        opt.step();
      });
    const ms = timed(step, t.warmup ?? 3, t.iters ?? 10);
    opt.dispose();
    model.dispose();
    x0.dispose();
    x1.dispose();
    return { ms_per_step: ms, images_per_s: (2 * b) / ms * 1000 };
  }
  if (t.kind === "embed") {
    torch.manualSeed(0);
    const model = buildModel({ name: t.model ?? "resnet-18", width: t.width ?? 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: false }) as SimCLR;
    model.to({ device, memoryFormat: fmt }).eval();
    const x = torch.randn([t.batch, 3, t.size, t.size], { device }).contiguous(fmt);
    const ms = timed(() => torch.noGrad(() => torch.scope(() => void model.embed(x))), t.warmup ?? 3, t.iters ?? 10);
    model.dispose();
    x.dispose();
    return { ms_per_batch: ms, images_per_s: t.batch / ms * 1000 };
  }
  // diversity
  torch.manualSeed(0);
  const x = torch.scope(() => torch.F.normalize(torch.randn([t.n, t.dim], { device }), 2, 1));
  sync();
  const t0 = performance.now();
  const r = selectDiverse(x, t.k);
  const seconds = (performance.now() - t0) / 1000;
  x.dispose();
  return { seconds, picked: r.indices.length };
}

if (want("bench")) {
  torch.cuda.setAllowTF32(true); // PyTorch's default for convolutions (cuDNN); matmul stays as PyTorch's default below
  torch.cuda.setCudnnBenchmark(device.startsWith("cuda"));
  const big = !quick;
  const tasks: Task[] = [
    { kind: "train_step", batch: big ? 512 : 16, size: 32, width: big ? 1 : 0.25, iters: big ? 15 : 2, warmup: big ? 5 : 1 },
    { kind: "train_step", batch: big ? 512 : 16, size: 32, width: big ? 1 : 0.25, channels_last: true, iters: big ? 15 : 2, warmup: big ? 5 : 1 },
    { kind: "train_step", batch: big ? 512 : 16, size: 32, width: big ? 1 : 0.25, channels_last: true, autocast: "bfloat16", iters: big ? 15 : 2, warmup: big ? 5 : 1 },
    { kind: "embed", batch: big ? 1024 : 32, size: 64, width: big ? 1 : 0.25, iters: big ? 15 : 2 },
    { kind: "embed", batch: big ? 1024 : 32, size: 64, width: big ? 1 : 0.25, channels_last: true, iters: big ? 15 : 2 },
    { kind: "diversity", n: big ? 1_000_000 : 20_000, dim: 32, k: big ? 10_000 : 200 },
  ];
  const refPath = "bench/torch_ref.py";
  const rows: unknown[] = [];
  // PyTorch first, in its own process, so the two never share the GPU at the same time.
  const r = spawnSync(python, [refPath, JSON.stringify({ device, threads: 16, cudnn_benchmark: true, tasks })], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`torch_ref.py failed: ${r.stderr.slice(-3000)}`);
  const ref = JSON.parse(r.stdout.trim().split("\n").pop()!);
  report.pytorch = { torch: ref.torch, gpu: ref.gpu };
  for (let i = 0; i < tasks.length; i++) {
    const w = winnowTask(tasks[i]);
    const p = ref.results[i];
    const key = tasks[i].kind === "diversity" ? "seconds" : tasks[i].kind === "train_step" ? "ms_per_step" : "ms_per_batch";
    const row = { task: tasks[i], winnow: w, pytorch: p, ratio_winnow_over_pytorch_time: (w as any)[key] / p[key] };
    rows.push(row);
    log(JSON.stringify(row));
    report.bench = rows;
    save();
  }
}
save();
log(`report: ${join(out, "gpu-report.json")}`);
if (!existsSync(join(out, "gpu-report.json"))) process.exit(1);
