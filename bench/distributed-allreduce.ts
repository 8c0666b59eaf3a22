// Gloo allreduce (sum, float32) between 2 ranks on loopback: Winnow's binding of c10d vs PyTorch's own
// torch.distributed (/usr/bin/python3), same libtorch and Gloo, same sizes, alternating rounds so
// that other load hits both alike. Each rank is its own process; every call is preceded by a barrier.
//   npx tsx bench/distributed-allreduce.ts [--iters 30] [--warmup 5] [--rounds 2] [--no-write]
// Records the run in docs/benchmarks-history.md (bench-doc.ts) unless --no-write.
// Run as `... rank` it is one Winnow rank (started by this script).
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
const SIZES = [1_000, 65_536, 1_048_576, 4_194_304];
const ITERS = arg("iters", 30);
const WARMUP = arg("warmup", 5);
const ROUNDS = arg("rounds", 2);
const here = dirname(fileURLToPath(import.meta.url));

async function rank(): Promise<void> {
  const torch = await import("../src/torch/index.js");
  const { initProcessGroup } = await import("../src/distributed/index.js");
  torch.setNumThreads(1);
  const [sizes, iters, warmup] = [JSON.parse(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
  const pg = initProcessGroup({ backend: "gloo", timeoutMs: 120_000 });
  const out: Record<string, number[]> = {};
  for (const n of sizes as number[]) {
    const t = torch.ones([n]);
    const times: number[] = [];
    for (let i = 0; i < warmup + iters; i++) {
      pg.barrier();
      const t0 = performance.now();
      pg.allReduce(t);
      if (i >= warmup) times.push(performance.now() - t0);
    }
    t.dispose();
    out[String(n)] = times;
  }
  if (pg.rank === 0) console.log(JSON.stringify(out));
  pg.destroy();
}

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

async function pair(cmd: string, args: string[]): Promise<Record<string, number[]>> {
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
  const all: Record<string, Record<string, number[]>> = { winnow: {}, pytorch: {} };
  const add = (who: string, r: Record<string, number[]>) => {
    for (const [k, v] of Object.entries(r)) (all[who][k] ??= []).push(...v);
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["winnow", "pytorch"] : ["pytorch", "winnow"];
    for (const who of order) {
      const sizes = JSON.stringify(SIZES);
      add(who, who === "winnow"
        ? await pair(process.execPath, ["--import", "tsx", join(here, "distributed-allreduce.ts"), "rank", sizes, String(ITERS), String(WARMUP)])
        : await pair("/usr/bin/python3", [join(here, "distributed_allreduce_ref.py"), sizes, String(ITERS), String(WARMUP)]));
    }
  }
  const rows = [`| floats (MB) | Winnow median | Winnow min | PyTorch median | PyTorch min | ratio (median) |`, `|---:|---:|---:|---:|---:|---:|`];
  for (const n of SIZES) {
    const w = all.winnow[n];
    const p = all.pytorch[n];
    rows.push(`| ${n} (${((n * 4) / 1e6).toFixed(2)}) | ${median(w).toFixed(3)} ms | ${Math.min(...w).toFixed(3)} ms | ${median(p).toFixed(3)} ms | ${Math.min(...p).toFixed(3)} ms | ${(median(w) / median(p)).toFixed(2)}× |`);
  }
  const md = [
    `### Distributed: Gloo allreduce, Winnow vs torch.distributed (${new Date().toISOString().slice(0, 10)})`, "",
    `- Command: \`npx tsx bench/distributed-allreduce.ts --iters ${ITERS} --warmup ${WARMUP} --rounds ${ROUNDS}\` (2 ranks on loopback, Gloo on \`lo\`, 1 intra-op thread)`,
    `- Load average ${loadBefore} → ${loadavg()[0].toFixed(1)}; Node ${process.version}`, "", ...rows,
  ].join("\n");
  console.log(md);
  if (!process.argv.includes("--no-write")) console.log(`recorded in ${recordRun(md)}`);
}

if (process.argv[2] === "rank") await rank();
else await main();
