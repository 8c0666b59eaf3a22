// SimCLR training step, Winnow vs PyTorch, same machine, same threads, interleaved step by step
// (so that load from other processes hits both alike):
//   resnet-18 (lightly's ResNetGenerator, width 1) + the docs' SimCLR model (num_ftrs 32, out_dim 128,
//   head with BatchNorm), 32x32 inputs, batch 128 → two views = 256 images through the model,
//   NT-Xent (temperature 0.5), SGD (momentum 0.9, weight decay 5e-4). NCHW and channels_last.
// Then: save + load of a resnet-50 (width 1) checkpoint, Winnow (saveCheckpoint/loadCheckpointInto)
// vs torch.save/torch.load + load_state_dict.
// PyTorch is /usr/bin/python3 (Debian python3-torch) running test/helpers/py/lightly_like.py, a
// plain-PyTorch copy of the architecture. Records a section in docs/benchmarks-history.md.
//
//   npx tsx bench/simclr-step.ts [--steps N] [--warmup N] [--threads N] [--no-write]
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir, cpus, totalmem, loadavg } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import * as M from "../src/models/index.js";
import { ntXentLoss } from "../src/ssl/index.js";
import { recordRun } from "./bench-doc.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const STEPS = arg("steps", 3);
const WARMUP = arg("warmup", 1);
const THREADS = arg("threads", 2);
const CKPT_REPS = arg("ckpt-reps", 3);
const BATCH = arg("batch", 128);
const SIZE = 32;
const WIDTH = arg("width", 1);
const ONLY = process.argv.includes("--only-cl") ? [true] : process.argv.includes("--only-nchw") ? [false] : [false, true];
const SKIP_CKPT = process.argv.includes("--no-ckpt");
/** Pause before each step so that the other process's idle threads (OpenMP / OpenBLAS spin-waits) settle. */
const GAP_MS = arg("gap-ms", 500);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const WRITE = !process.argv.includes("--no-write");

torch.setNumThreads(THREADS);

// ---- the PyTorch side: a child process answering one JSON command per line ----------------------
const PY = String.raw`
import json, sys, time, os
import torch
sys.path.insert(0, os.path.join(sys.argv[1], "test", "helpers", "py"))
from lightly_like import SimCLRModel, nt_xent
torch.set_num_threads(int(sys.argv[2]))
state = {}
def reply(**kw):
    sys.stdout.write(json.dumps(kw) + "\n"); sys.stdout.flush()
reply(ready=True, torch=torch.__version__, threads=torch.get_num_threads())
for line in sys.stdin:
    c = json.loads(line)
    op = c["op"]
    if op == "setup":
        torch.manual_seed(0)
        m = SimCLRModel("resnet-18", c["width"], 32, 128, True)
        x0 = torch.randn(c["batch"], 3, c["size"], c["size"]); x1 = torch.randn(c["batch"], 3, c["size"], c["size"])
        if c["cl"]:
            m = m.to(memory_format=torch.channels_last)
            x0 = x0.contiguous(memory_format=torch.channels_last); x1 = x1.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
        state = dict(m=m, x0=x0, x1=x1, opt=opt)
        reply(ok=True)
    elif op == "step":
        s = state
        t = time.perf_counter(); c0 = time.process_time()
        loss = nt_xent(s["m"](s["x0"]), s["m"](s["x1"]), 0.5)
        s["opt"].zero_grad(set_to_none=True)
        loss.backward()
        s["opt"].step()
        reply(ms=(time.perf_counter() - t) * 1e3, cpu=(time.process_time() - c0) * 1e3, loss=loss.item())
    elif op == "ckpt_setup":
        state = dict(m=SimCLRModel("resnet-50", 1.0, 32, 128, True), m2=SimCLRModel("resnet-50", 1.0, 32, 128, True))
        reply(ok=True, params=sum(p.numel() for p in state["m"].parameters()))
    elif op == "save":
        t = time.perf_counter()
        torch.save({"state_dict": state["m"].state_dict(prefix="model.")}, c["path"])
        reply(ms=(time.perf_counter() - t) * 1e3)
    elif op == "load":
        t = time.perf_counter()
        sd = torch.load(c["path"], weights_only=True)["state_dict"]
        state["m2"].load_state_dict({k[len("model."):]: v for k, v in sd.items()})
        reply(ms=(time.perf_counter() - t) * 1e3)
    elif op == "quit":
        break
`;

