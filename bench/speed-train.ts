import "./quality-env.js";
// Speed benchmark: end-to-end SimCLR training and embedding from a folder of image files, Winnow vs
// plain PyTorch (bench/speed_ref.py, spawned here) running the same recipe with the same model,
// batch size, threads and BLAS (Debian's libtorch 1.13 on both sides).
//
// Winnow: buildImageCache (decode once; timed and reported separately), then train() epochs (cache
// read + batched augmentation + model step + the end-of-epoch checkpoint) and embedImages().
// PyTorch: a Dataset reading the files with PIL, lightly's collate recipe in torchvision
// transforms (two views per image in the collate function), DataLoader with num_workers 0, 1 and 2
// (2 = Lightly's num_workers -1 on this 2-core machine), the model step; embedding with
// Resize((s, s)) + ToTensor + Normalize and the backbone in eval mode.
// Also: each side's data path alone (no model) and model step alone (fixed random views, NCHW and
// channels_last, with the minor page faults each step took), so the data share is visible; and the
// model-only embedding rate. With Debian's libjemalloc2 installed (not needed otherwise), the PyTorch
// NCHW step is also run with jemalloc preloaded and keeping freed pages, a control for Winnow's caching
// CPU allocator (--no-jemalloc skips it).
//
// The runners take turns (Winnow, PyTorch nw=0, 1, 2, rotating the order every round) so
// that load from other jobs on this shared machine hits them alike; medians over rounds. Winnow's
// training epoch runs twice per round, with train()'s prefetch worker on and off (alternating which
// goes first); "training epoch" is train()'s default setting.
//
//   npx tsx bench/speed-train.ts [--emoji 500] [--rounds 3] [--size 32] [--model resnet-18]
//        [--width 0.25] [--batch 128] [--threads 2] [--model-steps 6] [--jpeg-side 0] [--work /tmp/winnow-bench] [--no-write]
//        [--no-jemalloc] [--cache S (default: a run's cache, cacheSizeFor(size))]
// --jpeg-side S: the files are the same emoji upscaled to S×S JPEGs (quality 90), which decode like
// small photos; 0 (default): the 64 px PNGs as they are.
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import type { Tensor } from "../src/torch/index.js";
import { buildImageCache, cacheSizeFor } from "../src/data/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { train, epochOrder, deriveSeed, prefetchByDefault } from "../src/ssl/trainer.js";
import { ntXentLoss } from "../src/ssl/index.js";
import { simclrViews } from "../src/transforms/index.js";
import { buildModel, type SimCLR } from "../src/models/index.js";
import { SGD } from "../src/nn/index.js";
import { embedImages } from "../src/pipeline/embed.js";
import { prepareEmoji, prepareJpegCopies, VENDORS, loadavg, machineLine, pythonTorchVersion, today, appendSection, arg, argStr, flag, shellArgs, median } from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const N_EMOJI = arg("emoji", 500);
const ROUNDS = arg("rounds", 3);
const SIZE = arg("size", 32);
const MODEL = argStr("model", "resnet-18");
const WIDTH = arg("width", 0.25);
const BATCH = arg("batch", 128);
const THREADS = arg("threads", 2);
const MODEL_STEPS = arg("model-steps", 6);
const JPEG_SIDE = arg("jpeg-side", 0);
const WORKERS = [0, 1, 2];
const WORK = argStr("work", "/tmp/winnow-bench");
const WRITE = !flag("no-write");
const PREFETCH_DEFAULT = prefetchByDefault("cpu", THREADS);

torch.setNumThreads(THREADS);
const log = (m: string): void => console.log(m);
const tStart = performance.now();
const loadStart = loadavg();
const loads: string[] = [loadStart];
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- data and cache ---------------------------------------------------------------------------------
const set = await prepareEmoji(path.join(WORK, `emoji-${N_EMOJI}-white`), N_EMOJI, true);
const root = JPEG_SIDE > 0 ? await prepareJpegCopies(set.root, path.join(WORK, `emoji-${N_EMOJI}-jpeg-${JPEG_SIDE}`), JPEG_SIDE) : set.root;
const filesDesc = JPEG_SIDE > 0 ? `${JPEG_SIDE} px JPEG` : "64 px PNG";
const dataDesc = JPEG_SIDE > 0
  ? `emoji upscaled to ${JPEG_SIDE}×${JPEG_SIDE} JPEGs (quality 90, from the emoji bench's 64 px PNGs with alpha flattened onto white): small photos to decode, where PyTorch decodes every file every epoch`
  : "emoji PNGs (64×64 RGB, alpha flattened onto white; the emoji bench's folder)";
