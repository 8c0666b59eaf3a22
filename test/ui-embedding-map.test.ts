// The embedding map's PCA against numpy's SVD on the same rows (30 000 points, 64-d): same axes up
// to sign, same explained variance; selection and datapool rows mapped by file name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { embeddingMapOf, FIT_ROWS } from "../src/server/ui-embedding-map.js";
import { tempDir } from "./helpers/data-images.js";

function gaussianData(n: number, d: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const g = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
      out[i * d + j] = g * (j === 0 ? 4 : j === 1 ? 2.5 : 1.2 / (1 + j / 8)) + 0.3 * j; // anisotropic, offset mean
    }
  }
  return out;
}

test("PCA of 30 000 × 64 embeddings matches numpy (fit on the evenly spaced subsample, every row projected)", () => {
  const n = 30_000, d = 64;
  const values = gaussianData(n, d, 7);
  const filenames = Array.from({ length: n }, (_, i) => `img-${i}.png`);
  const t0 = performance.now();
  const map = embeddingMapOf({ filenames, values, d }, ["img-5.png", "img-2.png", "missing.png"], ["img-2.png", "img-9.png"]);
  const ms = performance.now() - t0;
  assert.equal(map.n, n);
  assert.equal(map.xy.length, 2 * n);
  assert.deepEqual(map.selected, [2, 5]);
  assert.deepEqual(map.datapool, [9], "datapool rows exclude this run's selection");
  assert.ok(ms < 5000, `map of ${n} points took ${ms.toFixed(0)} ms`);

  const dir = tempDir("winnow-ui-pca-");
  fs.writeFileSync(path.join(dir, "x.f32"), Buffer.from(values.buffer));
  const py = spawnSync("/usr/bin/python3", ["-c", `
import sys, json, numpy as np
n, d, k = ${n}, ${d}, ${FIT_ROWS}
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, d).astype(np.float64)
mean = x.mean(0)
rows = [ (i * n) // k for i in range(k) ] if n > k else list(range(n))
xs = x[rows] - mean
_, s, vt = np.linalg.svd(xs, full_matrices=False)
proj = (x - mean) @ vt[:2].T
ev = (s ** 2) / (s ** 2).sum()
json.dump({"xy": proj.reshape(-1).tolist(), "explained": ev[:2].tolist()}, open(sys.argv[2], "w"))
`, path.join(dir, "x.f32"), path.join(dir, "out.json")], { encoding: "utf8" });
  assert.equal(py.status, 0, py.stderr);
  const ref = JSON.parse(fs.readFileSync(path.join(dir, "out.json"), "utf8")) as { xy: number[]; explained: number[] };
  fs.rmSync(dir, { recursive: true, force: true });
  for (let c = 0; c < 2; c++) {
    assert.ok(Math.abs(map.explained[c]! - ref.explained[c]!) < 1e-3, `axis ${c}: explained ${map.explained[c]} vs numpy ${ref.explained[c]}`);
    // Same axis up to sign: compare with the sign that fits.
    let dot = 0;
    for (let i = 0; i < n; i++) dot += map.xy[2 * i + c]! * ref.xy[2 * i + c]!;
    const sign = Math.sign(dot);
    let worst = 0, scale = 0;
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(map.xy[2 * i + c]! - sign * ref.xy[2 * i + c]!));
      scale = Math.max(scale, Math.abs(ref.xy[2 * i + c]!));
    }
    assert.ok(worst / scale < 2e-3, `axis ${c}: largest difference ${worst} on a range of ${scale}`);
  }
  console.log(`embedding map: ${n} × ${d} in ${ms.toFixed(0)} ms; explained ${map.explained.join(", ")}`);
});

test("degenerate embeddings: one distinct row gives a map at the origin, no NaN", () => {
  const n = 50, d = 8;
  const values = new Float32Array(n * d).fill(0.25);
  const map = embeddingMapOf({ filenames: Array.from({ length: n }, (_, i) => `f${i}`), values, d }, ["f1"], []);
  assert.ok(map.xy.every((v) => v === 0), "all at 0");
  assert.deepEqual(map.explained, [0, 0]);
});
