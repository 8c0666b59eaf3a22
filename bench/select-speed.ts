// Selection speed: DIVERSITY (k-center greedy) on N×D float32 embeddings, random-normal and clustered:
// the lazy batched kernel (diversity-lazy.ts, what runSelection uses), the dense one (diversity.ts,
// one pass over all rows per pick) and the same greedy loop in plain PyTorch (bench/select_ref.py,
// same data, same threads); and DIVERSITY×BALANCE×WEIGHTS combined through runSelection. Also
// measures this machine's memory bandwidth (a large tensor sum) so GB/s can be read against it.
// The dense and PyTorch loops cost the same per pick whatever the data, so they run the first
// --ref-k picks (their 10k time is that × k/ref-k, marked as extrapolated); the lazy kernel's first
// --ref-k picks are checked against the dense kernel's. Not a test.
//
//   npx tsx bench/select-speed.ts [--n 1000000] [--dim 32,128] [--k 10000] [--ref-k 1000]
//     [--combo-k 1000 (0: skip)] [--device cpu|cuda] [--threads 2] [--data normal,clustered] [--no-python]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as torch from "../src/torch/index.js";
import { runSelection } from "../src/select/index.js";
import { selectDiverse } from "../src/select/diversity.js";
import { selectDiverseLazy } from "../src/select/diversity-lazy.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg("n", "1000000"));
const dims = arg("dim", "32").split(",").map(Number);
const K = Number(arg("k", "10000"));
const refK = Math.min(K, Number(arg("ref-k", "1000")));
const comboK = Number(arg("combo-k", "1000"));
const device = arg("device", "cpu") as "cpu" | "cuda";
const threads = Number(arg("threads", String(cpus().length)));
const kinds = arg("data", "normal,clustered").split(",");
const python = !process.argv.includes("--no-python");
torch.setNumThreads(threads);

/** Deterministic embeddings: standard normal, or 1000 Gaussian clusters of radius ~0.1 around normal centres. */
function embeddings(kind: string, D: number): Float32Array {
  return torch.scope(() => {
    torch.manualSeed(0);
    let x = torch.randn([N, D]);
    if (kind === "clustered") {
      const centres = torch.randn([1000, D]);
      const which = torch.randint(0, 1000, [N]);
      x = centres.indexSelect(0, which).add(x.mul(0.1));
    }
    return x.contiguous().data() as Float32Array;
  });
}

function bandwidthGBs(): number {
  return torch.scope(() => {
    const t = torch.ones([64 * 1024 * 1024], { device }); // 256 MB
    t.sum().item();
    const reps = 5;
    const s = performance.now();
    for (let i = 0; i < reps; i++) t.sum().item();
    return (reps * t.numel() * 4) / ((performance.now() - s) / 1000) / 1e9;
  });
}

