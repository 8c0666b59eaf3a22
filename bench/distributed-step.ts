// Data-parallel SimCLR step time, 2 Gloo ranks on loopback: Winnow's trainer step (trainingStep with
// the DataParallelCallback's gradient averaging and stop agreement, NT-Xent with negatives gathered
// from both ranks) vs PyTorch's DistributedDataParallel (/usr/bin/python3, broadcast_buffers=False,
// lightly's gathered NT-Xent), same model, batch per rank and 1 intra-op thread per rank. Views are
// fixed random tensors (augmentation is not timed). A barrier precedes every timed step; rounds
// alternate so that other load hits both alike. Winnow's communication share: the time inside the
// gradient allreduce, the gather's forward and the stop flag (the gather's backward allreduce runs
// inside backward and is not separated; it moves 2·batch·out_dim floats).
//   npx tsx bench/distributed-step.ts [--steps 10] [--warmup 3] [--rounds 2] [--batch 32] [--width 0.5] [--no-write]
// Records the run in docs/benchmarks-history.md (bench-doc.ts) unless --no-write.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { recordRun } from "./bench-doc.js";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const here = dirname(fileURLToPath(import.meta.url));
const SPEC = {
  name: "resnet-18", width: arg("width", 0.5), numFtrs: 32, outDim: 128, size: 32, batch: arg("batch", 32),
  steps: arg("steps", 10), warmup: arg("warmup", 3), lr: 0.1, temperature: 0.5,
};
const ROUNDS = arg("rounds", 2);
type Spec = typeof SPEC;

async function rank(spec: Spec): Promise<void> {
  const torch = await import("../src/torch/index.js");
  const { buildModel } = await import("../src/models/index.js");
  const { SGD } = await import("../src/nn/index.js");
  const { initProcessGroup, broadcastModule } = await import("../src/distributed/index.js");
  const { trainingStep } = await import("../src/ssl/training-step.js");
  const { DataParallelCallback } = await import("../src/ssl/callbacks/data-parallel.js");
  torch.setNumThreads(1);
  const pg = initProcessGroup({ backend: "gloo", timeoutMs: 600_000 });
  torch.manualSeed(1);
  const model = buildModel({ name: spec.name, width: spec.width, numFtrs: spec.numFtrs, outDim: spec.outDim, projectionHeadBatchNorm: true }) as import("../src/models/index.js").SimCLR;
  model.to({ memoryFormat: "channels_last" });
  model.train();
  broadcastModule(pg, model);
  const opt = new SGD(model.parameters(), { lr: spec.lr, momentum: 0.9, weightDecay: 5e-4 });
  const dp = new DataParallelCallback(pg);
  const state = { model } as unknown as import("../src/ssl/loop-state.js").TrainLoopState;
  let comm = 0;
  const timed = <T>(f: () => T): T => {
    const a = performance.now();
    try {
      return f();
    } finally {
      comm += performance.now() - a;
    }
  };
  const negatives = { rank: pg.rank, worldSize: pg.worldSize, gatherWithGrad: (t: import("../src/torch/index.js").Tensor) => timed(() => pg.gatherWithGrad(t)) };
  const times: number[] = [];
  const comms: number[] = [];
  torch.manualSeed(100 + pg.rank);
  for (let i = 0; i < spec.warmup + spec.steps; i++) {
    const v0 = torch.randn([spec.batch, 3, spec.size, spec.size]);
    const v1 = torch.randn([spec.batch, 3, spec.size, spec.size]);
    pg.barrier();
    comm = 0;
    const t0 = performance.now();
    trainingStep(model, opt, v0, v1, { precision: "32", temperature: spec.temperature, negatives, beforeOptimizerStep: () => timed(() => dp.onBeforeOptimizerStep(state)) });
    timed(() => dp.agreeStop(false));
    if (i >= spec.warmup) (times.push(performance.now() - t0), comms.push(comm));
  }
  if (pg.rank === 0) console.log(JSON.stringify({ times, comms }));
  opt.dispose();
  model.dispose();
  pg.destroy();
}

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

async function pair(cmd: string, args: string[]): Promise<{ times: number[]; comms?: number[] }> {
  const port = await freePort();
  const runs = [0, 1].map((r) =>
    new Promise<string>((res, rej) => {
      const env = { ...process.env, WORLD_SIZE: "2", RANK: String(r), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), GLOO_SOCKET_IFNAME: "lo", OMP_NUM_THREADS: "1" };
      const c = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      c.stdout.on("data", (d) => (out += d));
      c.on("exit", (code) => (code === 0 ? res(out) : rej(new Error(`${cmd} rank ${r} exited ${code}`))));
    }),
  );
  return JSON.parse((await Promise.all(runs))[0]);
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const loadBefore = loadavg()[0].toFixed(1);
  const w = { times: [] as number[], comms: [] as number[] };
  const p = { times: [] as number[] };
  const spec = JSON.stringify(SPEC);
  for (let round = 0; round < ROUNDS; round++) {
    for (const who of round % 2 === 0 ? ["winnow", "pytorch"] : ["pytorch", "winnow"]) {
      if (who === "winnow") {
        const r = await pair(process.execPath, ["--import", "tsx", join(here, "distributed-step.ts"), "rank", spec]);
        w.times.push(...r.times);
        w.comms.push(...r.comms!);
      } else {
        p.times.push(...(await pair("/usr/bin/python3", [join(here, "distributed_step_ref.py"), spec])).times);
      }
    }
  }
  const share = median(w.comms.map((c, i) => c / w.times[i]!));
  const md = [
    `### Distributed: SimCLR step on 2 Gloo ranks, Winnow vs PyTorch DDP (${new Date().toISOString().slice(0, 10)})`, "",
    `- Command: \`npx tsx bench/distributed-step.ts --steps ${SPEC.steps} --warmup ${SPEC.warmup} --rounds ${ROUNDS} --batch ${SPEC.batch} --width ${SPEC.width}\``,
    `- ${SPEC.name} width ${SPEC.width}, num_ftrs ${SPEC.numFtrs}, out_dim ${SPEC.outDim}, head with BatchNorm, ${SPEC.size}² views, batch ${SPEC.batch} per rank, channels_last, gathered NT-Xent, SGD; 2 ranks on loopback, 1 intra-op thread each`,
    `- Load average ${loadBefore} → ${loadavg()[0].toFixed(1)}; Node ${process.version}`, "",
    `| | median step | min step | communication share (median) |`, `|---|---:|---:|---:|`,
    `| Winnow | ${median(w.times).toFixed(1)} ms | ${Math.min(...w.times).toFixed(1)} ms | ${(share * 100).toFixed(1)}% (median ${median(w.comms).toFixed(1)} ms) |`,
    `| Winnow, step − communication | ${median(w.times.map((t, i) => t - w.comms[i]!)).toFixed(1)} ms | ${Math.min(...w.times.map((t, i) => t - w.comms[i]!)).toFixed(1)} ms | |`,
    `| PyTorch DDP | ${median(p.times).toFixed(1)} ms | ${Math.min(...p.times).toFixed(1)} ms | (overlapped with backward; not separated) |`,
    `| ratio | ${(median(w.times) / median(p.times)).toFixed(2)}× | ${(Math.min(...w.times) / Math.min(...p.times)).toFixed(2)}× | |`,
  ].join("\n");
  console.log(md);
  if (!process.argv.includes("--no-write")) console.log(`recorded in ${recordRun(md)}`);
}

if (process.argv[2] === "rank") await rank(JSON.parse(process.argv[3]!));
else await main();
