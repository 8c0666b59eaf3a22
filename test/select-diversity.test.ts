// DIVERSITY (farthest-point) selection against a brute-force float64 reference written here.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { selectDiverse } from "../src/select/diversity.js";

function randomRows(n: number, d: number, seed: number): number[][] {
  let s = seed >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: n }, () => Array.from({ length: d }, rnd));
}

/** Exact farthest-point sampling: start at 0 (or after `pool`), pick argmax of min distance. */
function reference(rows: number[][], n: number, pool: number[] = []): { idx: number[]; dist: number[] } {
  const minD = rows.map(() => Infinity);
  const taken = new Set<number>();
  const add = (c: number): void => {
    taken.add(c);
    rows.forEach((r, j) => {
      const d = Math.sqrt(r.reduce((a, v, k) => a + (v - rows[c][k]) ** 2, 0));
      if (d < minD[j]) minD[j] = d;
    });
  };
  pool.forEach(add);
  const idx: number[] = [];
  const dist: number[] = [];
  for (let k = 0; k < n; k++) {
    let best = -1;
    for (let j = 0; j < rows.length; j++) if (!taken.has(j) && (best < 0 || minD[j] > minD[best])) best = j;
    idx.push(best);
    dist.push(minD[best]);
    add(best);
  }
  return { idx, dist };
}

const rows = randomRows(300, 8, 42);

test("picks equal the exact farthest-point order; distances within 1e-4", () => {
  const base = torch.liveTensors();
  const x = torch.tensor(rows);
  const got = selectDiverse(x, 40);
  const want = reference(rows, 40);
  assert.deepEqual(got.indices, want.idx);
  assert.equal(got.distances[0], Infinity);
  for (let k = 1; k < 40; k++) assert.ok(Math.abs(got.distances[k] - want.dist[k]) < 1e-4, `pick ${k}: ${got.distances[k]} vs ${want.dist[k]}`);
  // distances never increase in farthest-point order
  for (let k = 2; k < 40; k++) assert.ok(got.distances[k] <= got.distances[k - 1] + 1e-6);
  x.dispose();
  assert.equal(torch.liveTensors(), base);
});

test("already-selected samples (the datapool) are centres and are never picked again", () => {
  const x = torch.tensor(rows);
  const pool = [5, 77, 123, 250];
  const got = selectDiverse(x, 25, { alreadySelected: pool });
  const want = reference(rows, 25, pool);
  assert.deepEqual(got.indices, want.idx);
  for (const p of pool) assert.ok(!got.indices.includes(p));
  // continuing a selection with its own first half as the pool gives its second half
  const all = selectDiverse(x, 30);
  const cont = selectDiverse(x, 15, { alreadySelected: all.indices.slice(0, 15) });
  assert.deepEqual(cont.indices, all.indices.slice(15));
  x.dispose();
});

test("stopping_condition_minimum_distance stops once nothing is that far; normalize uses unit rows", () => {
  const x = torch.tensor(rows);
  const full = selectDiverse(x, 100);
  const threshold = full.distances[60];
  const stopped = selectDiverse(x, 100, { minDistance: threshold + 1e-6 });
  assert.equal(stopped.indices.length, 60);
  assert.ok(stopped.distances.every((d) => d >= threshold));
  const unit = rows.map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
  assert.deepEqual(selectDiverse(x, 20, { normalize: true }).indices, reference(unit, 20).idx);
  assert.equal(selectDiverse(x, 1000).indices.length, 300); // never more than N
  x.dispose();
});