class PyWorker {
  private readonly lines: AsyncIterator<string>;
  private readonly proc;
  constructor() {
    this.proc = spawn("/usr/bin/python3", ["-c", PY, root, String(THREADS)], { stdio: ["pipe", "pipe", "inherit"] });
    this.lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error("python exited");
    return JSON.parse(r.value) as Record<string, unknown>;
  }
  async call(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(JSON.stringify(cmd) + "\n");
    return this.next();
  }
  quit(): void {
    this.proc.stdin!.write(JSON.stringify({ op: "quit" }) + "\n");
    this.proc.stdin!.end();
  }
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

// ---- Winnow side ----------------------------------------------------------------------------------
function winnowSetup(cl: boolean): { model: M.SimCLR; opt: nn.SGD; x0: torch.Tensor; x1: torch.Tensor } {
  torch.manualSeed(0);
  const model = M.buildModel({ name: "resnet-18", width: WIDTH, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true }) as M.SimCLR;
  if (cl) model.to({ memoryFormat: "channels_last" });
  const [x0, x1] = torch.scope(() => {
    const a = torch.randn([BATCH, 3, SIZE, SIZE]);
    const b = torch.randn([BATCH, 3, SIZE, SIZE]);
    return cl ? [a.contiguous("channels_last"), b.contiguous("channels_last")] : [a, b];
  });
  const opt = new nn.SGD(model.parameters(), { lr: 0.06, momentum: 0.9, weightDecay: 5e-4 });
  return { model, opt, x0: torch.keep(x0), x1: torch.keep(x1) };
}

function winnowStep(s: ReturnType<typeof winnowSetup>): { ms: number; cpu: number; loss: number } {
  const t = performance.now();
  const c0 = process.cpuUsage();
  const loss = torch.scope(() => {
    const l = ntXentLoss(s.model.forward(s.x0), s.model.forward(s.x1), 0.5);
    s.opt.zeroGrad();
    l.backward();
    s.opt.step();
    return l.item();
  });
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t, cpu: (c.user + c.system) / 1000, loss };
}

