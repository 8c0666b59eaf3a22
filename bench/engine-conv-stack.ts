// Benchmark: a conv3x3 → batchNorm (training) → ReLU stack with ResNet-18's widths, forward and
// backward, in Winnow and in PyTorch (/usr/bin/python3, spawned by this script) on the same
// machine, the same libtorch, the same number of threads; plain (NCHW-contiguous) and
// channels_last memory formats.
//
//   npx tsx bench/engine-conv-stack.ts [--steps 8] [--warmup 1] [--batch 128] [--threads 2] [--no-write]
//
// Three runners take turns step by step, in rotating order, so that load from other processes on
// the machine hits all alike: Winnow with one torch.scope per step (the idiomatic form), Winnow
// with the same scope plus dispose() of each activation as soon as it has been used (PyTorch's
// memory lifetimes), and PyTorch. Each reports the median of its steps (wall, CPU, page faults),
// plus the per-op overhead of a 1-element add in both.
// Results go to docs/benchmarks-history.md (newest first, bench/bench-doc.ts); the current table in
// docs/benchmarks.md is updated by hand.
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execFileSync } from "node:child_process";
import * as torch from "../src/torch/index.js";
import { F, type Tensor } from "../src/torch/index.js";
import { recordRun } from "./bench-doc.js";

const PYTHON = "/usr/bin/python3";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const STEPS = arg("steps", 8);
const WARMUP = arg("warmup", 1);
const BATCH = arg("batch", 128);
const THREADS = arg("threads", 2);
const SIZE = 32;
const WRITE = !process.argv.includes("--no-write");

// (in, out, stride): ResNet-18's stages, two conv layers each, stride 2 entering stages 2-4.
const LAYERS: [number, number, number][] = [
  [3, 64, 1], [64, 64, 1],
  [64, 128, 2], [128, 128, 1],
  [128, 256, 2], [256, 256, 1],
  [256, 512, 2], [512, 512, 1],
];
type Variant = "contiguous" | "channels_last";
const VARIANTS: Variant[] = ["contiguous", "channels_last"];

// ---- Winnow ----------------------------------------------------------------------------------
interface Layer { w: Tensor; bw: Tensor; bb: Tensor; rm: Tensor; rv: Tensor; stride: number }

function buildWinnow(variant: Variant): { layers: Layer[]; x: Tensor } {
  torch.manualSeed(0);
  const cl = variant === "channels_last";
  const layers = LAYERS.map(([cin, cout, stride]) => {
    const w0 = torch.randn([cout, cin, 3, 3]).mul_(Math.sqrt(2 / (cin * 9)));
    const w = cl ? w0.contiguous("channels_last") : w0;
    if (w !== w0) w0.dispose();
    return {
      w: w.requiresGrad_(true), bw: torch.ones([cout], { requiresGrad: true }), bb: torch.zeros([cout], { requiresGrad: true }),
      rm: torch.zeros([cout]), rv: torch.ones([cout]), stride,
    };
  });
  const x0 = torch.randn([BATCH, 3, SIZE, SIZE]);
  const x = cl ? x0.contiguous("channels_last") : x0;
  if (x !== x0) x0.dispose();
  return { layers, x };
}

interface StepTime { ms: number; cpu: number; faults: number }

/**
 * One training step. "scope": the idiomatic form, every intermediate freed when the scope ends.
 * "eager": the same, plus dispose() of each activation handle as soon as the next layer has used it,
 * so that, as in PyTorch (where Python drops its references), the autograd graph alone holds the
 * activations and frees each during backward: the same memory lifetimes as PyTorch.
 */
function winnowStep(layers: Layer[], x: Tensor, mode: "scope" | "eager"): StepTime {
  const eager = mode === "eager";
  const r0 = process.resourceUsage();
  const t0 = performance.now();
  torch.scope(() => {
    let h = x;
    for (const L of layers) {
      const c = F.conv2d(h, L.w, null, L.stride, 1);
      if (eager && h !== x) h.dispose();
      const b = F.batchNorm(c, L.rm, L.rv, { weight: L.bw, bias: L.bb, training: true, momentum: 0.1, eps: 1e-5 });
      if (eager) c.dispose();
      h = F.relu(b);
      if (eager) b.dispose();
    }
    const loss = h.mean();
    if (eager) h.dispose();
    loss.backward();
  });
  for (const L of layers) {
    L.w.grad = null;
    L.bw.grad = null;
    L.bb.grad = null;
  }
  const ms = performance.now() - t0;
  const r1 = process.resourceUsage();
  const cpu = (r1.userCPUTime + r1.systemCPUTime - r0.userCPUTime - r0.systemCPUTime) / 1000;
  return { ms, cpu, faults: r1.minorPageFault - r0.minorPageFault };
}

