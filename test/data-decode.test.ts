// Decoding: pixel values per format, BMP against PIL, and bad files skipped with their reasons.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import sharp from "sharp";
import { decodeToSquare, sniffFormat, type DecodeOptions } from "../src/data/decode.js";
import { decodeBmp } from "../src/data/bmp.js";
import { buildImageCache, DEFAULT_MAX_PIXELS } from "../src/data/cache.js";
import {
  bmp24, bmp565, bmp8, bmpBomb, pngBomb, quadrants, randomBytes, rawPng, solid, tempDir, write, type RGB,
} from "./helpers/data-images.js";

const OPTS: DecodeOptions = { maxPixels: DEFAULT_MAX_PIXELS, autoOrient: false, failOn: "error", kernel: "lanczos3" };
const dirs: string[] = [];
const mk = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function assertSolid(px: Uint8Array, c: RGB, tol: number, label: string): void {
  for (let i = 0; i < px.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      if (Math.abs(px[i + k]! - c[k]!) > tol) assert.fail(`${label}: pixel ${i / 3} channel ${k} is ${px[i + k]}, expected ${c[k]} ±${tol}`);
    }
  }
}

describe("decodeToSquare", () => {
  const color: RGB = [200, 30, 90];
  for (const [format, tol] of [["png", 0], ["webp", 0], ["tiff", 0], ["gif", 0], ["jpeg", 2]] as const) {
    test(`${format}: a solid 40x20 image gives the colour everywhere, original size kept`, async () => {
      const bytes = await solid(format, 40, 20, format === "gif" ? [255, 0, 0] : color);
      const d = await decodeToSquare(bytes, 16, OPTS);
      assert.equal(d.format, format);
      assert.equal(d.pixels.length, 16 * 16 * 3);
      assert.deepEqual([d.width, d.height], [40, 20]);
      assertSolid(d.pixels, format === "gif" ? [255, 0, 0] : color, tol, format);
    });
  }

  test("bmp: hand-written 24-bit (bottom-up and top-down), 8-bit palette, 16-bit 5-6-5", async () => {
    const d24 = await decodeToSquare(bmp24(Buffer.alloc(30 * 10 * 3).fill(Buffer.from(color)), 30, 10), 8, OPTS);
    assert.equal(d24.format, "bmp");
    assert.deepEqual([d24.width, d24.height], [30, 10]);
    assertSolid(d24.pixels, color, 0, "bmp24");
    const q = quadrants(32, 32);
    for (const topDown of [false, true]) {
      const raw = decodeBmp(bmp24(q, 32, 32, topDown), 1e9);
      assert.deepEqual(Buffer.from(raw.data), q, `topDown=${topDown}`);
    }
    const idx = new Uint8Array(12 * 6).map((_, i) => i % 3);
    const pal: RGB[] = [[255, 0, 0], [0, 128, 0], [1, 2, 3]];
    const r8 = decodeBmp(bmp8(idx, 12, 6, pal), 1e9);
    for (let i = 0; i < 12 * 6; i++) assert.deepEqual([...r8.data.subarray(i * 3, i * 3 + 3)], pal[i % 3]);
    const r16 = decodeBmp(bmp565(Buffer.alloc(5 * 3 * 3).fill(Buffer.from([255, 255, 0])), 5, 3), 1e9);
    assertSolid(r16.data, [255, 255, 0], 0, "bmp565");
  });

  test("orientation and channel order survive the resize (quadrants of a 64x32 PNG)", async () => {
    const d = await decodeToSquare(await rawPng(quadrants(64, 32), 64, 32), 16, OPTS);
    const at = (x: number, y: number): number[] => [...d.pixels.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)];
    assert.deepEqual(at(0, 0), [255, 0, 0]);
    assert.deepEqual(at(15, 0), [0, 255, 0]);
    assert.deepEqual(at(0, 15), [0, 0, 255]);
    assert.deepEqual(at(15, 15), [255, 255, 255]);
  });

  test("a textured PNG equals sharp's own resize to S×S (fill, lanczos3) byte for byte", async () => {
    const w = 57, h = 31;
    const raw = randomBytes(w * h * 3, 7);
    const png = await rawPng(raw, w, h);
    const d = await decodeToSquare(png, 24, OPTS);
    const ref = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).resize(24, 24, { fit: "fill" }).raw().toBuffer();
    assert.deepEqual(Buffer.from(d.pixels), ref);
  });

  test("GIF: the first frame of an animation; RGBA, grey 16-bit and CMYK become 8-bit RGB", async () => {
    const red = await solid("png", 10, 6, [255, 0, 0]);
    const blue = await solid("png", 10, 6, [0, 0, 255]);
    const anim = await sharp([red, blue], { join: { animated: true } }).gif().toBuffer();
    assert.equal((await sharp(anim).metadata()).pages, 2);
    const g = await decodeToSquare(anim, 4, OPTS);
    assert.deepEqual([g.width, g.height], [10, 6]);
    assertSolid(g.pixels, [255, 0, 0], 0, "gif frame 0");

    const rgba = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 1 } } }).png().toBuffer();
    assertSolid((await decodeToSquare(rgba, 4, OPTS)).pixels, [10, 200, 30], 0, "rgba");
    const grey16 = await sharp(Buffer.alloc(8 * 8 * 2, 0x80), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace("grey16").png().toBuffer();
    assertSolid((await decodeToSquare(grey16, 4, OPTS)).pixels, [128, 128, 128], 0, "grey16");
    const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 10 } } }).toColourspace("cmyk").jpeg().toBuffer();
    const c = await decodeToSquare(cmyk, 4, OPTS);
    assert.equal(c.pixels.length, 4 * 4 * 3);
    assert.ok(c.pixels[0]! > 150 && c.pixels[1]! < 80 && c.pixels[2]! < 80, `cmyk → ${[...c.pixels.subarray(0, 3)]}`);
  });

  test("EXIF orientation is ignored by default (as PIL/Lightly) and applied with autoOrient", async () => {
    const jpg = await sharp(quadrants(40, 20), { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
    const plain = await decodeToSquare(jpg, 8, OPTS);
    assert.deepEqual([plain.width, plain.height], [40, 20]);
    const oriented = await decodeToSquare(jpg, 8, { ...OPTS, autoOrient: true });
    assert.deepEqual([oriented.width, oriented.height], [20, 40]);
    assert.ok(plain.pixels[0]! > 200 && plain.pixels[1]! < 60, "plain: top-left stays red");
    assert.ok(oriented.pixels[2]! > 200 && oriented.pixels[0]! < 60, "rotated 90° clockwise: blue comes to the top-left");
  });

  test("sniffFormat reads the signature, not the extension", async () => {
    assert.equal(sniffFormat(await solid("png", 2, 2, [0, 0, 0])), "png");
    assert.equal(sniffFormat(Buffer.from("GIF89a......")), "gif");
    assert.equal(sniffFormat(Buffer.from("<svg xmlns=...")), null);
    assert.equal(sniffFormat(Buffer.alloc(0)), null);
  });
});

