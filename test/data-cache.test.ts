// The decode-once cache: reuse across runs, invalidation, batches, tensors, compaction, crashes, locks.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { buildImageCache, openImageCache, cacheSizeFor, type BuildOptions } from "../src/data/cache.js";
import { solid, tempDir, write, type RGB } from "./helpers/data-images.js";
import { prepareImages } from "../src/pipeline/dataset.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";

const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const S = 6;
const colorOf = (k: number): RGB => [(k * 37) % 256, (k * 91 + 20) % 256, (k * 53 + 7) % 256];

/** Folder with n solid PNGs "img-XX.png" of colour colorOf(XX) and size (8+XX)×(5+XX). */
async function folder(n: number): Promise<string> {
  const root = mk();
  for (let k = 0; k < n; k++) write(root, `img-${String(k).padStart(2, "0")}.png`, await solid("png", 8 + k, 5 + k, colorOf(k)));
  return root;
}

function pixelOf(data: Uint8Array, b: number, at = 0): number[] {
  const o = b * S * S * 3 + at * 3;
  return [...data.subarray(o, o + 3)];
}

async function build(root: string, cacheDir: string, extra: Partial<BuildOptions> = {}) {
  return buildImageCache(root, { cacheDir, resolution: S, ...extra });
}

function bumpMtime(p: string, seconds = 10): void {
  const st = fs.statSync(p);
  const t = new Date(st.mtimeMs + seconds * 1000);
  fs.utimesSync(p, t, t);
}

