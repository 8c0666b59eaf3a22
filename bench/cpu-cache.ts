import "./quality-env.js";
// The addon's caching CPU allocator (native/src/cpu_cache.cc), on and off: Winnow's SimCLR training
// step (the trainer's layout: channels_last weights, NCHW views; fixed random views) in fresh child
// processes with WINNOW_CPU_CACHE_MB unset (cache on, the default) and =0 (libtorch's allocator).
// Per step: wall time and minor page faults; per process: peak RSS. The variable is read once, when
// the addon loads, hence one process per setting; on/off alternate so both see the same load.
//
//   npx tsx bench/cpu-cache.ts [--sizes 32,64] [--steps 6] [--rounds 2] [--width 0.25] [--batch 128] [--threads 2] [--no-write]
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { appendSection, arg, argStr, flag, loadavg, machineLine, median, shellArgs, today } from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const SIZES = argStr("sizes", "32,64").split(",").map(Number);
const STEPS = arg("steps", 6);
const ROUNDS = arg("rounds", 2);
const WIDTH = arg("width", 0.25);
const BATCH = arg("batch", 128);
const THREADS = arg("threads", 2);

interface ChildResult {
  ms: number[];
  faults: number[];
  maxRssMB: number;
  cache: { enabled: boolean; cachedBytes: number; hits: number; misses: number };
}

async function child(size: number): Promise<void> {
  const torch = await import("../src/torch/index.js");
  const { buildModel } = await import("../src/models/index.js");
  const { SGD } = await import("../src/nn/index.js");
  const { ntXentLoss } = await import("../src/ssl/index.js");
  torch.setNumThreads(THREADS);
  torch.manualSeed(1);
  const m = buildModel({ name: "resnet-18", width: WIDTH, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: false }).to({ memoryFormat: "channels_last" });
  const opt = new SGD(m.parameters(), { lr: 1, weightDecay: 1e-5, momentum: 0 });
  const views = [torch.keep(torch.randn([BATCH, 3, size, size])), torch.keep(torch.randn([BATCH, 3, size, size]))] as const;
  const out: ChildResult = { ms: [], faults: [], maxRssMB: 0, cache: torch.cpuCache.stats() };
  for (let i = 0; i <= STEPS; i++) {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    torch.scope(() => {
      const loss = ntXentLoss(m.forward(views[0]), m.forward(views[1]), 0.5);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    });
    opt.zeroGrad();
    if (i === 0) continue; // warm-up: oneDNN primitives, first allocations
    out.ms.push(performance.now() - t0);
    out.faults.push(process.resourceUsage().minorPageFault - f0);
  }
  out.maxRssMB = process.resourceUsage().maxRSS / 1024;
  out.cache = torch.cpuCache.stats();
  console.log(JSON.stringify(out));
}

function run(size: number, cacheOn: boolean): ChildResult {
  const env = { ...process.env };
  if (cacheOn) delete env.WINNOW_CPU_CACHE_MB;
  else env.WINNOW_CPU_CACHE_MB = "0";
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", String(size), ...process.argv.slice(2)], { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`child (size ${size}, cache ${cacheOn ? "on" : "off"}) failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ChildResult;
}

async function main(): Promise<void> {
  const c = process.argv.indexOf("--child");
  if (c >= 0) return child(Number(process.argv[c + 1]));
  const t0 = performance.now();
  const loads = [loadavg()];
  const rows: string[] = [];
  const raw: string[] = [];
  for (const size of SIZES) {
    const res: Record<"on" | "off", ChildResult[]> = { on: [], off: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const on of round % 2 ? [false, true] : [true, false]) {
        const r = run(size, on);
        if (r.cache.enabled !== on) throw new Error(`cache expected ${on ? "on" : "off"}, the child reports ${r.cache.enabled}`);
        res[on ? "on" : "off"].push(r);
        console.log(`size ${size}, cache ${on ? "on" : "off"}: step ${median(r.ms).toFixed(0)} ms, ${median(r.faults).toFixed(0)} faults/step, peak RSS ${r.maxRssMB.toFixed(0)} MB`);
      }
    }
    loads.push(loadavg());
    const ms = (k: "on" | "off"): number => median(res[k].flatMap((r) => r.ms));
    const flt = (k: "on" | "off"): number => median(res[k].flatMap((r) => r.faults));
    const rss = (k: "on" | "off"): number => Math.max(...res[k].map((r) => r.maxRssMB));
    const held = Math.max(...res.on.map((r) => r.cache.cachedBytes)) / 2 ** 20;
    rows.push(`| ${size}×${size} | ${ms("off").toFixed(0)} ms | ${ms("on").toFixed(0)} ms | **${(ms("off") / ms("on")).toFixed(2)}×** | ${flt("off").toFixed(0)} | ${flt("on").toFixed(0)} | ${rss("off").toFixed(0)} MB | ${rss("on").toFixed(0)} MB | ${held.toFixed(0)} MiB |`);
    for (const k of ["off", "on"] as const) raw.push(`${size} px cache ${k}: steps [${res[k].map((r) => r.ms.map((v) => v.toFixed(0)).join(", ")).join(" | ")}] ms, faults [${res[k].map((r) => r.faults.join(", ")).join(" | ")}]`);
  }
  const table = [
    "| input | step, cache off | step, cache on | off / on | faults per step, off | on | peak RSS, off | on | held free at the end (on) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
  const totalS = (performance.now() - t0) / 1000;
  console.log(`\n${table}\n\n${raw.join("\n")}\ntotal ${totalS.toFixed(0)} s, load ${loads.join(" → ")}`);
  if (flag("no-write")) return;
  appendSection(`
### Caching CPU allocator on and off: Winnow's training step (${today()})

- Command: \`npx tsx bench/cpu-cache.ts${process.argv.length > 2 ? " " + shellArgs() : ""}\` (effective: sizes ${SIZES.join(", ")}, ${STEPS} timed steps after 1 warm-up per process, ${ROUNDS} processes per setting and size, alternating).
- Machine: ${machineLine()}; ${THREADS} intra-op threads; OpenMP wait: ${OMP_SETTING}. Load average ${loads.join(" → ")} (start, after each size). Total wall time ${totalS.toFixed(0)} s.
- Step: resnet-18 width ${WIDTH} SimCLR (plain head), batch ${BATCH} (two views), NT-Xent 0.5, SGD lr 1, weight decay 1e-5; channels_last weights, NCHW views (as the trainer). Cache on = \`WINNOW_CPU_CACHE_MB\` unset (default cap: a quarter of RAM); off = \`WINNOW_CPU_CACHE_MB=0\` (libtorch's allocator). Medians over all timed steps; peak RSS = the largest \`maxRSS\` of a setting's processes.

${table}

Raw: ${raw.join("; ")}.
`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