const load0 = loadavg().map((v) => +v.toFixed(2));
const bw = bandwidthGBs();
const rows: Record<string, unknown>[] = [];
const dir = mkdtempSync(join(tmpdir(), "winnow-select-bench-"));
const gbs = (picks: number, D: number, sec: number): number => +((picks * N * D * 4) / sec / 1e9).toFixed(1);
try {
  for (const D of dims) {
    for (const kind of kinds) {
      const emb = embeddings(kind, D);
      const x = torch.tensor(emb, { shape: [N, D] }).to(device);
      try {
        selectDiverseLazy(x, 3);
        selectDiverse(x, 3); // warm-up
        let t0 = performance.now();
        const lazy = selectDiverseLazy(x, K);
        const sec = (performance.now() - t0) / 1000;
        t0 = performance.now();
        const dense = selectDiverse(x, refK);
        const denseSec = (performance.now() - t0) / 1000;
        const same = dense.indices.every((j, i) => lazy.indices[i] === j);
        // Where the two part: the rows each took and their float64 squared distances to the common prefix.
        const at = dense.indices.findIndex((j, i) => lazy.indices[i] !== j);
        const exact = (j: number): number => {
          let best = Infinity;
          for (const c of dense.indices.slice(0, at)) {
            let acc = 0;
            for (let t = 0; t < D; t++) acc += (emb[j * D + t] - emb[c * D + t]) ** 2;
            best = Math.min(best, acc);
          }
          return best;
        };
        const parted = at < 0 ? null : { pick: at, lazy_row: lazy.indices[at], dense_row: dense.indices[at], lazy_f64: exact(lazy.indices[at]), dense_f64: exact(dense.indices[at]) };
        const maxRel = Math.max(...dense.distances.slice(1).map((d, i) => Math.abs(lazy.distances[i + 1] - d) / d));
        const row: Record<string, unknown> = {
          data: kind, task: `DIVERSITY ${K} of ${N}×${D}`,
          lazy_s: +sec.toFixed(2), lazy_picks_per_s: Math.round(lazy.indices.length / sec), lazy_GB_per_s_dense_equiv: gbs(lazy.indices.length, D, sec),
          batches: lazy.batches, picks_per_batch: +lazy.picksPerBatch.toFixed(1), refreshes: lazy.refreshes,
          dense_s_for_ref_k: +denseSec.toFixed(2), dense_s_extrapolated: +((denseSec * K) / refK).toFixed(1), dense_GB_per_s: gbs(refK, D, denseSec),
          [`same_first_${refK}_picks_as_dense`]: same, parted, max_rel_distance_diff: +maxRel.toExponential(2),
        };
        if (python) {
          const file = join(dir, "x.f32");
          writeFileSync(file, Buffer.from(emb.buffer, emb.byteOffset, emb.byteLength));
          const out = JSON.parse(execFileSync("/usr/bin/python3", [join(import.meta.dirname, "select_ref.py"), file, String(N), String(D), String(refK), device, String(threads)], { encoding: "utf8", maxBuffer: 1 << 20 }));
          row.pytorch_s_for_ref_k = +out.seconds.toFixed(2);
          row.pytorch_s_extrapolated = +((out.seconds * K) / refK).toFixed(1);
          row.pytorch_same_first_20 = JSON.stringify(out.picks) === JSON.stringify(lazy.indices.slice(0, 20));
        }
        rows.push(row);
        console.log(JSON.stringify(row));
      } finally {
        x.dispose();
      }
      if (comboK > 0) {
        const items = {
          filenames: Array.from({ length: N }, (_, j) => `${j}.png`),
          embeddings: emb,
          dim: D,
          scores: { t: { s: Array.from({ length: N }, (_, j) => ((j * 2654435761) % 1000) / 1000) } },
          metadata: { c: Array.from({ length: N }, (_, j) => ["a", "b", "c", "d"][(j * 7919) % 4]) },
        };
        const combo = parseSelectionConfig({
          n_samples: comboK,
          strategies: [
            { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } },
            { input: { type: "METADATA", key: "c" }, strategy: { type: "BALANCE", target: { a: 0.4, b: 0.3, c: 0.2 } } },
            { input: { type: "SCORES", task: "t", score: "s" }, strategy: { type: "WEIGHTS", strength: 0.5 } },
          ],
        });
        const t1 = performance.now();
        const rc = runSelection(combo, items, { device });
        const sc = (performance.now() - t1) / 1000;
        const crow = { data: kind, task: `DIVERSITY×BALANCE×WEIGHTS ${comboK} of ${N}×${D}`, seconds: +sc.toFixed(2), picks_per_s: Math.round(rc.selected.length / sc) };
        rows.push(crow);
        console.log(JSON.stringify(crow));
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ device, threads, memory_bandwidth_GB_per_s: +bw.toFixed(1), loadavg_start: load0, loadavg_end: loadavg().map((v) => +v.toFixed(2)), date: new Date().toISOString() }));
