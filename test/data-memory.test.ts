// Memory: building and reading a cache of 3,000 images keeps the process's RSS bounded, well
// below the size of the pixel data (83 MB here), because batches are read from disk on demand.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as torch from "../src/torch/index.js";
import { buildImageCache } from "../src/data/cache.js";
import { randomBytes, rawPng, tempDir } from "./helpers/data-images.js";

const N = 3000;
const S = 96; // 27,648 bytes per image: an 83 MB slab
const BATCH = 256;
const MB = 1024 * 1024;
// Bounds (measured on the 2-core test machine: build peak +1–6 MB, reading +0–1 MB).
const BUILD_BOUND = 40 * MB;
const READ_BOUND = 8 * MB;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage.rss();
}

test(`RSS stays bounded building and reading a cache of ${N} images`, async (t) => {
  const root = tempDir();
  const cacheDir = tempDir();
  dirs.push(root, cacheDir);
  // 3,000 distinct 12×12 noise PNGs in 30 sub-folders.
  const seeds = randomBytes(N * 4, 99);
  for (let k = 0; k < N; k += 100) {
    const dir = path.join(root, `part-${String(k / 100).padStart(2, "0")}`);
    fs.mkdirSync(dir);
    await Promise.all(
      Array.from({ length: 100 }, async (_, j) => {
        const png = await rawPng(randomBytes(12 * 12 * 3, seeds.readUInt32LE((k + j) * 4) | 1), 12, 12);
        fs.writeFileSync(path.join(dir, `${String(k + j).padStart(5, "0")}.png`), png);
      }),
    );
  }

  const before = rss();
  let peak = before;
  const t0 = performance.now();
  const cache = await buildImageCache(root, {
    cacheDir,
    resolution: S,
    onProgress: (done) => {
      if (done % 250 === 0) peak = Math.max(peak, process.memoryUsage.rss());
    },
  });
  const buildMs = performance.now() - t0;
  try {
    const built = rss();
    assert.equal(cache.length, N);
    assert.equal(cache.stats.decoded, N);
    t.diagnostic(`build: ${buildMs.toFixed(0)} ms, RSS +${((built - before) / MB).toFixed(1)} MB after, peak +${((peak - before) / MB).toFixed(1)} MB`);
    assert.ok(peak - before < BUILD_BOUND, `build peak RSS growth ${(peak - before) / MB} MB`);

    // Three epochs of shuffled batches into one reused buffer, then one epoch of tensors.
    const out = Buffer.allocUnsafeSlow(BATCH * S * S * 3);
    const order = Int32Array.from({ length: N }, (_, i) => i);
    cache.readBatch(order.subarray(0, BATCH), out);
    const base = rss();
    let maxGrowth = 0;
    let tensorGrowth = 0;
    let checksum = 0;
    const t1 = performance.now();
    for (let epoch = 0; epoch < 3; epoch++) {
      for (let i = N - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (let b = 0; b < N; b += BATCH) {
        const batch = cache.readBatch(order.subarray(b, b + BATCH), out);
        checksum += batch.data[0]!;
        maxGrowth = Math.max(maxGrowth, process.memoryUsage.rss() - base);
      }
    }
    const readMs = performance.now() - t1;
    t.diagnostic(`readBatch, 3 shuffled epochs: ${readMs.toFixed(0)} ms (${((3 * N) / (readMs / 1000)).toFixed(0)} img/s), RSS max +${(maxGrowth / MB).toFixed(1)} MB; checksum ${checksum}`);
    assert.ok(maxGrowth < READ_BOUND, `readBatch RSS growth ${(maxGrowth / MB).toFixed(1)} MB`);

    // batchTensor frees every batch: live tensors and bytes come back to where they were.
    const live = [torch.liveTensors(), torch.liveBytes()];
    for (let b = 0; b < N; b += BATCH) {
      torch.scope(() => {
        checksum += cache.batchTensor(order.subarray(b, b + BATCH)).sum().item() > 0 ? 1 : 0;
      });
    }
    assert.deepEqual([torch.liveTensors(), torch.liveBytes()], live);

    // RSS of the tensor path, in a fresh process that opens this cache (as a trainer process
    // would). glibc's malloc raises its mmap threshold after the first large free and then keeps
    // freed 7 MB batches in its heap (RSS swings of 100-200 MB, unrelated to the dataset size);
    // a fixed threshold, as a launcher would set it, makes the measurement meaningful.
    const script = path.join(cacheDir, "child.mts");
    fs.writeFileSync(script, CHILD.replace("__SRC__", JSON.stringify(path.resolve("src"))));
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", script, cache.dir, String(BATCH)], {
      encoding: "utf8",
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: String(1024 * 1024) },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const child = JSON.parse(r.stdout.trim().split("\n").pop()!) as { n: number; maxGrowth: number; after: number; ms: number };
    assert.equal(child.n, N);
    t.diagnostic(`batchTensor, 3 epochs in a child process: ${child.ms.toFixed(0)} ms, RSS max +${(child.maxGrowth / MB).toFixed(1)} MB, after +${(child.after / MB).toFixed(1)} MB`);
    assert.ok(child.maxGrowth < READ_BOUND, `batchTensor RSS growth ${(child.maxGrowth / MB).toFixed(1)} MB`);
  } finally {
    cache.close();
  }

  // A second run over 3,000 unchanged files: no decoding.
  const again = await buildImageCache(root, { cacheDir, resolution: S });
  try {
    assert.equal(again.stats.decoded, 0);
    assert.equal(again.stats.reused, N);
    t.diagnostic(`second run (stat + index only): ${again.stats.durationMs.toFixed(0)} ms`);
  } finally {
    again.close();
  }
});

const CHILD = `
const src = __SRC__;
const t = await import(src + "/torch/index.ts");
const { openImageCache } = await import(src + "/data/cache.ts");
const cache = openImageCache(process.argv[2]);
const B = Number(process.argv[3]);
const order = Int32Array.from({ length: cache.length }, (_, i) => i);
const rss = () => { globalThis.gc(); return process.memoryUsage.rss(); };
t.scope(() => cache.batchTensor(order.subarray(0, B)).sum().item()); // warm: libtorch's first ops
const base = rss();
let maxGrowth = 0;
const t0 = performance.now();
for (let epoch = 0; epoch < 3; epoch++) {
  for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  for (let b = 0; b < order.length; b += B) {
    t.scope(() => cache.batchTensor(order.subarray(b, b + B)).sum().item());
    maxGrowth = Math.max(maxGrowth, process.memoryUsage.rss() - base);
  }
}
const ms = performance.now() - t0;
console.log(JSON.stringify({ n: cache.length, maxGrowth, after: rss() - base, ms }));
cache.close();
`;