const cacheDir = path.join(WORK, "cache", "speed");
fs.rmSync(cacheDir, { recursive: true, force: true });
const config = parseLightlyConfig({
  loader: { batch_size: BATCH, num_workers: -1 },
  model: { name: MODEL, width: WIDTH },
  trainer: { gpus: 0, max_epochs: 1, enable_model_summary: false },
  collate: { input_size: SIZE },
  checkpoint_callback: { save_top_k: 0 },
  seed: 1,
});
const cpu0 = cpuMs();
// The cache a run builds (S = cacheSizeFor(input_size)); --cache S overrides it.
const CACHE_SIDE = arg("cache", cacheSizeFor(SIZE));
const cache = await buildImageCache(root, { cacheDir, resolution: CACHE_SIDE, removeExactDuplicates: false });
const build = { ms: cache.stats.durationMs, cpu: cpuMs() - cpu0, n: cache.length };
log(`cache build: ${cache.length} files (${VENDORS.length} vendors × ${set.emoji.length} emoji, ${filesDesc}) → ${cache.resolution} px in ${(build.ms / 1000).toFixed(2)} s = ${((build.n * 1000) / build.ms).toFixed(0)} img/s`);
const n = cache.length;
const stepsPerEpoch = Math.floor(n / BATCH);
const epochImages = stepsPerEpoch * BATCH;

// ---- the PyTorch side ---------------------------------------------------------------------------------
class Py {
  private readonly proc;
  constructor(env: Record<string, string> = {}) {
    this.proc = spawn("/usr/bin/python3", [path.join(here, "speed_ref.py")], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONWARNINGS: "ignore", ...env },
    });
    this.lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  private readonly lines: AsyncIterator<string>;
  async call(msg: object): Promise<Record<string, any>> {
    this.proc.stdin!.write(JSON.stringify(msg) + "\n");
    const r = await this.lines.next();
    if (r.done) throw new Error("speed_ref.py exited");
    return JSON.parse(r.value) as Record<string, any>;
  }
  close(): void {
    this.proc.stdin!.write(JSON.stringify({ op: "quit" }) + "\n");
    this.proc.stdin!.end();
  }
}
const py = new Py();
const setupMsg = {
  op: "setup", root, files: cache.filenames, threads: THREADS, batch: BATCH, input_size: SIZE, model: MODEL, width: WIDTH,
  num_ftrs: config.model.num_ftrs, out_dim: config.model.out_dim, lr: config.optimizer.lr, wd: config.optimizer.weight_decay,
  momentum: config.optimizer.momentum, temperature: config.criterion.temperature, min_scale: config.collate.min_scale, seed: 1,
};
const setup = await py.call(setupMsg);
// The same PyTorch model step with jemalloc preloaded and told never to return freed pages (Debian's
// libjemalloc2, if installed): what keeping freed memory, as Winnow's caching CPU allocator does, is
// worth to PyTorch's own step. Not what a plain PyTorch script gets; shown so the source of the
// difference is visible.
const JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
const pyJe = fs.existsSync(JEMALLOC) && !flag("no-jemalloc")
  ? new Py({ LD_PRELOAD: JEMALLOC, MALLOC_CONF: "dirty_decay_ms:-1,muzzy_decay_ms:-1" })
  : undefined;
if (pyJe) await pyJe.call(setupMsg);
log(`PyTorch ${setup.torch}, ${setup.threads} threads, ${setup.params} parameters`);

// ---- Winnow runners -------------------------------------------------------------------------------------
interface Epoch {
  ms: number;
  cpu: number;
  images: number;
  extra?: Record<string, number>;
}
let round = 0;
async function winnowTrainEpoch(prefetch?: boolean): Promise<Epoch> {
  const out = path.join(WORK, "out-speed", "ckpt");
  fs.rmSync(out, { recursive: true, force: true });
  const cfg = { ...config, seed: 1 + round };
  const c0 = cpuMs();
  const t0 = performance.now();
  let epochS = 0;
  const r = await train({ cache, config: cfg, outDir: out, device: "cpu", prefetch, onEpochEnd: (e) => (epochS = e.seconds) });
  const ms = performance.now() - t0;
  return { ms, cpu: cpuMs() - c0, images: r.globalStep * r.batchSize, extra: { epochMs: epochS * 1000, stepImgS: r.imagesPerSecond } };
}

