// Writes samples/fashion-mnist: the first `perClass` images of each of the ten classes of
// Fashion-MNIST's test split (read from Debian's dataset-fashion-mnist idx files), as 28×28
// greyscale PNGs named <class>-<index in the test split>.png, plus the data set's licence notice.
// Deterministic: `npx tsx scripts/make-fashion-samples.ts [dir] [perClass]` (defaults: samples/fashion-mnist 40).
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import sharp from "sharp";

const SOURCE = "/usr/share/datasets/fashion-mnist";
const CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"];
const dir = process.argv[2] ?? "samples/fashion-mnist";
const perClass = Number(process.argv[3] ?? 40);

/** An idx file (gzip-compressed, unsigned bytes): its dimensions and data. */
function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: apt-get install dataset-fashion-mnist`);
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const magic = buf.readUInt32BE(0);
  if (magic >> 8 !== 0x08) throw new Error(`${file}: magic 0x${magic.toString(16)}, expected an unsigned-byte idx file (0x08xx)`);
  const dims = Array.from({ length: magic & 0xff }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * dims.length;
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, buf.length - start) };
}

const images = readIdx(path.join(SOURCE, "t10k-images-idx3-ubyte.gz"));
const labels = readIdx(path.join(SOURCE, "t10k-labels-idx1-ubyte.gz"));
const [count, h, w] = images.dims as [number, number, number];

fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
const taken = new Array<number>(CLASSES.length).fill(0);
let written = 0;
for (let i = 0; i < count && written < perClass * CLASSES.length; i++) {
  const label = labels.data[i]!;
  if (taken[label]! >= perClass) continue;
  taken[label]!++;
  const pixels = images.data.subarray(i * h * w, (i + 1) * h * w);
  const png = await sharp(Buffer.from(pixels), { raw: { width: w, height: h, channels: 1 } }).png({ compressionLevel: 9 }).toBuffer();
  fs.writeFileSync(path.join(dir, `${CLASSES[label]}-${String(i).padStart(5, "0")}.png`), png);
  written++;
}
fs.writeFileSync(path.join(dir, "LICENSE.txt"), `The images in this folder are from Fashion-MNIST (test split), https://github.com/zalandoresearch/fashion-mnist,
as packaged by Debian (dataset-fashion-mnist), written as PNG by scripts/make-fashion-samples.ts.

The MIT License (MIT)

Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`);
console.log(`${dir}: ${written} images (${perClass} per class: ${CLASSES.join(", ")})`);