function disposeWinnow(b: { layers: Layer[]; x: Tensor }): void {
  for (const L of b.layers) for (const t of [L.w, L.bw, L.bb, L.rm, L.rv]) t.dispose();
  b.x.dispose();
}

// ---- PyTorch (a child process answering one JSON line per command) ----------------------------
const PY_SERVER = String.raw`
import json, sys, time, math, resource
import torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
BATCH, SIZE = int(sys.argv[2]), int(sys.argv[3])
LAYERS = json.loads(sys.argv[4])
state = {}
def build(variant):
    torch.manual_seed(0)
    cl = variant == "channels_last"
    layers = []
    for cin, cout, stride in LAYERS:
        w = torch.randn(cout, cin, 3, 3).mul_(math.sqrt(2 / (cin * 9)))
        if cl: w = w.contiguous(memory_format=torch.channels_last)
        layers.append(dict(w=w.requires_grad_(), bw=torch.ones(cout, requires_grad=True), bb=torch.zeros(cout, requires_grad=True),
                           rm=torch.zeros(cout), rv=torch.ones(cout), stride=stride))
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    if cl: x = x.contiguous(memory_format=torch.channels_last)
    return layers, x
def step(layers, x):
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    h = x
    for L in layers:
        h = F.conv2d(h, L["w"], None, L["stride"], 1)
        h = F.batch_norm(h, L["rm"], L["rv"], L["bw"], L["bb"], training=True, momentum=0.1, eps=1e-5)
        h = F.relu(h)
    h.mean().backward()
    del h
    for L in layers:
        L["w"].grad = None; L["bw"].grad = None; L["bb"].grad = None
    ms = (time.perf_counter() - t0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000
    return {"ms": ms, "cpu": cpu, "faults": r1.ru_minflt - r0.ru_minflt}
print(json.dumps({"ready": True, "version": torch.__version__, "threads": torch.get_num_threads(),
                  "parallel": torch.__config__.parallel_info()}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "build":
        state["m"] = build(cmd["variant"])
        print(json.dumps({"ok": True}), flush=True)
    elif cmd["op"] == "step":
        print(json.dumps(step(*state["m"])), flush=True)
    elif cmd["op"] == "perop":
        t = torch.ones(1)
        best = float("inf")
        for rep in range(3):
            t0 = time.perf_counter()
            for i in range(20000): t.add(1)
            best = min(best, (time.perf_counter() - t0) / 20000 * 1e6)
        print(json.dumps({"us": best}), flush=True)
    elif cmd["op"] == "quit":
        break
`;

class PyTorchWorker {
  private readonly proc;
  private readonly lines: AsyncIterableIterator<string>;
  private readonly dir = mkdtempSync(join(tmpdir(), "winnow-bench-"));
  stderr = "";

