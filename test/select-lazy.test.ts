// The lazy, batched DIVERSITY kernel against the dense one (one pass over all rows per pick) and a
// brute-force float64 reference: identical picks, including ties, duplicates, the datapool, the
// eligibility mask and the minimum-distance stop.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { selectDiverse } from "../src/select/diversity.js";
import { selectDiverseLazy } from "../src/select/diversity-lazy.js";
import { runSelection } from "../src/select/index.js";
import { parseSelectionConfig } from "../src/config/selection-config.js";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function normalRows(n: number, d: number, seed: number): number[][] {
  const r = lcg(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())));
}

/** `k` tight clusters of `per` rows around random centres (many near-equal distances). */
function clusteredRows(k: number, per: number, d: number, seed: number): number[][] {
  const centres = normalRows(k, d, seed);
  const noise = normalRows(k * per, d, seed + 1);
  return noise.map((row, i) => row.map((v, j) => centres[i % k][j] + 0.05 * v));
}

/** Small integer coordinates: every float32 distance is exact, so ties are exact ties and duplicates abound. */
function gridRows(n: number, d: number, seed: number): number[][] {
  const r = lcg(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => Math.floor(r() * 4)));
}

/** Farthest point in float64 loops: argmax of squared distance to the nearest centre, lowest index on ties. */
function reference(rows: number[][], n: number, pool: number[] = [], eligible?: Uint8Array): number[] {
  const minD = rows.map((_, j) => (eligible && !eligible[j] ? -Infinity : Infinity));
  const add = (c: number): void => {
    rows.forEach((r, j) => {
      const d = r.reduce((a, v, k) => a + (v - rows[c][k]) ** 2, 0);
      if (d < minD[j]) minD[j] = d;
    });
    minD[c] = -Infinity;
  };
  pool.forEach(add);
  const idx: number[] = [];
  while (idx.length < n) {
    let best = 0;
    for (let j = 1; j < rows.length; j++) if (minD[j] > minD[best]) best = j;
    if (minD[best] === -Infinity) break;
    idx.push(best);
    add(best);
  }
  return idx;
}

function closeDistances(a: number[], b: number[]): void {
  assert.equal(a.length, b.length);
  a.forEach((v, k) => assert.ok(v === b[k] || Math.abs(v - b[k]) <= 1e-5 * Math.max(1, b[k]), `pick ${k}: ${v} vs ${b[k]}`));
}

// Small candidate sets and batches force many failed certificates and flushes on tiny inputs.
const settings: { candidates?: number; maxBatch?: number; active?: number }[] = [{}, { candidates: 8, maxBatch: 4, active: 40 }, { candidates: 32, maxBatch: 64, active: 100000 }, { candidates: 1, maxBatch: 2, active: 1 }, { candidates: 16, maxBatch: 16, active: 64 }];

test("random and clustered rows: same picks as the dense kernel, distances within 1e-5", () => {
  const base = torch.liveTensors();
  for (const rows of [normalRows(400, 8, 1), clusteredRows(12, 30, 6, 2)]) {
    const x = torch.tensor(rows);
    const dense = selectDiverse(x, 150);
    for (const s of settings) {
      const lazy = selectDiverseLazy(x, 150, s);
      assert.deepEqual(lazy.indices, dense.indices, JSON.stringify(s));
      closeDistances(lazy.distances, dense.distances);
      assert.equal(lazy.stopped, null);
      // a small active set really is refreshed (stale rows brought up to date) along the way
      if (s.active !== undefined && s.active < rows.length) assert.ok(lazy.refreshes > 2, `refreshes ${lazy.refreshes}`);
    }
    x.dispose();
  }
  assert.equal(torch.liveTensors(), base);
});

test("integer grid (exact ties, duplicates): same picks as dense and the float64 reference, to the last sample", () => {
  const base = torch.liveTensors();
  const rows = gridRows(200, 3, 7); // 64 distinct points among 200 rows
  const x = torch.tensor(rows);
  const want = reference(rows, 200);
  const dense = selectDiverse(x, 200);
  assert.deepEqual(dense.indices, want);
  for (const s of settings) {
    const lazy = selectDiverseLazy(x, 250, s);
    assert.deepEqual(lazy.indices, want, JSON.stringify(s));
    assert.deepEqual(lazy.distances, dense.distances); // exact arithmetic: bit-identical
    assert.equal(lazy.stopped, "no_candidates_left");
  }
  // the batches really hold several picks (the default settings)
  const r = selectDiverseLazy(x, 200);
  assert.ok(r.batches < 200 && r.picksPerBatch > 1, `batches ${r.batches}`);
  x.dispose();
  assert.equal(torch.liveTensors(), base);
});

