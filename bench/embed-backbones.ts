import "./quality-env.js";
// Embedding speed of the pretrained backbones: images/s of torchvision/resnet50 and dinov2/vits14
// (224 px by default) in Winnow vs PyTorch eager (/usr/bin/python3, bench/embed_backbones_ref.py)
// with the same libtorch, threads, batch size and number of batches; eval mode, no grad, random
// normalised input (the compute does not depend on the weights). Winnow runs as embedImages does
// (weights and input channels_last); PyTorch is measured in its default layout and channels_last.
// Rounds alternate Winnow / PyTorch so both see the same load; the best round of each is reported.
//
//   npx tsx bench/embed-backbones.ts [--models torchvision/resnet50,dinov2/vits14] [--size 224]
//        [--batch 16] [--batches 4] [--rounds 2] [--threads 2] [--no-write]
// Peak RSS vs N for these backbones: bench/memory-embed.ts --model <name>.
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildPretrainedBackbone } from "../src/models/pretrained.js";
import { appendSection, arg, argStr, loadavg, machineLine, today, shellArgs } from "./quality-data.js";
import { OMP_SETTING } from "./quality-env.js";

const MODELS = argStr("models", "torchvision/resnet50,dinov2/vits14").split(",");
const SIZE = arg("size", 224);
const BATCH = arg("batch", 16);
const BATCHES = arg("batches", 4);
const ROUNDS = arg("rounds", 2);
const THREADS = arg("threads", 2);
const WRITE = !process.argv.includes("--no-write");
const HERE = path.dirname(new URL(import.meta.url).pathname);

function winnow(name: string): number {
  torch.setNumThreads(THREADS);
  torch.manualSeed(0);
  const model = buildPretrainedBackbone(name).eval();
  model.to({ memoryFormat: "channels_last" });
  const x = torch.keep(torch.randn([BATCH, 3, SIZE, SIZE]).contiguous("channels_last"));
  const step = (): void => torch.noGrad(() => torch.scope(() => void model.forward(x).data()));
  step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) step();
  const ips = (BATCH * BATCHES * 1000) / (performance.now() - t0);
  x.dispose();
  model.dispose();
  return ips;
}

function pytorch(name: string): Record<string, number> {
  const out = execFileSync("/usr/bin/python3", [
    path.join(HERE, "embed_backbones_ref.py"), "--model", name, "--threads", String(THREADS), "--batch", String(BATCH),
    "--batches", String(BATCHES), "--size", String(SIZE),
  ], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: String(THREADS) } });
  return (JSON.parse(out.trim().split("\n").pop()!) as { imagesPerSecond: Record<string, number> }).imagesPerSecond;
}

const loads = [loadavg()];
const rows: string[] = [];
for (const name of MODELS) {
  const w: number[] = [];
  const p: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    w.push(winnow(name));
    for (const [k, v] of Object.entries(pytorch(name))) (p[k] ??= []).push(v);
    console.log(`${name} round ${r + 1}: Winnow ${w[r]!.toFixed(1)} img/s, PyTorch ${Object.entries(p).map(([k, v]) => `${k} ${v[r]!.toFixed(1)}`).join(", ")} img/s, load ${loadavg()}`);
  }
  const best = Math.max(...w);
  const pBest = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Math.max(...v)]));
  const ratios = Object.entries(pBest).map(([k, v]) => `${(best / v).toFixed(2)}× (${k})`).join(", ");
  rows.push(`| ${name} | ${SIZE} px | ${best.toFixed(1)} (${w.map((v) => v.toFixed(1)).join(" / ")}) | ${Object.entries(p).map(([k, v]) => `${k}: ${Math.max(...v).toFixed(1)} (${v.map((x) => x.toFixed(1)).join(" / ")})`).join("; ")} | ${ratios} |`);
  loads.push(loadavg());
}
const table = [
  "| backbone | input | Winnow img/s: best (rounds) | PyTorch eager img/s: best (rounds) | Winnow / PyTorch |",
  "|---|---|---:|---|---|",
  ...rows,
].join("\n");
console.log(`\n${table}\nload ${loads.join(" → ")}`);
if (WRITE) {
  appendSection(`
### Pretrained backbones: embedding speed, Winnow vs PyTorch eager (${today()})

- Command: \`npx tsx bench/embed-backbones.ts${process.argv.length > 2 ? " " + shellArgs() : ""}\` (batch ${BATCH}, ${BATCHES} timed batches after one warm-up, ${ROUNDS} alternating rounds, ${THREADS} threads both sides, random weights and input).
- Machine: ${machineLine()}; PyTorch: /usr/bin/python3 (the same libtorch); OpenMP wait: ${OMP_SETTING}; load average ${loads.join(" → ")} (start, after each model; shared machine, other jobs running).

${table}
`);
}