/** The trainer's data path alone: cache read + simclrViews per step, with a per-stage profile. */
function winnowDataEpoch(): Epoch & { profile: Record<string, number> } {
  const profile: Record<string, number> = {};
  const sizes: Array<[number, number]> = Array.from({ length: n }, (_, i) => [cache.heights[i]!, cache.widths[i]!]);
  const c0 = cpuMs();
  const t0 = performance.now();
  const order = epochOrder(n, 1, round, true);
  for (let step = 0; step < stepsPerEpoch; step++) {
    const idx = order.slice(step * BATCH, (step + 1) * BATCH);
    torch.manualSeed(deriveSeed(1, round, step));
    torch.scope(() => {
      const tr = performance.now();
      const x = cache.batchTensor(idx, "cpu");
      profile["cache read (batchTensor)"] = (profile["cache read (batchTensor)"] ?? 0) + performance.now() - tr;
      simclrViews(x, config.collate, { sourceSizes: idx.map((i) => sizes[i]!), profile });
    });
  }
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, images: stepsPerEpoch * BATCH, profile };
}

torch.manualSeed(1);
const wModel = buildModel({ name: MODEL, width: WIDTH, numFtrs: config.model.num_ftrs, outDim: config.model.out_dim, projectionHeadBatchNorm: false }) as SimCLR;
const wOpt = new SGD(wModel.parameters(), { lr: config.optimizer.lr, weightDecay: config.optimizer.weight_decay, momentum: config.optimizer.momentum });
torch.manualSeed(0);
const views: [Tensor, Tensor] = [torch.keep(torch.randn([BATCH, 3, SIZE, SIZE])), torch.keep(torch.randn([BATCH, 3, SIZE, SIZE]))];
// The same step as Winnow's trainer runs it, on a separate model: weights in channels_last (NHWC) memory
// format, views NCHW (the input BatchNorm2d(3) is slow on 3-channel channels_last; the first conv
// turns the activations channels_last). The NCHW step above is how lightly and the PyTorch script train.
torch.manualSeed(1);
const wModelCL = (buildModel({ name: MODEL, width: WIDTH, numFtrs: config.model.num_ftrs, outDim: config.model.out_dim, projectionHeadBatchNorm: false }) as SimCLR).to({ memoryFormat: "channels_last" });
const wOptCL = new SGD(wModelCL.parameters(), { lr: config.optimizer.lr, weightDecay: config.optimizer.weight_decay, momentum: config.optimizer.momentum });
const viewsCL: [Tensor, Tensor] = views;
const embedInput = torch.keep(torch.randn([BATCH, 3, SIZE, SIZE]));
/** The trainer's model step on fixed views (as in trainer.ts: two forwards, NT-Xent, SGD). */
interface Step {
  ms: number;
  cpu: number;
  /** minor page faults taken during the step */
  faults?: number;
}
function winnowModelStep(cl = false): Step {
  const [m, o, v] = cl ? [wModelCL, wOptCL, viewsCL] : [wModel, wOpt, views];
  m.train();
  const f0 = process.resourceUsage().minorPageFault;
  const c0 = cpuMs();
  const t0 = performance.now();
  torch.scope(() => {
    const l = ntXentLoss(m.forward(v[0]), m.forward(v[1]), config.criterion.temperature);
    o.zeroGrad();
    l.backward();
    o.step();
    return l.item();
  });
  o.zeroGrad();
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, faults: process.resourceUsage().minorPageFault - f0 };
}
function winnowEmbedModel(): { ms: number; cpu: number } {
  wModel.eval();
  const c0 = cpuMs();
  const t0 = performance.now();
  torch.noGrad(() => torch.scope(() => wModel.embed(embedInput).data()));
  return { ms: performance.now() - t0, cpu: cpuMs() - c0 };
}
function winnowEmbedEpoch(): Epoch {
  const out = path.join(WORK, "out-speed", "embed");
  fs.rmSync(out, { recursive: true, force: true });
  const c0 = cpuMs();
  const t0 = performance.now();
  const r = embedImages({ cache, config, outDir: out, model: wModel, device: "cpu", csv: false });
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, images: r.n };
}