test("datapool, eligibility mask and the minimum-distance stop match the dense kernel", () => {
  const base = torch.liveTensors();
  const rows = clusteredRows(10, 25, 5, 11);
  const x = torch.tensor(rows);
  const eligible = Uint8Array.from(rows, (_, j) => (j % 7 === 3 ? 0 : 1));
  const pool = [4, 17, 88, 240, 10]; // 17 and 10 are not eligible: still centres (as the datapool always is)
  const dense = selectDiverse(x, 120, { alreadySelected: pool, eligible });
  for (const s of settings) {
    const lazy = selectDiverseLazy(x, 120, { alreadySelected: pool, eligible, ...s });
    assert.deepEqual(lazy.indices, dense.indices);
    for (const j of lazy.indices) assert.ok(eligible[j] && !pool.includes(j));
  }
  const grid = gridRows(150, 4, 3);
  const gx = torch.tensor(grid);
  const gEligible = Uint8Array.from(grid, (_, j) => (j % 5 === 0 ? 0 : 1));
  assert.deepEqual(selectDiverseLazy(gx, 150, { alreadySelected: [1, 2, 3], eligible: gEligible, candidates: 4, maxBatch: 8 }).indices, reference(grid, 150, [1, 2, 3], gEligible));
  // minimum distance: stops at the same pick, with the same reason
  const full = selectDiverse(x, 200);
  const threshold = full.distances[70] + 1e-6;
  const dStop = selectDiverse(x, 200, { minDistance: threshold });
  for (const s of settings) {
    const lStop = selectDiverseLazy(x, 200, { minDistance: threshold, ...s });
    assert.deepEqual(lStop.indices, dStop.indices);
    assert.equal(lStop.indices.length, 70);
    assert.equal(lStop.stopped, "stopping_condition_minimum_distance");
  }
  // normalised rows, n = 0, and more asked than eligible
  assert.deepEqual(selectDiverseLazy(x, 40, { normalize: true, candidates: 16 }).indices, selectDiverse(x, 40, { normalize: true }).indices);
  assert.deepEqual(selectDiverseLazy(x, 0), { indices: [], distances: [], stopped: null, batches: 0, refreshes: 0, picksPerBatch: 0 });
  const few = selectDiverseLazy(x, 500, { eligible, alreadySelected: pool });
  assert.equal(few.indices.length, eligible.reduce((a, b) => a + b, 0) - pool.filter((p) => eligible[p]).length);
  assert.equal(few.stopped, "no_candidates_left");
  x.dispose();
  gx.dispose();
  assert.equal(torch.liveTensors(), base);
});

test("runSelection with DIVERSITY alone gives the dense kernel's picks (datapool, THRESHOLD, duplicates)", () => {
  const rows = gridRows(120, 3, 5);
  const filenames = rows.map((_, j) => `f${j}.png`);
  const items = { filenames, embeddings: Float32Array.from(rows.flat()), dim: 3, scores: { t: { s: rows.map((_, j) => j % 4) } } };
  const cfg = parseSelectionConfig({
    n_samples: 100,
    strategies: [
      { input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } },
      { input: { type: "SCORES", task: "t", score: "s" }, strategy: { type: "THRESHOLD", threshold: 0, operation: "BIGGER" } },
    ],
  });
  const r = runSelection(cfg, items, { datapool: ["f1.png", "f2.png"] });
  const eligible = Uint8Array.from(rows, (_, j) => (j % 4 > 0 && j !== 1 && j !== 2 ? 1 : 0));
  const want = reference(rows, 100, [1, 2], eligible);
  // duplicates of a selected row end the selection (distance 0), as documented
  const firstDup = want.findIndex((j, k) => k > 0 && [1, 2, ...want.slice(0, k)].some((c) => rows[c].every((v, i) => v === rows[j][i])));
  assert.ok(firstDup > 0);
  assert.deepEqual(r.selected, want.slice(0, firstDup));
  assert.equal(r.stoppedBy, "no_candidates_left");
});
