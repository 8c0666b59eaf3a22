// Benchmark: how libgomp's idle threads wait between parallel regions, and what it costs Winnow's
// training step (src/torch/omp-env.ts picks the default from these numbers).
//
// Each setting runs in a fresh child process (libgomp reads the variables once, at load):
//   data path   simclrViews of 128 random uint8 images 36 px → 2 views 32 px, lightly's collate
//               defaults (many small tensor ops: where the wait policy shows most)
//   model step  resnet-18 width 0.25 SimCLR, channels_last, fixed random views: forward ×2,
//               NT-Xent, backward, SGD (what train() does after the data path)
// Settings alternate within each round; medians over rounds. --hog repeats everything with a
// busy-looping process alongside (another job holding a core, as on a shared machine).
//
//   npx tsx bench/omp-wait.ts [--rounds 3] [--steps 30] [--model-steps 6] [--threads 2] [--hog] [--no-write]
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as os from "node:os";
import * as torch from "../src/torch/index.js";
import { simclrViews } from "../src/transforms/index.js";
import { buildModel } from "../src/models/index.js";
import { SGD } from "../src/nn/index.js";
import { ntXentLoss } from "../src/ssl/index.js";
import { arg, flag, median, loadavg, machineLine, today, appendSection, shellArgs } from "./quality-data.js";

// The children get their OpenMP variables from the parent at spawn (runChild), before anything loads.
const STEPS = arg("steps", 30);
const MODEL_STEPS = arg("model-steps", 6);
const THREADS = arg("threads", 2);

if (flag("child")) {
  torch.setNumThreads(THREADS);
  torch.manualSeed(1);
  const images = torch.keep(torch.rand([128, 3, 36, 36]).mul(255).to("uint8"));
  const data: number[] = [];
  for (let s = 0; s < STEPS + 3; s++) {
    const t0 = performance.now();
    torch.scope(() => simclrViews(images, { input_size: 32 }));
    if (s >= 3) data.push(performance.now() - t0);
  }
  const model = buildModel({ name: "resnet-18", width: 0.25, numFtrs: 32, outDim: 128 });
  model.to({ device: "cpu", memoryFormat: "channels_last" });
  model.train();
  const opt = new SGD(model.parameters(), { lr: 1, weightDecay: 1e-5 });
  const v0 = torch.keep(torch.randn([128, 3, 32, 32]).contiguous("channels_last"));
  const v1 = torch.keep(torch.randn([128, 3, 32, 32]).contiguous("channels_last"));
  const step: number[] = [];
  for (let s = 0; s < MODEL_STEPS + 2; s++) {
    const t0 = performance.now();
    torch.scope(() => {
      const l = ntXentLoss(model.forward(v0), model.forward(v1), 0.5);
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l.item();
    });
    opt.zeroGrad();
    if (s >= 2) step.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ data: median(data), model: median(step), env: { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY, GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT } }));
  process.exit(0);
}

const ROUNDS = arg("rounds", 3);
const HOG = flag("hog");
const WRITE = !flag("no-write");
const SETTINGS: Array<[string, NodeJS.ProcessEnv]> = [
  ["OMP_WAIT_POLICY=PASSIVE (sleep at once)", { OMP_WAIT_POLICY: "PASSIVE" }],
  ["GOMP_SPINCOUNT=300", { GOMP_SPINCOUNT: "300" }],
  ["GOMP_SPINCOUNT=1000 (Winnow's default: nothing set)", {}],
  ["GOMP_SPINCOUNT=3000", { GOMP_SPINCOUNT: "3000" }],
  ["GOMP_SPINCOUNT=300000 (libgomp's own default)", { GOMP_SPINCOUNT: "300000" }],
];
const self = fileURLToPath(import.meta.url);

function runChild(extra: NodeJS.ProcessEnv): { data: number; model: number } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OMP_WAIT_POLICY;
  delete env.GOMP_SPINCOUNT;
  Object.assign(env, extra);
  const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", "--steps", String(STEPS), "--model-steps", String(MODEL_STEPS), "--threads", String(THREADS)], {
    env, encoding: "utf8", timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { data: number; model: number };
}

const tStart = performance.now();
const loads: string[] = [loadavg()];
type Cell = { data: number[]; model: number[] };
const results: Record<string, Cell> = {};
for (const withHog of HOG ? [false, true] : [false]) {
  const hog = withHog ? spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }) : null;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < SETTINGS.length; k++) {
        const [name, env] = SETTINGS[(k + round) % SETTINGS.length]!;
        const key = `${withHog ? "hog" : "idle"}|${name}`;
        const r = runChild(env);
        (results[key] ??= { data: [], model: [] }).data.push(r.data);
        results[key]!.model.push(r.model);
        console.log(`${withHog ? "with a hog" : "idle"} round ${round + 1}: ${name}: data ${r.data.toFixed(1)} ms, model step ${r.model.toFixed(0)} ms`);
      }
      loads.push(loadavg());
    }
  } finally {
    hog?.kill();
  }
}
const totalS = (performance.now() - tStart) / 1000;

const cols = HOG ? ["idle", "hog"] : ["idle"];
const head = `| setting | ${cols.map((c) => (c === "idle" ? "data path ms/step | model step ms | **sum**" : "with a CPU hog: data path | model step | **sum**")).join(" | ")} |`;
const rule = `|---|${cols.map(() => "---:|---:|---:|").join("")}`;
const rows = SETTINGS.map(([name]) => {
  const cells = cols.map((c) => {
    const r = results[`${c}|${name}`]!;
    const d = median(r.data);
    const m = median(r.model);
    return `${d.toFixed(1)} | ${m.toFixed(0)} | **${(d + m).toFixed(0)}**`;
  });
  return `| ${name} | ${cells.join(" | ")} |`;
});
const raw = Object.entries(results).map(([k, r]) => `${k}: data [${r.data.map((x) => x.toFixed(1)).join(", ")}], model [${r.model.map((x) => x.toFixed(0)).join(", ")}]`).join("; ");
const table = [head, rule, ...rows].join("\n");
console.log(`\n${table}\n\n${raw}\ntotal ${totalS.toFixed(0)} s, load ${loads.join(" → ")}`);

if (WRITE) {
  const cmd = `npx tsx bench/omp-wait.ts${process.argv.length > 2 ? " " + shellArgs() : ""}`;
  appendSection(`
### OpenMP wait policy: data path and model step per setting (${today()})

- Command: \`${cmd}\` (effective: ${ROUNDS} rounds, ${STEPS} data-path steps and ${MODEL_STEPS} model steps per child, ${THREADS} intra-op threads${HOG ? "; then the same with a busy-looping process alongside" : ""}).
- Machine: ${machineLine()}; ${os.cpus().length} cores; load average ${loads.join(" → ")} (start, after each round; the machine is shared with other jobs). Total wall time ${totalS.toFixed(0)} s.
- Each setting in a fresh process (libgomp reads it once). Data path: simclrViews of 128 random uint8 images 36 px → 2 views of 32 px with lightly's collate defaults. Model step: resnet-18 width 0.25 SimCLR, channels_last, fixed random views, forward ×2, NT-Xent, backward, SGD. Medians over rounds of each child's median.

${table}

Raw: ${raw}.
`);
}