// ---- measurements -----------------------------------------------------------------------------------------
const res: Record<string, Epoch[]> = {};
const add = (k: string, e: Epoch): void => {
  (res[k] ??= []).push(e);
};
const pyEpoch = (r: Record<string, any>): Epoch => ({
  ms: r.ms, cpu: r.cpu_ms, images: r.images, extra: { waitDataMs: r.wait_data_ms ?? 0, modelMs: r.model_ms ?? 0, workerCpu: r.worker_cpu_ms ?? 0 },
});

// Warm-up (oneDNN primitive creation, allocator): a few model steps on both sides.
for (let i = 0; i < 2; i++) {
  winnowModelStep();
  winnowModelStep(true);
  winnowEmbedModel();
}
await py.call({ op: "model_steps", steps: 2 });
await py.call({ op: "model_steps", steps: 2, channels_last: true });
await py.call({ op: "embed_model", batches: 2 });
await pyJe?.call({ op: "model_steps", steps: 2 });
const pySteps = async (p: Py, channelsLast = false): Promise<Step> =>
  ((await p.call({ op: "model_steps", steps: 1, channels_last: channelsLast })).steps as Array<{ ms: number; cpu_ms: number; minflt: number }>)
    .map((s) => ({ ms: s.ms, cpu: s.cpu_ms, faults: s.minflt }))[0]!;

// 1. model step alone, alternating step by step
const modelW: Step[] = [];
const modelP: Step[] = [];
const modelPJe: Step[] = [];
for (let i = 0; i < MODEL_STEPS; i++) {
  modelW.push(winnowModelStep());
  modelP.push(await pySteps(py));
  if (pyJe) modelPJe.push(await pySteps(pyJe));
}
log(`model step: Winnow ${median(modelW.map((s) => s.ms)).toFixed(0)} ms, PyTorch ${median(modelP.map((s) => s.ms)).toFixed(0)} ms`);
const modelWCL: Step[] = [];
const modelPCL: Step[] = [];
for (let i = 0; i < MODEL_STEPS; i++) {
  modelWCL.push(winnowModelStep(true));
  modelPCL.push(await pySteps(py, true));
  // the NCHW steps once more in between, so that both layouts see the same stretch of load
  modelW.push(winnowModelStep());
  modelP.push(await pySteps(py));
  if (pyJe) modelPJe.push(await pySteps(pyJe));
}
log(`model step, channels_last: Winnow ${median(modelWCL.map((s) => s.ms)).toFixed(0)} ms, PyTorch ${median(modelPCL.map((s) => s.ms)).toFixed(0)} ms`);

// 2. rounds: train epochs, data epochs, embedding epochs
const profiles: Array<Record<string, number>> = [];
for (round = 0; round < ROUNDS; round++) {
  const runners: Array<[string, () => Promise<void>]> = [
    ["winnow", async () => {
      for (const pf of round % 2 ? [false, true] : [true, false]) {
        const e = await winnowTrainEpoch(pf);
        add(`train winnow prefetch ${pf ? "on" : "off"}`, e);
        if (pf === PREFETCH_DEFAULT) add("train winnow", e);
      }
      const d = winnowDataEpoch();
      profiles.push(d.profile);
      add("data winnow", d);
      add("embed winnow", winnowEmbedEpoch());
    }],
    ...WORKERS.map((nw): [string, () => Promise<void>] => [`pytorch nw=${nw}`, async () => {
      add(`train pytorch nw=${nw}`, pyEpoch(await py.call({ op: "train_epoch", num_workers: nw })));
      add(`data pytorch nw=${nw}`, pyEpoch(await py.call({ op: "data_epoch", num_workers: nw })));
      add(`embed pytorch nw=${nw}`, pyEpoch(await py.call({ op: "embed_epoch", num_workers: nw })));
    }]),
  ];
  for (let k = 0; k < runners.length; k++) {
    const [name, run] = runners[(k + round) % runners.length]!;
    await run();
    log(`round ${round + 1}: ${name} done (${((performance.now() - tStart) / 1000).toFixed(0)} s, load ${loadavg()})`);
  }
  loads.push(loadavg());
}
// 3. model-only embedding, alternating
const embW: Array<{ ms: number; cpu: number }> = [];
const embP: Array<{ ms: number; cpu: number }> = [];
for (let i = 0; i < MODEL_STEPS; i++) {
  embW.push(winnowEmbedModel());
  embP.push(((await py.call({ op: "embed_model", batches: 1 })).batches as Array<{ ms: number; cpu_ms: number }>).map((s) => ({ ms: s.ms, cpu: s.cpu_ms }))[0]!);
}
py.close();
pyJe?.close();
const loadEnd = loadavg();
const totalS = (performance.now() - tStart) / 1000;

