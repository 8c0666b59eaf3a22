// The approximate neighbour search TYPICALITY uses above TYPICALITY_EXACT_MAX items: its recall of
// the exact K nearest neighbours and the typicality picks it leads to, against the exact search.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { meanKnnDistanceIvf } from "../src/select/typicality-ivf.js";
import { meanKnnDistanceExact } from "../src/select/typicality.js";
import { runSelection } from "../src/select/index.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";

function clustered(n: number, d: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: 30 }, () => Array.from({ length: d }, () => 3 * gauss()));
  const out = new Float32Array(n * d);
  for (let j = 0; j < n; j++) {
    const c = centres[Math.floor(r() ** 1.5 * 30)]; // uneven cluster sizes: dense and sparse regions
    for (let k = 0; k < d; k++) out[j * d + k] = c[k] + gauss();
  }
  return out;
}

test("IVF neighbours: recall ≥ 0.97 of the exact K nearest; mean distances 0.2 % off on average, 20 % at worst", () => {
  const base = torch.liveTensors();
  const n = 6000;
  const d = 8;
  const K = 10;
  const x = torch.tensor(clustered(n, d, 5), { shape: [n, d] });
  const ap = meanKnnDistanceIvf(x, K, { keepNeighbours: true });
  const exact = meanKnnDistanceExact(x, K);
  // exact neighbour sets for every 10th row
  const rows = Array.from({ length: n / 10 }, (_, j) => j * 10);
  const ex = torch.noGrad(() => torch.scope(() => {
    const q = x.indexSelect(0, torch.tensor(rows, { dtype: "int64" }));
    const d2 = torch.addmm(x.square().sum(1).unsqueeze(0), q, x.t().mul(-2)).add_(q.square().sum(1).unsqueeze(1));
    d2.scatter_(1, torch.tensor(rows, { dtype: "int64" }).unsqueeze(1), torch.full([rows.length, 1], Infinity));
    return d2.topk(K, 1, false, true)[1].toArray() as number[];
  }));
  x.dispose();
  let hit = 0;
  rows.forEach((j, r) => {
    const s = new Set(ex.slice(r * K, r * K + K));
    for (let u = 0; u < K; u++) if (s.has(ap.neighbours![j * K + u])) hit++;
  });
  const recall = hit / (rows.length * K);
  assert.ok(recall >= 0.97, `recall ${recall}`);
  let worst = 0;
  let avg = 0;
  for (let j = 0; j < n; j++) {
    worst = Math.max(worst, (ap.means[j] - exact[j]) / exact[j]);
    avg += (ap.means[j] - exact[j]) / exact[j] / n;
  }
  console.log(`IVF: recall ${recall.toFixed(4)}, relative error of the mean distance: average ${avg.toExponential(2)}, worst ${worst.toFixed(4)}`);
  assert.ok(avg < 0.002, `average relative error ${avg}`);
  // approximate neighbours are never nearer than the exact ones
  for (let j = 0; j < n; j++) assert.ok(ap.means[j] >= exact[j] * (1 - 1e-5), `row ${j}`);
  assert.ok(worst < 0.2, `worst relative error ${worst}`);
  assert.equal(torch.liveTensors(), base);
});

test("TYPICALITY picks through the IVF path agree with the exact path", () => {
  const n = 5000;
  const items = { filenames: Array.from({ length: n }, (_, j) => `f${j}`), embeddings: clustered(n, 8, 9), dim: 8 };
  const cfg = parseSelectionConfig({ n_samples: 200, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "TYPICALITY", num_nearest_neighbors: 10 } }] });
  const exact = runSelection(cfg, items).selected;
  const approx = runSelection(cfg, items, { typicalityExactMax: 1000 }).selected;
  const overlap = approx.filter((j) => new Set(exact).has(j)).length / exact.length;
  assert.ok(overlap >= 0.95, `overlap ${overlap}`);
});