  constructor() {
    const script = join(this.dir, "server.py");
    writeFileSync(script, PY_SERVER);
    this.proc = spawn(PYTHON, [script, String(THREADS), String(BATCH), String(SIZE), JSON.stringify(LAYERS)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.proc.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  async read<T>(): Promise<T> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`the PyTorch process ended:\n${this.stderr}`);
    return JSON.parse(r.value) as T;
  }

  async call<T>(cmd: object): Promise<T> {
    this.proc.stdin.write(JSON.stringify(cmd) + "\n");
    return this.read<T>();
  }

  async close(): Promise<void> {
    this.proc.stdin.write(JSON.stringify({ op: "quit" }) + "\n");
    this.proc.stdin.end();
    await new Promise((r) => this.proc.once("exit", r));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- run ------------------------------------------------------------------------------------
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function gflopPerStep(): number {
  // Multiply-adds of the convolutions ×2 flops: forward, weight gradient and input gradient
  // (none for the first layer: the input does not require grad).
  let flops = 0;
  let s = SIZE;
  LAYERS.forEach(([cin, cout, stride], i) => {
    s = Math.floor((s + 2 - 3) / stride) + 1;
    flops += 2 * BATCH * cout * s * s * cin * 9 * (i === 0 ? 2 : 3);
  });
  return flops / 1e9;
}

/** Per-op overhead: µs per `t.add(1)` on a 1-element tensor (binding + dispatch, no real work). */
function winnowPerOpMicros(): number {
  const t = torch.ones([1]);
  const N = 20000;
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    for (let i = 0; i < N / 1000; i++) torch.scope(() => { for (let j = 0; j < 1000; j++) t.add(1); });
    best = Math.min(best, ((performance.now() - t0) / N) * 1000);
  }
  t.dispose();
  return best;
}

type Runner = "winnow" | "winnow-eager" | "pytorch";
const RUNNERS: Runner[] = ["winnow", "winnow-eager", "pytorch"];

async function main(): Promise<void> {
  torch.setNumThreads(THREADS);
  const load0 = loadavg()[0];
  const py = new PyTorchWorker();
  const hello = await py.read<{ version: string; threads: number; parallel: string }>();
  const results: { variant: Variant; t: Record<Runner, StepTime[]> }[] = [];
  console.log(`conv→bn→relu stack, batch ${BATCH}, ${SIZE}×${SIZE}, ${THREADS} threads (PyTorch: ${hello.threads}); ` +
    `${WARMUP} warm-up + ${STEPS} timed steps each, engines in rotating order`);
  const f = (t: StepTime) => `${t.ms.toFixed(0).padStart(5)} ms (cpu ${t.cpu.toFixed(0).padStart(5)}, ${(t.faults / 1000).toFixed(0).padStart(3)}k flt)`;
  for (const variant of VARIANTS) {
    const w = buildWinnow(variant);
    await py.call({ op: "build", variant });
    const r = { variant, t: { winnow: [], "winnow-eager": [], pytorch: [] } as Record<Runner, StepTime[]> };
    for (let i = 0; i < WARMUP + STEPS; i++) {
      // Rotate the order, so that no runner always follows the same one.
      const order = RUNNERS.map((_, k) => RUNNERS[(k + i) % RUNNERS.length]);
      const got = {} as Record<Runner, StepTime>;
      for (const who of order) {
        got[who] = who === "pytorch" ? await py.call<StepTime>({ op: "step" }) : winnowStep(w.layers, w.x, who === "winnow" ? "scope" : "eager");
      }
      const timed = i >= WARMUP;
      if (timed) for (const who of RUNNERS) r.t[who].push(got[who]);
      console.log(`  ${variant.padEnd(13)} ${(timed ? `step ${i - WARMUP + 1}` : "warm-up").padEnd(8)} ` +
        RUNNERS.map((who) => `${who} ${f(got[who])}`).join(" | "));
    }
    disposeWinnow(w);
    results.push(r);
  }
  const perOpW = winnowPerOpMicros();
  const perOpP = (await py.call<{ us: number }>({ op: "perop" })).us;
  await py.close();
  const load1 = loadavg()[0];

  const gf = gflopPerStep();
  const m = (xs: StepTime[], k: keyof StepTime) => median(xs.map((x) => x[k]));
  const lines: string[] = [
    "| memory format | runner | wall median | wall min | **wall ratio to PyTorch** | CPU time median | CPU ratio | page faults median | GFLOP/s (median wall) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const ratios: Record<string, number> = {};
  for (const r of results) {
    const p = r.t.pytorch;
    for (const who of RUNNERS) {
      const t = r.t[who];
      const ratio = m(t, "ms") / m(p, "ms");
      ratios[`${r.variant}/${who}`] = ratio;
      lines.push(
        `| ${r.variant} | ${who === "winnow" ? "Winnow (scope)" : who === "winnow-eager" ? "Winnow (scope + eager dispose)" : "PyTorch"} | ` +
        `${m(t, "ms").toFixed(0)} ms | ${Math.min(...t.map((x) => x.ms)).toFixed(0)} ms | ${who === "pytorch" ? "1" : `**${ratio.toFixed(3)}×**`} | ` +
        `${m(t, "cpu").toFixed(0)} ms | ${(m(t, "cpu") / m(p, "cpu")).toFixed(3)}× | ${(m(t, "faults") / 1000).toFixed(0)}k | ${(gf / (m(t, "ms") / 1000)).toFixed(0)} |`,
      );
    }
  }
  const table = lines.join("\n");
  console.log("\n" + table + "\n");
  console.log(`per-op overhead (t.add(1), 1 element): Winnow ${perOpW.toFixed(2)} µs, PyTorch ${perOpP.toFixed(2)} µs`);
  console.log(`load average (1 min) before / after: ${load0.toFixed(1)} / ${load1.toFixed(1)}`);
  const fk = (v: Variant, who: Runner) => `${(m(results.find((r) => r.variant === v)!.t[who], "faults") / 1000).toFixed(0)}k`;

  const model = (() => {
    try {
      const mm = execFileSync("lscpu", { encoding: "utf8" }).match(/Model name:\s*(.+)/);
      if (mm) return mm[1].trim();
    } catch { /* no lscpu */ }
    return cpus()[0]?.model ?? "unknown";
  })();
  const info = torch.buildInfo();
  const section = [
    `## Engine: conv→bn→relu stack (${new Date().toISOString().slice(0, 10)})`,
    "",
    "Forward + backward of eight conv3x3 (no bias) → batchNorm (training, running stats) → ReLU layers with",
    "ResNet-18's widths (3→64, 64→64 | 64→128 s2, 128→128 | 128→256 s2, 256→256 | 256→512 s2, 512→512),",
    `batch ${BATCH}, ${SIZE}×${SIZE} input, loss = mean of the output; gradients cleared (\`grad = null\`) after each step.`,
    "Winnow and PyTorch run the same libtorch build (Debian's 1.13: oneDNN convolutions, OpenBLAS, OpenMP) with the",
    "same thread count. The runners take turns step by step (in rotating order) so that other load on the machine",
    "hits all alike. \"Winnow (scope)\" is the idiomatic step (one `torch.scope` per step); \"scope + eager dispose\"",
    "also disposes each activation handle once the next layer has used it, giving the same memory lifetimes as",
    "PyTorch (see the notes below).",
    "",
    `- machine: ${model}, ${cpus().length} cores (shared: 1-min load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after the run)`,
    `- threads: ${THREADS} (Winnow \`torch.setNumThreads(${THREADS})\`, PyTorch \`torch.set_num_threads(${THREADS})\`, reported ${hello.threads})`,
    `- libtorch (Winnow): ${info.torchVersion}; PyTorch: ${hello.version} (${PYTHON}); Node ${process.version}`,
    `- command: \`npx tsx bench/engine-conv-stack.ts --steps ${STEPS} --warmup ${WARMUP} --batch ${BATCH} --threads ${THREADS}\``,
    `- date: ${new Date().toISOString().slice(0, 10)}`,
    `- ${WARMUP} warm-up step(s), then the median of ${STEPS} timed steps per runner; ~${gf.toFixed(0)} GFLOP of convolution per step`,
    "",
    table,
    "",
    `Goal: winnow / pytorch ≤ 1.05×. Ratios (median wall): ${Object.entries(ratios).filter(([k]) => !k.endsWith("pytorch"))
      .map(([k, v]) => `${k} ${v.toFixed(3)}×`).join(", ")}.`,
    "",
    "Notes (profile):",
    "",
    `- Per-op overhead is not a factor: a 1-element \`t.add(1)\` costs ${perOpW.toFixed(1)} µs in Winnow (N-API call,`,
    `  handle, scope bookkeeping) and ${perOpP.toFixed(1)} µs in PyTorch; a step here is ~30 ops of milliseconds each.`,
    "- No extra copies: each Winnow call is one ATen call on the same tensors as PyTorch's (same dispatch,",
    "  same oneDNN kernels, outputs bit-identical: test/engine-ops.test.ts), and channels_last stays",
    "  channels_last through conv, batchNorm and ReLU in both.",
    `- Threads: \`at::get_num_threads()\` is ${torch.getNumThreads()} in Winnow and ${hello.threads} in PyTorch (OpenMP backend in both).`,
    "- Memory lifetime differs with the scope idiom. Inside a `torch.scope` every activation's handle lives",
    "  until the scope ends, so all of the step's activations are still allocated when backward ends; in PyTorch",
    "  they are freed during backward as Python's references go, and backward's gradient buffers reuse their",
    "  memory. \"scope + eager dispose\" gives Winnow PyTorch's lifetimes. Median page faults per step:",
    `  ${fk("contiguous", "winnow")} (scope) / ${fk("contiguous", "winnow-eager")} (eager) / ${fk("contiguous", "pytorch")} (PyTorch) for contiguous,` +
      ` ${fk("channels_last", "winnow")} / ${fk("channels_last", "winnow-eager")} / ${fk("channels_last", "pytorch")} for channels_last.`,
    "  The counts also move from run to run with glibc's adaptive mmap threshold (PyTorch's own contiguous",
    "  median ranged from 152k to 209k over five runs of this bench on this machine).",
    "- Both engines spend a large share of each step in page faults: glibc returns big freed blocks to the",
    "  kernel (the stage-1 activations, 33.5 MB each at batch 128, are above its 32 MB mmap limit), and the next",
    "  step faults them in again, zero-filled. Running either process with `MALLOC_MMAP_MAX_=0` (heap only,",
    "  memory kept for reuse) took faults per step from ~150-200k to ~0 and system time from ~0.3 s to ~0",
    "  in both (measured while profiling; not applied here: it changes the whole process's memory policy).",
    "- The machine is a shared 2-core VM; other jobs ran during the measurement (load average above), so",
    "  single steps vary by 2×. The runners alternate step by step, and medians are compared; CPU time and",
    "  page faults are less sensitive to the load than wall time.",
    "",
  ].join("\n");
  if (WRITE) console.log(`recorded in ${recordRun(section)}`);
}

await main();