// ---- report -------------------------------------------------------------------------------------------------
const ips = (e: Epoch[]): number => median(e.map((x) => (x.images * 1000) / x.ms));
const cpuPerImg = (e: Epoch[]): number => median(e.map((x) => x.cpu / x.images));
const stepIps = (s: Array<{ ms: number }>, imgs: number): number => (imgs * 1000) / median(s.map((x) => x.ms));
const stepCpu = (s: Array<{ cpu: number }>, imgs: number): number => median(s.map((x) => x.cpu)) / imgs;
const bestPy = (kind: string): [string, number] =>
  WORKERS.map((nw): [string, number] => [`nw=${nw}`, ips(res[`${kind} pytorch nw=${nw}`]!)]).sort((a, b) => b[1] - a[1])[0]!;
const raw = (e: Epoch[]): string => e.map((x) => ((x.images * 1000) / x.ms).toFixed(0)).join(", ");

const lines: string[] = [];
const nwCols = WORKERS.map((nw) => `PyTorch nw=${nw} img/s`).join(" | ");
lines.push(`| what | Winnow img/s | ${nwCols} | **Winnow / best PyTorch** | CPU ms per image: Winnow / ${WORKERS.map((nw) => `PyTorch nw=${nw}`).join(" / ")} |`);
lines.push(`|---|---:|${WORKERS.map(() => "---:|").join("")}---:|---|`);
const blanks = WORKERS.map(() => "").join(" | ");
const same = WORKERS.slice(1).map(() => "(same)").join(" | "); // one PyTorch model measurement for every nw
for (const [kind, label] of [["train", "training epoch (end to end)"], ["data", "training data path alone (read + decode/augment two views, no model)"], ["embed", "embedding, whole folder"]] as const) {
  const w = ips(res[`${kind} winnow`]!);
  const [bn, bv] = bestPy(kind);
  lines.push(
    `| ${label} | ${w.toFixed(0)} | ${WORKERS.map((nw) => ips(res[`${kind} pytorch nw=${nw}`]!).toFixed(0)).join(" | ")} | **${(w / bv).toFixed(2)}×** (vs ${bn}) | ` +
      `${[cpuPerImg(res[`${kind} winnow`]!), ...WORKERS.map((nw) => cpuPerImg(res[`${kind} pytorch nw=${nw}`]!))].map((v) => v.toFixed(2)).join(" / ")} |`,
  );
}
for (const pf of ["on", "off"]) {
  const e = res[`train winnow prefetch ${pf}`]!;
  lines.push(`| training epoch, prefetch ${pf}${(pf === "on") === PREFETCH_DEFAULT ? " (train()'s default here)" : ""} | ${ips(e).toFixed(0)} | ${blanks} | ${(ips(e) / bestPy("train")[1]).toFixed(2)}× | ${cpuPerImg(e).toFixed(2)} |`);
}
const mw = stepIps(modelW, BATCH);
const mp = stepIps(modelP, BATCH);
const mwc = stepIps(modelWCL, BATCH);
const mpc = stepIps(modelPCL, BATCH);
lines.push(`| model step alone, channels_last (fixed random views, ${BATCH} images per step, 2 views each; Winnow as its trainer: channels_last weights, NCHW views; PyTorch: model and views channels_last) | ${mwc.toFixed(0)} | ${mpc.toFixed(0)} | ${same} | **${(mwc / mpc).toFixed(2)}×** | ${stepCpu(modelWCL, BATCH).toFixed(2)} / ${stepCpu(modelPCL, BATCH).toFixed(2)} |`);
lines.push(`| model step alone, NCHW (the layout PyTorch's script and lightly train in) | ${mw.toFixed(0)} | ${mp.toFixed(0)} | ${same} | **${(mw / mp).toFixed(2)}×** | ${stepCpu(modelW, BATCH).toFixed(2)} / ${stepCpu(modelP, BATCH).toFixed(2)} |`);
lines.push(`| Winnow's trainer step (channels_last) vs PyTorch's (NCHW), model alone | ${mwc.toFixed(0)} | ${mp.toFixed(0)} | ${same} | **${(mwc / mp).toFixed(2)}×** | ${stepCpu(modelWCL, BATCH).toFixed(2)} / ${stepCpu(modelP, BATCH).toFixed(2)} |`);
if (modelPJe.length) {
  const mj = stepIps(modelPJe, BATCH);
  lines.push(`| model step alone, NCHW, PyTorch with jemalloc keeping freed pages (LD_PRELOAD; not the plain script) | ${mw.toFixed(0)} | ${mj.toFixed(0)} | ${same} | ${(mw / mj).toFixed(2)}× | ${stepCpu(modelW, BATCH).toFixed(2)} / ${stepCpu(modelPJe, BATCH).toFixed(2)} |`);
}
const ew = stepIps(embW, BATCH);
const ep = stepIps(embP, BATCH);
lines.push(`| embedding model alone (backbone, eval, batch ${BATCH}) | ${ew.toFixed(0)} | ${ep.toFixed(0)} | ${same} | **${(ew / ep).toFixed(2)}×** | ${stepCpu(embW, BATCH).toFixed(2)} / ${stepCpu(embP, BATCH).toFixed(2)} |`);
const table = lines.join("\n");

