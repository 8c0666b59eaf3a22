// TYPICALITY speed and accuracy: runSelection with one TYPICALITY strategy (K = 20 neighbours,
// n_samples picks) on N×D float32 embeddings, normalised as the worker does by default. Above
// TYPICALITY_EXACT_MAX items the neighbour search is the IVF one (src/select/typicality-ivf.ts);
// its recall is measured here against the exact K nearest of --queries rows (one exact
// [queries × N] block on the engine), with the error of the mean distance. Wall and CPU time are
// both reported: this machine is shared, and CPU time is what the work costs. Not a test.
//
//   npx tsx bench/select-typicality.ts [--n 1000000] [--dim 32] [--k 10000] [--threads 2]
//     [--nprobe 6] [--queries 1000] [--data clustered,normal]
import { cpus, loadavg } from "node:os";
import * as torch from "../src/torch/index.js";
import { runSelection } from "../src/select/index.js";
import { meanKnnDistanceIvf } from "../src/select/typicality-ivf.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg("n", "1000000"));
const D = Number(arg("dim", "32"));
const K = Number(arg("k", "10000"));
const threads = Number(arg("threads", String(cpus().length)));
const nprobe = Number(arg("nprobe", "6"));
const Q = Number(arg("queries", "1000"));
const kinds = arg("data", "clustered,normal").split(",");
const NN = 20;
torch.setNumThreads(threads);

/** The same data as bench/select-speed.ts: standard normal, or 1000 clusters of radius ~0.1. */
function embeddings(kind: string): Float32Array {
  return torch.scope(() => {
    torch.manualSeed(0);
    let x = torch.randn([N, D]);
    if (kind === "clustered") x = torch.randn([1000, D]).indexSelect(0, torch.randint(0, 1000, [N])).add(x.mul(0.1));
    return x.contiguous().data() as Float32Array;
  });
}

const timed = <T>(fn: () => T): { v: T; wall: number; cpu: number } => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const v = fn();
  const c = process.cpuUsage(c0);
  return { v, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
};

console.log(`N=${N} D=${D} picks=${K} threads=${threads} nprobe=${nprobe} load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const kind of kinds) {
  const emb = embeddings(kind);
  const items = { filenames: Array.from({ length: N }, (_, j) => `f${j}`), embeddings: emb, dim: D };
  const cfg = parseSelectionConfig({ n_samples: K, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY", num_nearest_neighbors: NN } }] });
  const sel = timed(() => runSelection(cfg, items, { normalizeEmbeddings: true }));
  console.log(`${kind}: runSelection TYPICALITY ${sel.v.selected.length} of ${N}×${D}: wall ${sel.wall.toFixed(1)} s, CPU ${sel.cpu.toFixed(1)} s (load ${loadavg()[0].toFixed(2)})`);
  // Recall: the IVF neighbours of Q rows against the exact ones.
  const x = torch.noGrad(() => torch.scope(() => torch.F.normalize(torch.tensor(emb, { shape: [N, D] }), 2, 1)));
  const ap = timed(() => meanKnnDistanceIvf(x, NN, { keepNeighbours: true, nprobe }));
  const rows = Array.from({ length: Q }, (_, j) => Math.floor((j * N) / Q));
  // Exact neighbours, 50 query rows at a time (a [50 × N] block).
  const ex = { i: [] as number[], m: [] as number[] };
  for (let s = 0; s < Q; s += 50) {
    const part = rows.slice(s, s + 50);
    const r = torch.noGrad(() => torch.scope(() => {
      const ri = torch.tensor(part, { dtype: "int64" });
      const q = x.indexSelect(0, ri);
      const d2 = torch.addmm(x.square().sum(1).unsqueeze(0), q, x.t().mul(-2)).add_(q.square().sum(1).unsqueeze(1));
      d2.scatter_(1, ri.unsqueeze(1), torch.full([part.length, 1], Infinity));
      const [v, i] = d2.topk(NN, 1, false, true);
      return { i: i.toArray() as number[], m: v.clampMin(0).sqrt().mean([1]).toArray() as number[] };
    }));
    ex.i.push(...r.i);
    ex.m.push(...r.m);
  }
  x.dispose();
  let hit = 0;
  let worst = 0;
  let avg = 0;
  rows.forEach((j, r) => {
    const s = new Set(ex.i.slice(r * NN, (r + 1) * NN));
    for (let u = 0; u < NN; u++) if (s.has(ap.v.neighbours![j * NN + u])) hit++;
    const e = (ap.v.means[j] - ex.m[r]) / ex.m[r];
    worst = Math.max(worst, e);
    avg += e / Q;
  });
  console.log(`${kind}: IVF search alone wall ${ap.wall.toFixed(1)} s, CPU ${ap.cpu.toFixed(1)} s; recall@${NN} ${(hit / (Q * NN)).toFixed(4)} on ${Q} rows; mean-distance error avg ${avg.toExponential(2)}, worst ${worst.toFixed(4)}`);
}
console.log(`end load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
