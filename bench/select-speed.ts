// Selection speed: DIVERSITY (k-center greedy) on N×D float32 embeddings, random-normal and clustered,
// and DIVERSITY×BALANCE×WEIGHTS combined, against the same greedy loop in plain PyTorch
// (bench/select_ref.py, same data, same threads). Also measures this machine's memory bandwidth
// (a large tensor sum) so the per-pick GB/s can be read against it. Not a test.
//
//   npx tsx bench/select-speed.ts [--n 1000000] [--dim 32] [--k 10000] [--combo-k 1000]
//                                 [--device cpu|cuda] [--threads 2] [--data normal,clustered] [--no-python]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as torch from "../src/torch/index.js";
import { runSelection } from "../src/select/index.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg("n", "1000000"));
const D = Number(arg("dim", "32"));
const K = Number(arg("k", "10000"));
const comboK = Number(arg("combo-k", "1000"));
const device = arg("device", "cpu") as "cpu" | "cuda";
const threads = Number(arg("threads", String(cpus().length)));
const kinds = arg("data", "normal,clustered").split(",");
const python = !process.argv.includes("--no-python");
torch.setNumThreads(threads);

/** Deterministic embeddings: standard normal, or 1000 Gaussian clusters of radius ~0.1 around normal centres. */
function embeddings(kind: string): Float32Array {
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

const bw = bandwidthGBs();
const rows: Record<string, unknown>[] = [];
const dir = mkdtempSync(join(tmpdir(), "winnow-select-bench-"));
try {
  for (const kind of kinds) {
    const emb = embeddings(kind);
    const items = {
      filenames: Array.from({ length: N }, (_, j) => `${j}.png`),
      embeddings: emb,
      dim: D,
      scores: { t: { s: Array.from({ length: N }, (_, j) => ((j * 2654435761) % 1000) / 1000) } },
      metadata: { c: Array.from({ length: N }, (_, j) => ["a", "b", "c", "d"][(j * 7919) % 4]) },
    };
    runSelection(parseSelectionConfig({ n_samples: 3, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] }), items, { device }); // warm-up
    const div = parseSelectionConfig({ n_samples: K, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] });
    const t0 = performance.now();
    const r = runSelection(div, items, { device });
    const sec = (performance.now() - t0) / 1000;
    const row: Record<string, unknown> = {
      data: kind, task: `DIVERSITY ${K} of ${N}×${D}`, seconds: +sec.toFixed(2), picks_per_s: Math.round(r.selected.length / sec),
      GB_per_s: +((r.selected.length * N * D * 4) / sec / 1e9).toFixed(1),
    };
    if (python) {
      const file = join(dir, "x.f32");
      writeFileSync(file, Buffer.from(emb.buffer, emb.byteOffset, emb.byteLength));
      const out = JSON.parse(execFileSync("/usr/bin/python3", [join(import.meta.dirname, "select_ref.py"), file, String(N), String(D), String(K), device, String(threads)], { encoding: "utf8", maxBuffer: 1 << 20 }));
      row.pytorch_seconds = +out.seconds.toFixed(2);
      row.ratio = +(sec / out.seconds).toFixed(2);
      row.same_first_20_picks = JSON.stringify(out.picks) === JSON.stringify(r.selected.slice(0, 20));
    }
    rows.push(row);
    console.log(JSON.stringify(row));
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
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ device, threads, memory_bandwidth_GB_per_s: +bw.toFixed(1), loadavg: loadavg().map((v) => +v.toFixed(2)), date: new Date().toISOString() }));