/** Save/load of a resnet-50 (width 1) checkpoint, Winnow vs torch.save/torch.load, interleaved. */
async function checkpointBench(py: PyWorker): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "winnow-bench-"));
  const ck = await py.call({ op: "ckpt_setup" });
  const r50 = M.buildModel({ name: "resnet-50", width: 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true });
  const r50b = M.buildModel({ name: "resnet-50", width: 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true });
  const ws: number[] = [];
  const wl: number[] = [];
  const ps: number[] = [];
  const pl: number[] = [];
  const wPath = join(dir, "winnow.ckpt");
  const pPath = join(dir, "torch.ckpt");
  for (let i = 0; i < CKPT_REPS; i++) {
    let t = performance.now();
    M.saveCheckpoint(r50, wPath);
    ws.push(performance.now() - t);
    ps.push((await py.call({ op: "save", path: pPath })).ms as number);
    t = performance.now();
    M.loadCheckpointInto(r50b, wPath);
    wl.push(performance.now() - t);
    pl.push((await py.call({ op: "load", path: pPath })).ms as number);
  }
  const sizes = { winnow: statSync(wPath).size, torch: statSync(pPath).size };
  // Cross-check once: each side reads the other's file.
  M.loadCheckpointInto(r50b, pPath);
  await py.call({ op: "load", path: wPath });
  r50.dispose();
  r50b.dispose();
  rmSync(dir, { recursive: true, force: true });
  const lines: string[] = [];
  lines.push("");
  lines.push(`resnet-50 width 1 checkpoint (${ck.params} parameters; Winnow file ${(sizes.winnow / 1e6).toFixed(1)} MB, torch.save file ${(sizes.torch / 1e6).toFixed(1)} MB), median of ${CKPT_REPS}:`);
  lines.push("");
  lines.push("| | Winnow | PyTorch | ratio |");
  lines.push("|---|---|---|---|");
  lines.push(`| save (Winnow: saveCheckpoint, atomic write + fsync; PyTorch: torch.save of state_dict(prefix="model.")) | ${fmt(median(ws))} | ${fmt(median(ps))} | ${(median(ws) / median(ps)).toFixed(2)}× |`);
  lines.push(`| load (Winnow: loadCheckpointInto, strict; PyTorch: torch.load(weights_only=True) + load_state_dict) | ${fmt(median(wl))} | ${fmt(median(pl))} | ${(median(wl) / median(pl)).toFixed(2)}× |`);
  return lines;
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const py = new PyWorker();
  const hello = await py.next();
  console.log(`Winnow (libtorch ${torch.buildInfo().torchVersion}) vs PyTorch ${hello.torch}, ${THREADS} threads each, ${cpus().length} CPUs (${cpus()[0]?.model}), load avg ${load0.map((v) => v.toFixed(2)).join(" ")}`);
  console.log(`SimCLR step: resnet-18 w${WIDTH}, ${SIZE}x${SIZE}, batch ${BATCH} (2 views → ${2 * BATCH} images), SGD; ${WARMUP} warm-up + ${STEPS} timed steps, interleaved`);

  const rows: { format: string; winnow: number[]; torch: number[]; winnowCpu: number[]; torchCpu: number[] }[] = [];
  for (const cl of ONLY) {
    const format = cl ? "channels_last" : "NCHW";
    const w = winnowSetup(cl);
    await py.call({ op: "setup", cl, batch: BATCH, size: SIZE, width: WIDTH });
    const wt: number[] = [];
    const pt: number[] = [];
    const wc: number[] = [];
    const pc: number[] = [];
    for (let i = 0; i < WARMUP + STEPS; i++) {
      // alternate who goes first, so neither always runs right after the other's allocations
      const order = i % 2 === 0 ? ["w", "p"] : ["p", "w"];
      for (const who of order) {
        await sleep(GAP_MS);
        if (who === "w") {
          const r = winnowStep(w);
          if (i >= WARMUP) {
            wt.push(r.ms);
            wc.push(r.cpu);
          }
          console.log(`  ${format} step ${i}${i < WARMUP ? " (warm-up)" : ""} winnow  ${fmt(r.ms)} (cpu ${fmt(r.cpu)}) loss ${r.loss.toFixed(4)}`);
        } else {
          const r = (await py.call({ op: "step" })) as { ms: number; cpu: number; loss: number };
          if (i >= WARMUP) {
            pt.push(r.ms);
            pc.push(r.cpu);
          }
          console.log(`  ${format} step ${i}${i < WARMUP ? " (warm-up)" : ""} pytorch ${fmt(r.ms)} (cpu ${fmt(r.cpu)}) loss ${r.loss.toFixed(4)}`);
        }
      }
    }
    rows.push({ format, winnow: wt, torch: pt, winnowCpu: wc, torchCpu: pc });
    w.opt.dispose();
    w.model.dispose();
    w.x0.dispose();
    w.x1.dispose();
  }

  // ---- checkpoint save/load, resnet-50 width 1 ----
  const ckptLines = SKIP_CKPT ? [] : await checkpointBench(py);
  py.quit();
  const load1 = loadavg();

  // ---- report ----
  const lines: string[] = [];
  lines.push("| layout | Winnow median step | PyTorch median step | Winnow img/s | PyTorch img/s | **wall ratio** (medians, Winnow/PyTorch) | wall ratio, fastest steps | CPU time median Winnow / PyTorch | CPU ratio |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const w = median(r.winnow);
    const p = median(r.torch);
    lines.push(`| ${r.format} | ${fmt(w)} | ${fmt(p)} | ${((2 * BATCH * 1000) / w).toFixed(1)} | ${((2 * BATCH * 1000) / p).toFixed(1)} | **${(w / p).toFixed(3)}×** | ${(Math.min(...r.winnow) / Math.min(...r.torch)).toFixed(3)}× | ${fmt(median(r.winnowCpu))} / ${fmt(median(r.torchCpu))} | ${(median(r.winnowCpu) / median(r.torchCpu)).toFixed(3)}× |`);
  }
  lines.push(...ckptLines);
  const table = lines.join("\n");
  console.log("\n" + table);

  const list = (v: number[]): string => `[${v.map((x) => x.toFixed(0)).join(", ")}]`;
  const raw = rows.map((r) => `${r.format}: winnow ${list(r.winnow)} ms (CPU ${list(r.winnowCpu)}), pytorch ${list(r.torch)} ms (CPU ${list(r.torchCpu)})`).join("; ");
  const section = [
    "",
    `## SimCLR training step and checkpoint I/O, Winnow vs PyTorch (${new Date().toISOString().slice(0, 10)})`,
    "",
    `- Command: \`${["npx tsx bench/simclr-step.ts", ...process.argv.slice(2)].join(" ")}\` (defaults: --steps 3 --warmup 1 --threads 2 --batch 128 --width 1 --gap-ms 500); effective: ${WARMUP} warm-up + ${STEPS} timed steps, ${THREADS} threads, batch ${BATCH}, width ${WIDTH}.`,
    `- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; Winnow on libtorch ${torch.buildInfo().torchVersion} (Debian), PyTorch ${hello.torch} (Debian python3-torch, /usr/bin/python3), ${THREADS} intra-op threads each (torch says ${hello.threads}).`,
    `- Load average at start ${load0.map((v) => v.toFixed(2)).join("/")}, at end ${load1.map((v) => v.toFixed(2)).join("/")} (other processes share this machine; Winnow and PyTorch steps are interleaved so both see the same load, with a ${GAP_MS} ms pause before each step so that the other process's spinning idle threads settle).`,
    `- Step: resnet-18 (lightly ResNetGenerator, width ${WIDTH}) in the docs' SimCLR model (input BN, 1x1 conv to 32, head Linear/BN1d/ReLU/Linear/BN1d to 128), ${SIZE}x${SIZE}, batch ${BATCH} (two views → ${2 * BATCH} images forward+backward), NT-Xent temperature 0.5, SGD momentum 0.9, weight decay 5e-4; data pre-generated (no augmentation). ${WARMUP} warm-up + ${STEPS} timed steps per side and layout. PyTorch side: a plain-PyTorch copy of the architecture (test/helpers/py/lightly_like.py).`,
    "",
    table,
    "",
    `Raw step times: ${raw}.`,
    "",
  ].join("\n");
  if (WRITE) console.log(`\nrecorded in ${recordRun(section)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