describe("reuse and invalidation", () => {
  test("a second run decodes nothing and returns the same images", async () => {
    const root = await folder(6);
    const cacheDir = mk();
    const a = await build(root, cacheDir);
    const b = await build(root, cacheDir);
    try {
      assert.equal(a.stats.decoded, 6);
      assert.equal(a.stats.reused, 0);
      assert.equal(b.stats.decoded, 0);
      assert.equal(b.stats.reused, 6);
      assert.deepEqual(b.filenames, a.filenames);
      assert.deepEqual([...b.widths], [8, 9, 10, 11, 12, 13]);
      assert.deepEqual([...b.heights], [5, 6, 7, 8, 9, 10]);
      const all = [0, 1, 2, 3, 4, 5];
      assert.deepEqual(Buffer.from(b.readBatch(all).data), Buffer.from(a.readBatch(all).data));
      assert.equal(fs.readdirSync(cacheDir).length, 1, "one cache folder for one resolution");
    } finally {
      a.close();
      b.close();
    }
  });

  test("changed size or mtime, new, deleted and repaired files: only those are decoded", async () => {
    const root = await folder(5);
    const cacheDir = mk();
    write(root, "broken.png", "not an image");
    (await build(root, cacheDir)).close();
    // Same content, newer mtime.
    bumpMtime(path.join(root, "img-01.png"));
    // New content (another size): colour changes.
    write(root, "img-02.png", await solid("png", 30, 30, [1, 2, 3]));
    fs.rmSync(path.join(root, "img-03.png"));
    write(root, "new.png", await solid("png", 4, 4, [250, 0, 0]));
    let c = await build(root, cacheDir);
    try {
      assert.equal(c.stats.decoded, 3, "img-01 (mtime), img-02 (content), new.png");
      assert.equal(c.stats.reused, 3, "img-00, img-04, broken.png (cached failure)");
      assert.deepEqual(c.filenames, ["img-00.png", "img-01.png", "img-02.png", "img-04.png", "new.png"]);
      const d = c.readBatch([2, 4, 1]).data;
      assert.deepEqual(pixelOf(d, 0), [1, 2, 3]);
      assert.deepEqual(pixelOf(d, 1), [250, 0, 0]);
      assert.deepEqual(pixelOf(d, 2), colorOf(1));
      assert.deepEqual(c.corruptFilenames.map((f) => f.filename), ["broken.png"]);
    } finally {
      c.close();
    }
    // The broken file is repaired: it is decoded and joins the dataset.
    write(root, "broken.png", await solid("png", 4, 4, [0, 0, 250]));
    bumpMtime(path.join(root, "broken.png"), 20);
    c = await build(root, cacheDir);
    try {
      assert.equal(c.stats.decoded, 1);
      assert.deepEqual(c.corruptFilenames, []);
      assert.equal(c.filenames[0], "broken.png");
      assert.deepEqual(pixelOf(c.readBatch([0]).data, 0), [0, 0, 250]);
    } finally {
      c.close();
    }
  });

  test("cached failures are not retried, except limit failures when the limits change", async () => {
    const root = await folder(2);
    write(root, "junk.jpg", "junk");
    const cacheDir = mk();
    (await build(root, cacheDir, { maxPixels: 80 })).close(); // img-01 is 9×6 = 54, img-00 8×5 = 40
    let c = await build(root, cacheDir, { maxPixels: 80 });
    assert.equal(c.stats.decoded, 0);
    c.close();
    c = await build(root, cacheDir, { maxPixels: 50 });
    try {
      assert.equal(c.stats.decoded, 0, "lowering the limit refuses img-01 from the index, without decoding");
      assert.deepEqual(c.filenames, ["img-00.png"]);
      assert.deepEqual(c.corruptFilenames.map((f) => [f.filename, f.code]), [["img-01.png", "too_many_pixels"], ["junk.jpg", "unsupported"]]);
    } finally {
      c.close();
    }
    c = await build(root, cacheDir, { maxPixels: 1000 });
    try {
      assert.equal(c.stats.decoded, 0, "img-01 still has its pixels from the first build");
      assert.deepEqual(c.filenames, ["img-00.png", "img-01.png"]);
    } finally {
      c.close();
    }
    // A file first refused by the limit is decoded once the limit allows it.
    write(root, "large.png", await solid("png", 20, 20, [1, 1, 1]));
    (await build(root, cacheDir, { maxPixels: 100 })).close();
    c = await build(root, cacheDir, { maxPixels: 1000 });
    try {
      assert.equal(c.stats.decoded, 1);
      assert.ok(c.filenames.includes("large.png"));
    } finally {
      c.close();
    }
  });

  test("each resolution (and decode setting) has its own cache; both are reused", async () => {
    const root = await folder(3);
    const cacheDir = mk();
    (await build(root, cacheDir)).close();
    (await buildImageCache(root, { cacheDir, resolution: 9 })).close();
    (await build(root, cacheDir, { kernel: "linear" })).close();
    assert.equal(fs.readdirSync(cacheDir).length, 3);
    const a = await build(root, cacheDir);
    const b = await buildImageCache(root, { cacheDir, resolution: 9 });
    try {
      assert.equal(a.stats.decoded + b.stats.decoded, 0);
      assert.equal(b.resolution, 9);
      assert.equal(b.readBatch([0]).data.length, 9 * 9 * 3);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(cacheSizeFor(64), 72);
    assert.equal(cacheSizeFor(224), 252);
    assert.equal(cacheSizeFor(1), 1);
  });

  test("a new input_size rebuilds the cache; a new min_scale reuses it (crop boxes are drawn at training time, in the original's pixels)", async () => {
    const root = await folder(3);
    const cacheDir = mk();
    const cfg = (input: number, minScale: number) => parseLightlyConfig({ collate: { input_size: input, min_scale: minScale } });
    const prep = (input: number, minScale: number) => prepareImages(root, { cacheDir, config: cfg(input, minScale) });
    const a = await prep(16, 0.25);
    assert.deepEqual([a.resolution, a.stats.decoded], [18, 3]);
    const first = Buffer.from(a.readBatch([0, 1, 2]).data);
    a.close();
    const b = await prep(20, 0.25); // input_size changed: S 23, decoded anew
    assert.deepEqual([b.resolution, b.stats.decoded], [23, 3]);
    b.close();
    const c = await prep(16, 0.6); // min_scale changed: same S, nothing decoded, the same pixels
    assert.deepEqual([c.resolution, c.stats.decoded, c.stats.reused], [18, 0, 3]);
    assert.ok(Buffer.from(c.readBatch([0, 1, 2]).data).equals(first));
    c.close();
    assert.equal(fs.readdirSync(cacheDir).length, 2);
  });
});

describe("batches", () => {
  test("readBatch: arbitrary indices and repeats, reused out buffer, original sizes, bounds", async () => {
    const root = await folder(8);
    const c = await build(root, mk());
    try {
      const idx = Int32Array.from([7, 0, 3, 3, 4, 5, 6, 1]);
      const out = Buffer.alloc(10 * S * S * 3, 0xee);
      const b = c.readBatch(idx, out);
      assert.deepEqual(b.shape, [8, S, S, 3]);
      assert.equal(b.data.buffer, out.buffer, "a view of out");
      assert.equal(b.data.length, 8 * S * S * 3);
      for (let k = 0; k < idx.length; k++) {
        for (let p = 0; p < S * S; p++) assert.deepEqual(pixelOf(b.data, k, p), colorOf(idx[k]!), `batch ${k} pixel ${p}`);
        assert.deepEqual([b.origSizes[2 * k], b.origSizes[2 * k + 1]], [8 + idx[k]!, 5 + idx[k]!]);
      }
      assert.equal(out[8 * S * S * 3], 0xee, "nothing written past the batch");
      const again = c.readBatch([1, 2], out);
      assert.deepEqual(pixelOf(again.data, 1), colorOf(2));
      assert.equal(c.readBatch([]).data.length, 0);
      assert.throws(() => c.readBatch([8]), RangeError);
      assert.throws(() => c.readBatch([-1]), RangeError);
      assert.throws(() => c.readBatch([0.5]), RangeError);
      assert.throws(() => c.readBatch([0, 1, 2], Buffer.alloc(2 * S * S * 3)), RangeError);
      assert.match(c.sha256(0), /^[0-9a-f]{64}$/);
    } finally {
      c.close();
    }
    assert.throws(() => c.readBatch([0]), /closed/);
  });

  test("batchTensor: uint8 [B,3,S,S] (NCHW), channels_last view option, no tensor leaks", async () => {
    const root = await folder(4);
    const c = await build(root, mk());
    const live = torch.liveTensors();
    try {
      const idx = [2, 0, 3];
      const t = c.batchTensor(idx);
      assert.deepEqual(t.shape, [3, 3, S, S]);
      assert.equal(t.dtype, "uint8");
      assert.equal(t.device, "cpu");
      assert.ok(t.isContiguous());
      const v = t.toArray();
      for (let k = 0; k < 3; k++) {
        for (let ch = 0; ch < 3; ch++) {
          for (let p = 0; p < S * S; p++) assert.equal(v[((k * 3 + ch) * S * S) + p], colorOf(idx[k]!)[ch]);
        }
      }
      const cl = c.batchTensor(idx, "cpu", { memoryFormat: "channels_last" });
      assert.deepEqual(cl.shape, [3, 3, S, S]);
      assert.ok(cl.isContiguous("channels_last"));
      assert.deepEqual(cl.toArray(), v);
      const sizes = c.origSizesTensor(idx);
      assert.deepEqual(sizes.shape, [3, 2]);
      assert.deepEqual(sizes.toArray(), [10, 7, 8, 5, 11, 8]);
      t.dispose();
      cl.dispose();
      sizes.dispose();
      // Inside a scope the batch is freed with the rest.
      torch.scope(() => {
        c.batchTensor([0, 1]).float().mean();
      });
      assert.equal(torch.liveTensors(), live);
    } finally {
      c.close();
    }
  });

  test("openImageCache reopens a built cache (another process would) with the same view", async () => {
    const root = await folder(4);
    write(root, "dup.png", fs.readFileSync(path.join(root, "img-00.png")));
    write(root, "bad.png", "x");
    const a = await build(root, mk());
    const b = openImageCache(a.dir);
    const c = openImageCache(a.dir, { removeExactDuplicates: false });
    try {
      assert.deepEqual(b.filenames, a.filenames);
      assert.deepEqual(b.corruptFilenames, a.corruptFilenames);
      assert.deepEqual(b.duplicates, a.duplicates);
      assert.equal(c.length, a.length + 1);
      assert.deepEqual(Buffer.from(b.readBatch([0, 1, 2, 3]).data), Buffer.from(a.readBatch([0, 1, 2, 3]).data));
    } finally {
      a.close();
      b.close();
      c.close();
    }
    assert.throws(() => openImageCache(mk()), /no complete image cache/);
  });
});

describe("robustness", () => {
  test("the slab is compacted when more than half of it is garbage; data stays right", async () => {
    const root = await folder(10);
    const cacheDir = mk();
    const first = await build(root, cacheDir);
    const dir = first.dir;
    first.close();
    for (let k = 2; k < 10; k++) fs.rmSync(path.join(root, `img-${String(k).padStart(2, "0")}.png`));
    write(root, "img-01.png", await solid("png", 3, 3, [9, 8, 7])); // changed: a new slot
    bumpMtime(path.join(root, "img-01.png"));
    const c = await build(root, cacheDir);
    try {
      assert.equal(c.stats.compacted, true);
      const slabs = fs.readdirSync(dir).filter((f) => f.startsWith("slab-"));
      assert.equal(slabs.length, 1, "the old slab file is removed");
      assert.equal(fs.statSync(path.join(dir, slabs[0]!)).size, 2 * S * S * 3);
      const d = c.readBatch([0, 1]).data;
      assert.deepEqual(pixelOf(d, 0), colorOf(0));
      assert.deepEqual(pixelOf(d, 1), [9, 8, 7]);
    } finally {
      c.close();
    }
    const again = await build(root, cacheDir);
    assert.equal(again.stats.decoded, 0);
    again.close();
  });

  test("an interrupted build keeps its checkpointed work, releases the lock, and the next run resumes", async () => {
    const root = await folder(12);
    const cacheDir = mk();
    let calls = 0;
    await assert.rejects(
      build(root, cacheDir, {
        concurrency: 1,
        checkpointEvery: 3,
        onProgress: () => {
          if (++calls === 8) throw new Error("interrupted");
        },
      }),
      /interrupted/,
    );
    const c = await build(root, cacheDir);
    try {
      assert.ok(c.stats.reused >= 6 && c.stats.reused <= 7, `reused ${c.stats.reused}`);
      assert.equal(c.stats.decoded + c.stats.reused, 12);
      assert.equal(c.length, 12);
      const d = c.readBatch(Array.from({ length: 12 }, (_, k) => k)).data;
      for (let k = 0; k < 12; k++) assert.deepEqual(pixelOf(d, k), colorOf(k));
      assert.ok(!fs.existsSync(path.join(c.dir, "lock")));
    } finally {
      c.close();
    }
  });

  test("a damaged index or slab means a clean rebuild, not wrong pixels", async () => {
    const root = await folder(3);
    const cacheDir = mk();
    const a = await build(root, cacheDir);
    const dir = a.dir;
    a.close();
    fs.writeFileSync(path.join(dir, "index.bin"), "garbage");
    let c = await build(root, cacheDir);
    assert.equal(c.stats.decoded, 3);
    c.close();
    const slab = fs.readdirSync(dir).find((f) => f.startsWith("slab-"))!;
    fs.truncateSync(path.join(dir, slab), 10);
    c = await build(root, cacheDir);
    try {
      assert.equal(c.stats.decoded, 3);
      assert.deepEqual(pixelOf(c.readBatch([2]).data, 0), colorOf(2));
    } finally {
      c.close();
    }
  });

  test("two builds of one cache at once: the second waits for the lock and reuses the first's work", async () => {
    const root = await folder(6);
    const cacheDir = mk();
    const [a, b] = await Promise.all([build(root, cacheDir), build(root, cacheDir)]);
    try {
      assert.deepEqual([a.stats.decoded, b.stats.decoded].sort(), [0, 6]);
      assert.deepEqual(Buffer.from(a.readBatch([0, 5]).data), Buffer.from(b.readBatch([0, 5]).data));
    } finally {
      a.close();
      b.close();
    }
  });

  test("a stale lock (its process is gone) is taken over; a live one times out", async () => {
    const root = await folder(2);
    const cacheDir = mk();
    const a = await build(root, cacheDir);
    const dir = a.dir;
    a.close();
    const host = (await import("node:os")).hostname();
    fs.writeFileSync(path.join(dir, "lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host }));
    const b = await build(root, cacheDir, { lockTimeoutMs: 1000 });
    b.close();
    fs.writeFileSync(path.join(dir, "lock"), JSON.stringify({ pid: process.ppid, host }));
    await assert.rejects(build(root, cacheDir, { lockTimeoutMs: 300 }), /being built by another process/);
    fs.rmSync(path.join(dir, "lock"));
  });
});