// Where Winnow's training time goes (per step, means over rounds).
const prof: Record<string, number> = {};
for (const p of profiles) for (const [k, v] of Object.entries(p)) prof[k] = (prof[k] ?? 0) + v / profiles.length / stepsPerEpoch;
const trainStepMs = median(res["train winnow"]!.map((e) => (BATCH * 1000) / e.extra!.stepImgS!));
const modelMs = median(modelWCL.map((s) => s.ms));
const dataMs = Object.values(prof).reduce((a, b) => a + b, 0);
const profLines = [
  `| stage (per step of ${BATCH} images → 2 views) | ms |`,
  "|---|---:|",
  ...Object.entries(prof).map(([k, v]) => `| ${k} | ${v.toFixed(1)} |`),
  `| = data path total | ${dataMs.toFixed(1)} |`,
  `| model step alone, channels_last (forward ×2, NT-Xent, backward, SGD) | ${modelMs.toFixed(1)} |`,
  `| sum | ${(dataMs + modelMs).toFixed(1)} |`,
  `| measured trainer step (median over rounds of the epoch's mean) | ${trainStepMs.toFixed(1)} |`,
].join("\n");
const pyTrain = (nw: number): string => {
  const e = res[`train pytorch nw=${nw}`]!;
  return `nw=${nw}: waiting for data ${median(e.map((x) => x.extra!.waitDataMs! / (x.images / BATCH))).toFixed(0)} ms/step, model ${median(e.map((x) => x.extra!.modelMs! / (x.images / BATCH))).toFixed(0)} ms/step`;
};
const trainEpochNote = median(res["train winnow"]!.map((e) => e.ms - e.extra!.epochMs!));
const firstEpoch = (epochImages * 1000) / (build.ms + median(res["train winnow"]!.map((e) => e.ms)));
const rawLines = [
  ...Object.entries(res).map(([k, e]) => `${k}: [${raw(e)}] img/s`),
  `model step Winnow: [${modelW.map((s) => s.ms.toFixed(0)).join(", ")}] ms; PyTorch: [${modelP.map((s) => s.ms.toFixed(0)).join(", ")}] ms`,
  `model step channels_last Winnow: [${modelWCL.map((s) => s.ms.toFixed(0)).join(", ")}] ms; PyTorch: [${modelPCL.map((s) => s.ms.toFixed(0)).join(", ")}] ms`,
  ...(modelPJe.length ? [`model step PyTorch with jemalloc: [${modelPJe.map((s) => s.ms.toFixed(0)).join(", ")}] ms`] : []),
  `minor page faults per model step (medians): Winnow NCHW ${median(modelW.map((s) => s.faults!)).toFixed(0)}, channels_last ${median(modelWCL.map((s) => s.faults!)).toFixed(0)}; ` +
    `PyTorch NCHW ${median(modelP.map((s) => s.faults!)).toFixed(0)}, channels_last ${median(modelPCL.map((s) => s.faults!)).toFixed(0)}` +
    (modelPJe.length ? `, NCHW with jemalloc ${median(modelPJe.map((s) => s.faults!)).toFixed(0)}` : ""),
  `embedding model Winnow: [${embW.map((s) => s.ms.toFixed(0)).join(", ")}] ms; PyTorch: [${embP.map((s) => s.ms.toFixed(0)).join(", ")}] ms`,
].join("; ");

