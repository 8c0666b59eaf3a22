// The cache index's on-disk format is stable: an index.bin written before the cache was split into
// src/data/cache/ (commit 4d6a05e: 3 files, a duplicate and an undecodable one, S = 4) still opens,
// and re-encoding it gives the same bytes. Also: leftover temp files of an interrupted index write go.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { openImageCache, buildImageCache } from "../src/data/cache.js";
import { decodeIndex, encodeIndex } from "../src/data/cache/index-format.js";
import { solid, tempDir, write } from "./helpers/data-images.js";
import { WinnowError } from "../src/util/errors.js";

const GOLDEN = Buffer.from(
  "V0lOTk9XSUMBAAAAHwIAAHsic2V0dGluZ3MiOnsidmVyc2lvbiI6MSwicmVzb2x1dGlvbiI6NCwicm9vdCI6Ii90bXAvd2lubm93LWdvbGRlbi1pbmRleC9pbWFnZXMiLCJhdXRvT3JpZW50IjpmYWxzZSwiZmFpbE9uIjoiZXJyb3IiLCJrZXJuZWwiOiJsYW5jem9zMyJ9LCJsaW1pdHMiOnsibWF4UGl4ZWxzIjoxNzg5NTY5NzAsIm1heEZpbGVCeXRlcyI6MTA3Mzc0MTgyNH0sInNsYWIiOiJzbGFiLW14Y3VzZHZoLnU4Iiwic2xvdENvdW50IjoyLCJjb21wbGV0ZSI6dHJ1ZSwiY291bnQiOjMsImNvbHVtbnMiOnsic2l6ZXMiOlswLDI0XSwibXRpbWVzTnMiOlsyNCwyNF0sInNsb3RzIjpbNDgsMTJdLCJ3aWR0aHMiOls2NCwxMl0sImhlaWdodHMiOls4MCwxMl0sInNoYTI1NiI6Wzk2LDk2XX0sImZpbGVuYW1lcyI6WyJhLnBuZyIsImIucG5nIiwiYy5wbmciXSwiZmFpbHVyZXMiOltbMiwidW5zdXBwb3J0ZWQiLCJub3QgYSBzdXBwb3J0ZWQgaW1hZ2UgKG5vIEpQRUcvUE5HL1dlYlAvR0lGL1RJRkYvQk1QIHNpZ25hdHVyZSkiXV0sInJlZnVzZWQiOltdLCJoaWRkZW5Ta2lwcGVkIjowfQAAAAAAAEBXQAAAAAAAQFdAAAAAAAAAEEAAACo2/pyXFwAAKjb+nJcXAAAqNv6clxcAAAAAAQAAAP////8AAAAABAAAAAQAAAAAAAAAAAAAAAYAAAAGAAAAAAAAAAAAAAA5JEAOebQlNU9qLbC2a7OKv+1N6Fol61xcx53qVJA4eTkkQA55tCU1T2otsLZrs4q/7U3oWiXrXFzHnepUkDh5AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
  "base64",
);
const SLAB = "slab-mxcusdvh.u8";

const base = tempDir();
after(() => fs.rmSync(base, { recursive: true, force: true }));
let made = 0;
const mk = (): string => {
  const d = path.join(base, String(made++));
  fs.mkdirSync(d);
  return d;
};

test("an index written by the pre-split code decodes to its entries and re-encodes to the same bytes", () => {
  const idx = decodeIndex(GOLDEN);
  assert.ok(idx);
  const e = idx.entries;
  assert.deepEqual(e.filenames, ["a.png", "b.png", "c.png"]);
  assert.deepEqual([...e.slots], [0, 1, -1]);
  assert.deepEqual([...e.widths], [4, 4, 0]);
  assert.deepEqual([...e.heights], [6, 6, 0]);
  assert.deepEqual([...e.mtimesNs], [1_700_000_000_000_000_000n, 1_700_000_000_000_000_000n, 1_700_000_000_000_000_000n]);
  assert.equal(e.sizes[2], 4);
  assert.deepEqual([...e.failures.keys()], [2]);
  assert.equal(e.failures.get(2)!.code, "unsupported");
  assert.equal(idx.slab, SLAB);
  assert.equal(idx.slotCount, 2);
  assert.equal(idx.complete, true);
  assert.equal(idx.settings.resolution, 4);
  assert.ok(encodeIndex(idx).equals(GOLDEN), "encodeIndex gives the bytes the pre-split writer gave");
});

test("openImageCache opens the pre-split index with its slab: duplicates, failures and pixels", () => {
  const dir = mk();
  fs.writeFileSync(path.join(dir, "index.bin"), GOLDEN);
  const stride = 4 * 4 * 3;
  const slab = Buffer.alloc(2 * stride);
  slab.fill(7, 0, stride);
  slab.fill(9, stride);
  fs.writeFileSync(path.join(dir, SLAB), slab);
  const c = openImageCache(dir);
  try {
    assert.deepEqual(c.filenames, ["a.png"]);
    assert.deepEqual(c.duplicates, [{ filename: "b.png", duplicateOf: "a.png" }]);
    assert.deepEqual(c.corruptFilenames.map((f) => [f.filename, f.code]), [["c.png", "unsupported"]]);
    const b = c.readBatch([0]);
    assert.deepEqual([...b.origSizes], [4, 6]);
    assert.ok(b.data.every((v) => v === 7));
  } finally {
    c.close();
  }
  const keep = openImageCache(dir, { removeExactDuplicates: false });
  try {
    assert.deepEqual(keep.filenames, ["a.png", "b.png"]);
    assert.ok(keep.readBatch([1]).data.every((v) => v === 9));
  } finally {
    keep.close();
  }
});

test("a missing index is a WinnowError not_found naming the folder", () => {
  const dir = mk();
  assert.throws(() => openImageCache(dir), (e: unknown) => e instanceof WinnowError && e.code === "not_found" && e.where === dir && /no complete image cache/.test(e.message));
});

test("temp files of an interrupted index write (old and new names) are removed by the next build", async () => {
  const root = mk();
  write(root, "a.png", await solid("png", 5, 5, [10, 20, 30]));
  const cacheDir = mk();
  const first = await buildImageCache(root, { cacheDir, resolution: 4 });
  first.close();
  const leftovers = ["index.bin.tmp-123", ".index.bin.tmp-123-abcd0123"];
  for (const f of leftovers) fs.writeFileSync(path.join(first.dir, f), "partial");
  const second = await buildImageCache(root, { cacheDir, resolution: 4 });
  second.close();
  assert.equal(second.stats.decoded, 0);
  const names = fs.readdirSync(second.dir);
  for (const f of leftovers) assert.ok(!names.includes(f), `${f} removed: ${names.join(", ")}`);
  assert.deepEqual(names.filter((n) => n.includes("tmp")), []);
});
