// Decode-once cache benchmark: N generated JPEGs → cache (cold), re-run (warm), batches back.
//   npx tsx bench/decode-cache.ts [N=2000] [size=256] [S=72] [concurrency=4,2,1]
// Prints one line per measurement. Files live in a temp folder that is removed at the end.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import * as torch from "../src/torch/index.js";
import { buildImageCache, listImageFolder } from "../src/data/index.js";

const N = Number(process.argv[2] ?? 2000);
const SIZE = Number(process.argv[3] ?? 256);
const S = Number(process.argv[4] ?? 72);
const CONCURRENCY = (process.argv[5] ?? "4,2,1").split(",").map(Number);
const BATCH = 128;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "winnow-bench-decode-"));
const root = path.join(tmp, "images");
fs.mkdirSync(root);

function photoLike(seed: number): Buffer {
  // Smooth gradients plus noise: JPEG sizes and decode costs close to photographs at this size.
  const px = Buffer.alloc(SIZE * SIZE * 3);
  let s = seed | 1;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      const o = (y * SIZE + x) * 3;
      px[o] = (x + seed * 7 + (s & 31)) & 255;
      px[o + 1] = (y + seed * 13 + ((s >> 5) & 31)) & 255;
      px[o + 2] = ((x ^ y) + seed + ((s >> 10) & 31)) & 255;
    }
  }
  return px;
}

const log = (msg: string): void => console.log(msg);
const t0 = performance.now();
let bytes = 0;
for (let k = 0; k < N; k += 64) {
  await Promise.all(
    Array.from({ length: Math.min(64, N - k) }, async (_, j) => {
      const i = k + j;
      const jpg = await sharp(photoLike(i), { raw: { width: SIZE, height: SIZE, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
      bytes += jpg.length;
      const sub = path.join(root, `d${String(i % 20).padStart(2, "0")}`);
      fs.mkdirSync(sub, { recursive: true });
      fs.writeFileSync(path.join(sub, `img-${String(i).padStart(6, "0")}.jpg`), jpg);
    }),
  );
}
log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`);
log(`generated ${N} JPEGs ${SIZE}x${SIZE} q90 (${(bytes / N / 1024).toFixed(1)} KiB avg) in ${((performance.now() - t0) / 1000).toFixed(1)} s; cache S=${S}`);

let t = performance.now();
const listing = listImageFolder(root);
log(`list: ${listing.filenames.length} files in ${(performance.now() - t).toFixed(0)} ms`);

for (const c of CONCURRENCY) {
  const cacheDir = path.join(tmp, `cache-c${c}`);
  t = performance.now();
  const cache = await buildImageCache(root, { cacheDir, resolution: S, concurrency: c });
  const ms = performance.now() - t;
  log(`cold build, concurrency ${c}: ${(ms / 1000).toFixed(2)} s = ${(N / (ms / 1000)).toFixed(0)} img/s (decoded ${cache.stats.decoded}, failed ${cache.stats.failed})`);
  cache.close();
}

const cacheDir = path.join(tmp, `cache-c${CONCURRENCY[0]}`);
t = performance.now();
const cache = await buildImageCache(root, { cacheDir, resolution: S });
log(`warm re-run (list + stat + index, no decoding): ${(performance.now() - t).toFixed(0)} ms, decoded ${cache.stats.decoded}`);
const slabMB = (cache.length * cache.stride) / 1024 / 1024;

const out = Buffer.allocUnsafeSlow(BATCH * cache.stride);
const order = Int32Array.from({ length: cache.length }, (_, i) => i);
function epoch(shuffle: boolean): number {
  if (shuffle) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  } else order.forEach((_, i) => (order[i] = i));
  const s = performance.now();
  for (let b = 0; b < order.length; b += BATCH) cache.readBatch(order.subarray(b, b + BATCH), out);
  return performance.now() - s;
}
epoch(false); // page cache warm
for (const shuffle of [false, true]) {
  const ms = Math.min(epoch(shuffle), epoch(shuffle), epoch(shuffle));
  log(`readBatch ${shuffle ? "shuffled" : "in order"} (B=${BATCH}, page cache warm, best of 3): ${ms.toFixed(1)} ms/epoch = ${(cache.length / (ms / 1000)).toFixed(0)} img/s, ${(slabMB / (ms / 1000)).toFixed(0)} MB/s`);
}
const devices = ["cpu", ...(torch.cuda.isAvailable() ? ["cuda"] : [])];
for (const device of devices) {
  torch.scope(() => cache.batchTensor(order.subarray(0, BATCH), device));
  const s = performance.now();
  for (let b = 0; b < order.length; b += BATCH) {
    torch.scope(() => {
      cache.batchTensor(order.subarray(b, b + BATCH), device);
    });
  }
  if (device === "cuda") torch.cuda.synchronize();
  const ms = performance.now() - s;
  log(`batchTensor → ${device} [${BATCH},3,${S},${S}] uint8, shuffled: ${ms.toFixed(0)} ms/epoch = ${(cache.length / (ms / 1000)).toFixed(0)} img/s`);
}
log(`slab: ${slabMB.toFixed(1)} MB for ${cache.length} images (${cache.stride} B each)`);
cache.close();
fs.rmSync(tmp, { recursive: true, force: true });