console.log(`\n${table}\n\n${profLines}\n\nPyTorch inside its training epoch: ${WORKERS.map(pyTrain).join("; ")}\n${rawLines}\ntotal ${totalS.toFixed(0)} s, load ${loads.join(" → ")} → ${loadEnd}`);

if (WRITE) {
  const cmd = `npx tsx bench/speed-train.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
  appendSection(`
### Speed: end-to-end SimCLR training and embedding from a folder, Winnow vs PyTorch (${today()})

- Command: \`${cmd}\` (effective: ${n} ${filesDesc} files, ${ROUNDS} rounds, ${MODEL} width ${WIDTH}, input ${SIZE}, batch ${BATCH}, ${stepsPerEpoch} steps per epoch (drop_last), ${MODEL_STEPS} model-only steps/batches per side).
- Machine: ${machineLine()}; PyTorch, torchvision ${pythonTorchVersion()} (/usr/bin/python3, Debian); both on Debian's libtorch 1.13 (OpenMP, OpenBLAS, oneDNN); ${THREADS} intra-op threads on both sides (DataLoader workers: 1 each, PyTorch's default); OpenMP wait: ${OMP_SETTING} for both. Load average ${loads.join(" → ")} → ${loadEnd} (start, after each round, end; the machine is shared with other jobs). Total wall time ${totalS.toFixed(0)} s.
- Data: ${n} ${dataDesc}. Model and recipe: lightly_config defaults except batch_size ${BATCH}, input_size ${SIZE}, model ${MODEL} width ${WIDTH} (SGD lr 1, weight decay 1e-5, no momentum; NT-Xent 0.5; collate defaults: RandomResizedCrop scale (0.15, 1), hflip 0.5, ColorJitter(0.7, 0.7, 0.7, 0.2) p 0.8, grayscale 0.2, Gaussian blur p 0.5 sigma [0.2, 2], ImageNet Normalize); each view through the model separately (lightly's SimCLR), plain projection head; Winnow's trainer with channels_last weights and NCHW views, the PyTorch script in NCHW (as lightly).
- Winnow: the cache is built once first: ${(build.ms / 1000).toFixed(2)} s for ${n} files = **${((n * 1000) / build.ms).toFixed(0)} img/s** (${(build.cpu / n).toFixed(2)} ms CPU per image), not counted below. "training epoch" = one \`train()\` call with max_epochs 1 (model construction, ${stepsPerEpoch} steps, the end-of-epoch checkpoint write: ${trainEpochNote.toFixed(0)} ms outside the epoch loop). Counting the cache build into a first epoch: ${firstEpoch.toFixed(0)} img/s. Winnow's addon keeps freed CPU blocks of ≥ 256 KiB for reuse (its caching allocator, native/src/cpu_cache.cc; ${torch.cpuCache.stats().enabled ? "on" : "off: WINNOW_CPU_CACHE_MB=0"} in this run); each \`train()\` call empties it when it ends, so every measured epoch starts cold.
- PyTorch: each epoch a fresh DataLoader iterator (Lightly's default: persistent_workers off, so worker start-up is in every epoch), shuffle, drop_last. CPU time includes the DataLoader workers.
- img/s = images per epoch (each image yields two views) / wall time; medians over ${ROUNDS} rounds. Embedding: Winnow \`embedImages\` (cache ${CACHE_SIDE} px → ${SIZE} px antialiased resize, backbone, .f32 output, no CSV) vs DataLoader (PIL open, Resize((${SIZE}, ${SIZE})), ToTensor, Normalize) + backbone, eval, no_grad.

${table}

Where Winnow's training step goes (data path measured alone over an epoch, per stage; model step alone):

${profLines}

PyTorch inside its training epoch: ${WORKERS.map(pyTrain).join("; ")}.

Raw values: ${rawLines}.
`);
}
cache.close();