const PY = process.env.CKPT_PYTHON ?? "/usr/bin/python3";

// PIL comes with python3-torchvision / python3-pil (scripts/setup.sh): the oracle is required.
describe("BMP against PIL (the oracle Lightly uses)", () => {
  test("PIL-written 1/8/24/32-bit BMPs and a hand-written 5-6-5 decode to PIL's RGB values", () => {
    const dir = mk();
    write(dir, "565.bmp", bmp565(randomBytes(13 * 7 * 3, 3), 13, 7));
    const code = `
import sys, json, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.RandomState(0)
rgb = rng.randint(0, 256, (9, 13, 3)).astype(np.uint8)
im = Image.fromarray(rgb)
im.save(d + "/rgb.bmp")
im.convert("1").save(d + "/mono.bmp")
im.convert("L").save(d + "/grey.bmp")
im.convert("P", palette=Image.ADAPTIVE, colors=16).save(d + "/p16.bmp")
im.convert("RGBA").save(d + "/rgba.bmp")
out = {}
for n in ["rgb", "mono", "grey", "p16", "rgba", "565"]:
    a = np.asarray(Image.open(d + "/" + n + ".bmp").convert("RGB"))
    out[n] = [a.shape[1], a.shape[0], a.reshape(-1).tolist()]
print(json.dumps(out))
`;
    const r = spawnSync(PY, ["-c", code, dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const ref = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, [number, number, number[]]>;
    for (const [name, [w, h, px]] of Object.entries(ref)) {
      const got = decodeBmp(fs.readFileSync(path.join(dir, `${name}.bmp`)), 1e9);
      assert.deepEqual([got.width, got.height], [w, h], name);
      assert.deepEqual([...got.data], px, name);
    }
  });
});

describe("bad files are skipped with their reason; the run goes on", () => {
  test("corrupt, truncated, empty, wrong content, unsupported, bombs, too large", async () => {
    const root = mk();
    const goodPng = await solid("png", 20, 20, [1, 2, 3]);
    const goodJpg = await sharp(randomBytes(64 * 64 * 3, 5), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    write(root, "good.png", goodPng);
    write(root, "random.jpg", randomBytes(5000, 11));
    write(root, "jpeg-header-garbage.jpg", Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(3000, 12)]));
    write(root, "truncated.jpg", goodJpg.subarray(0, Math.floor(goodJpg.length / 2)));
    write(root, "truncated.png", goodPng.subarray(0, goodPng.length - 20));
    write(root, "empty.png", Buffer.alloc(0));
    write(root, "text.png", "this is not an image\n");
    write(root, "svg.png", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    write(root, "bomb.png", pngBomb(100_000, 100_000));
    write(root, "bomb.bmp", bmpBomb(100_000, 100_000));
    const rle = bmp8(new Uint8Array(16), 4, 4, [[0, 0, 0]]);
    rle.writeUInt32LE(1, 30); // BI_RLE8
    write(root, "rle.bmp", rle);
    write(root, "big.png", await rawPng(randomBytes(80 * 80 * 3, 9), 80, 80)); // > 12000 bytes
    const progress: [number, number][] = [];
    const cache = await buildImageCache(root, {
      cacheDir: mk(),
      resolution: 8,
      maxFileBytes: 12_000,
      onProgress: (d, t) => progress.push([d, t]),
    });
    try {
      assert.deepEqual(cache.filenames, ["good.png"]);
      const got = Object.fromEntries(cache.corruptFilenames.map((c) => [c.filename, c]));
      const codes = Object.fromEntries(cache.corruptFilenames.map((c) => [c.filename, c.code]));
      assert.deepEqual(codes, {
        "big.png": "too_large",
        "bomb.bmp": "too_many_pixels",
        "bomb.png": "too_many_pixels",
        "empty.png": "empty",
        "jpeg-header-garbage.jpg": "corrupt",
        "random.jpg": "unsupported",
        "rle.bmp": "unsupported",
        "svg.png": "unsupported",
        "text.png": "unsupported",
        "truncated.jpg": "truncated",
        "truncated.png": "truncated",
      });
      assert.match(got["bomb.png"]!.reason, /exceeds the limit of 178956970/);
      assert.match(got["bomb.bmp"]!.reason, /100000x100000/);
      assert.match(got["rle.bmp"]!.reason, /RLE8/);
      assert.match(got["empty.png"]!.reason, /0 bytes/);
      assert.match(got["big.png"]!.reason, /limit of 12000/);
      for (const c of cache.corruptFilenames) assert.ok(c.reason.length > 5, `${c.filename} has a reason`);
      // Listed in filename order.
      assert.deepEqual(cache.corruptFilenames.map((c) => c.filename), Object.keys(codes).sort());
      assert.equal(cache.stats.failed, 11);
      // Progress: once at the start, then one call per file, ending at (total, total).
      assert.deepEqual(progress[0], [0, 12]);
      assert.deepEqual(progress.at(-1), [12, 12]);
      assert.equal(progress.length, 13);
      for (let i = 1; i < progress.length; i++) assert.equal(progress[i]![0], progress[i - 1]![0] + 1);
    } finally {
      cache.close();
    }
  });

  test("failures decoded at the same time keep their own reasons (libvips' error buffer is shared)", async () => {
    const root = mk();
    for (let k = 0; k < 16; k++) {
      const jpg = await sharp(randomBytes(64 * 64 * 3, 100 + k), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
      write(root, `t${String(k).padStart(2, "0")}.jpg`, jpg.subarray(0, Math.floor(jpg.length / 2)));
      const png = await rawPng(randomBytes(32 * 32 * 3, 200 + k), 32, 32);
      write(root, `p${String(k).padStart(2, "0")}.png`, png.subarray(0, png.length - 30));
    }
    const cache = await buildImageCache(root, { cacheDir: mk(), resolution: 8, concurrency: 8 });
    try {
      assert.equal(cache.corruptFilenames.length, 32);
      for (const c of cache.corruptFilenames) {
        assert.equal(c.code, "truncated", `${c.filename}: ${c.reason}`);
        const expected = c.filename.endsWith(".jpg") ? "jpeg: VipsJpeg: premature end of JPEG image" : "png: pngload_buffer: end of stream";
        assert.equal(c.reason, expected, c.filename);
      }
    } finally {
      cache.close();
    }
  });

  test("maxPixels is configurable", async () => {
    const root = mk();
    write(root, "a.png", await solid("png", 100, 100, [1, 2, 3]));
    write(root, "b.png", await solid("png", 50, 50, [1, 2, 3]));
    const cache = await buildImageCache(root, { cacheDir: mk(), resolution: 8, maxPixels: 5000 });
    try {
      assert.deepEqual(cache.filenames, ["b.png"]);
      assert.deepEqual(cache.corruptFilenames.map((c) => [c.filename, c.code]), [["a.png", "too_many_pixels"]]);
    } finally {
      cache.close();
    }
  });
});

describe("exact duplicates", () => {
  test("listed with the first file (filename order) they copy; dropped only when removeExactDuplicates", async () => {
    const root = mk();
    const a = await solid("png", 10, 10, [5, 5, 5]);
    const c = await solid("png", 10, 10, [6, 6, 6]);
    write(root, "b.png", a);
    write(root, "a.png", a);
    write(root, "c.png", c);
    write(root, "sub/a.png", a);
    write(root, "sub/c-copy.png", c);
    // Same pixels, different bytes: not an exact duplicate.
    write(root, "d.png", await sharp(a).png({ compressionLevel: 0 }).toBuffer());
    const cacheDir = mk();
    const dropped = await buildImageCache(root, { cacheDir, resolution: 4 });
    const kept = await buildImageCache(root, { cacheDir, resolution: 4, removeExactDuplicates: false });
    try {
      const dups = [
        { filename: "b.png", duplicateOf: "a.png" },
        { filename: "sub/a.png", duplicateOf: "a.png" },
        { filename: "sub/c-copy.png", duplicateOf: "c.png" },
      ];
      assert.deepEqual(dropped.duplicates, dups);
      assert.deepEqual(dropped.filenames, ["a.png", "c.png", "d.png"]);
      assert.deepEqual(kept.duplicates, dups);
      assert.deepEqual(kept.filenames, ["a.png", "b.png", "c.png", "d.png", "sub/a.png", "sub/c-copy.png"]);
      assert.equal(kept.stats.decoded, 0, "the second view reuses the cache");
      assert.equal(dropped.sha256(0), kept.sha256(1));
    } finally {
      dropped.close();
      kept.close();
    }
  });
});
