// Folder → cache → train → embed: corrupt files are skipped and listed, a second run decodes nothing;
// embeddings.csv is exactly lightly's format (header, CRLF, sorted filenames, str(np.float32)
// values, labels 0, Python csv quoting) and the binary form holds the same values; embedding is
// deterministic; without a checkpoint the random initialisation is said; no tensor leaks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as torch from "../src/torch/index.js";
import type { ImageCache } from "../src/data/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { train } from "../src/ssl/trainer.js";
import {
  prepareImages, embedImages, readEmbeddings, l2NormalizeRows, csvField, embeddingsCsvHeader, embeddingsCsvRows,
} from "../src/pipeline/index.js";
import { formatFloat32 } from "../src/util/float32-repr.js";
import { tempDir, write, randomBytes } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

torch.setNumThreads(1);
const FIX_CSV = "/work/shared/fixtures/lightly/embeddings-example.csv";

let root: string;
let imgDir: string;
let cache: ImageCache;
let baseline: number;
const cfg = parseLightlyConfig({
  model: { name: "resnet-9", width: 0.125, num_ftrs: 8, out_dim: 16 },
  loader: { batch_size: 5 },
  trainer: { gpus: 0, max_epochs: 1 },
  collate: { input_size: 16 },
  checkpoint_callback: { save_top_k: 0 },
  seed: 7,
});

before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-embed-");
  imgDir = path.join(root, "images");
  await writePatternFolder(imgDir, 10, 30);
  // Names that need care in a CSV, in a sub-folder; and an exact duplicate.
  await writePatternFolder(path.join(root, "extra"), 12, 30);
  fs.mkdirSync(path.join(imgDir, "sub"));
  fs.copyFileSync(path.join(root, "extra", "checker-10.png"), path.join(imgDir, "sub", "with,comma.png"));
  fs.copyFileSync(path.join(root, "extra", "rings-11.png"), path.join(imgDir, "sub", 'q"uote.png'));
  fs.copyFileSync(path.join(imgDir, "rings-03.png"), path.join(imgDir, "sub", "dup.png"));
  // Corrupt files: truncated PNG, empty file, garbage with an image extension.
  const png = fs.readFileSync(path.join(imgDir, "hstripes-00.png"));
  write(imgDir, "broken.png", png.subarray(0, Math.floor(png.length / 2)));
  write(imgDir, "empty.jpg", "");
  write(imgDir, "garbage.jpg", randomBytes(500, 3));
});
after(() => {
  cache?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test("corrupt files are skipped and listed, training still runs; a second run reuses the cache (0 decodes)", async () => {
  const logs: string[] = [];
  cache = await prepareImages(imgDir, { cacheDir: path.join(root, "cache"), config: cfg, log: (m) => logs.push(m) });
  assert.equal(cache.resolution, 18); // cacheSizeFor(16)
  assert.deepEqual(cache.corruptFilenames.map((c) => [c.filename, c.code]), [["broken.png", "truncated"], ["empty.jpg", "empty"], ["garbage.jpg", "unsupported"]]);
  assert.deepEqual(cache.duplicates, [{ filename: "sub/dup.png", duplicateOf: "rings-03.png" }]);
  assert.equal(cache.length, 12);
  assert.ok(logs.some((l) => /skipped broken\.png: truncated/.test(l)));
  assert.equal(cache.stats.decoded, 16);

  const r = await train({ cache, config: cfg, outDir: path.join(root, "train") });
  assert.equal(r.numImages, 12);
  assert.equal(r.globalStep, 2); // 12 images, batch 5, drop_last
  assert.deepEqual(r.corruptFilenames.map((c) => c.filename), ["broken.png", "empty.jpg", "garbage.jpg"]);
  assert.ok(r.notes.some((n) => /3 file\(s\) skipped .*broken\.png, empty\.jpg, garbage\.jpg/.test(n)));

  const again = await prepareImages(imgDir, { cacheDir: path.join(root, "cache"), config: cfg });
  try {
    assert.equal(again.stats.decoded, 0);
    assert.equal(again.stats.reused, 16);
    assert.deepEqual(again.filenames, cache.filenames);
    assert.deepEqual(again.corruptFilenames, cache.corruptFilenames);
  } finally {
    again.close();
  }
});

/** Parses a CSV written with Python's csv defaults (quotes only where needed), CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += 2;
    } else {
      field += c;
      i++;
    }
  }
  assert.equal(field, "", "the file ends with CRLF");
  return rows;
}

test("embeddings.csv exactly in lightly's format; the binary form holds the same values; deterministic; random init is said", () => {
  const logs: string[] = [];
  const a = embedImages({ cache, config: cfg, outDir: path.join(root, "emb-a"), log: (m) => logs.push(m) });
  assert.equal(a.weights, "random-init");
  assert.ok(a.notes.some((n) => /RANDOMLY INITIALISED/.test(n) && /Lightly.s model zoo \(lightly_config\.pre_trained/.test(n)));
  assert.ok(logs.some((l) => /RANDOMLY INITIALISED/.test(l)));
  assert.equal(a.n, 12);
  assert.equal(a.d, 8);
  assert.equal(a.inputSize, 16);

  const text = fs.readFileSync(a.csvPath!, "utf8");
  assert.ok(text.startsWith("filenames,embedding_0,embedding_1,embedding_2,embedding_3,embedding_4,embedding_5,embedding_6,embedding_7,labels\r\n"));
  assert.equal(text.replace(/\r\n/g, "").includes("\n"), false, "every line ends with CRLF");
  const rows = parseCsv(text);
  assert.equal(rows.length, 1 + cache.length);
  const sorted = [...cache.filenames].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))));
  assert.deepEqual(rows.slice(1).map((r) => r[0]), sorted);
  assert.ok(text.includes('\r\n"sub/q""uote.png",'), "quotes are quoted as Python's csv does");
  assert.ok(text.includes('\r\n"sub/with,comma.png",'));

  const { meta, values } = readEmbeddings(a.metaPath!);
  assert.deepEqual([meta.n, meta.d, meta.dtype, meta.byteOrder], [12, 8, "float32", "little"]);
  assert.deepEqual(meta.filenames, cache.filenames);
  assert.equal(meta.weights, "random-init");
  for (let i = 0; i < a.n; i++) {
    const r = rows[i + 1]!;
    assert.equal(r.length, 1 + a.d + 1);
    assert.equal(r[a.d + 1], "0");
    for (let j = 0; j < a.d; j++) {
      const v: number = values[i * a.d + j]!;
      assert.equal(r[j + 1], formatFloat32(v));
      assert.equal(Math.fround(Number(r[j + 1])), v, "the CSV text reads back to the same float32");
    }
  }
  assert.ok(values.some((v) => v !== 0));

  // Deterministic: a second run writes the same bytes.
  const b = embedImages({ cache, config: cfg, outDir: path.join(root, "emb-b") });
  assert.ok(fs.readFileSync(b.csvPath!).equals(fs.readFileSync(a.csvPath!)));
  assert.ok(fs.readFileSync(b.binaryPath!).equals(fs.readFileSync(a.binaryPath!)));
  // No temporary files left behind.
  assert.deepEqual(fs.readdirSync(path.join(root, "emb-a")).sort(), ["embeddings.csv", "embeddings.f32", "embeddings.json"]);
  assert.equal(torch.liveTensors(), baseline);
});

test("embedding a trained model and its checkpoint give the same values; the model's mode is restored", async () => {
  const r = await train({ cache, config: cfg, outDir: path.join(root, "train2"), keepModel: true });
  try {
    const model = r.model!;
    model.train();
    const fromModel = embedImages({ cache, config: cfg, outDir: path.join(root, "emb-model"), model, csv: false });
    assert.equal(fromModel.weights, "model");
    assert.equal(fromModel.csvPath, null);
    assert.equal(model.training, true, "train/eval mode restored");
    const fromCkpt = embedImages({ cache, config: cfg, outDir: path.join(root, "emb-ckpt"), checkpoint: r.lastCheckpoint!, binary: false });
    assert.equal(fromCkpt.weights, "checkpoint");
    assert.equal(fromCkpt.metaPath, null);
    const v = readEmbeddings(fromModel.metaPath!).values;
    const rows = parseCsv(fs.readFileSync(fromCkpt.csvPath!, "utf8")).slice(1);
    rows.forEach((row, i) => row.slice(1, -1).forEach((s, j) => assert.equal(s, formatFloat32(v[i * 8 + j]!))));
    const random = readEmbeddings(path.join(root, "emb-a", "embeddings.json")).values;
    assert.notDeepEqual(v, random);
  } finally {
    r.model!.dispose();
  }
  assert.equal(torch.liveTensors(), baseline);
});

test("str(np.float32) formatting: fixed cases, and numpy itself when python3 has it", () => {
  const cases: Array<[number, string]> = [
    [1.7640524, "1.7640524"], [0.978738, "0.978738"], [-0.1513572, "-0.1513572"], [0.95008844, "0.95008844"],
    [123456789, "123456790.0"], [100, "100.0"], [1, "1.0"], [0.5, "0.5"], [0.1, "0.1"], [2.5, "2.5"],
    [1e-5, "1e-05"], [1.5e-7, "1.5e-07"], [0.0001, "1e-04"], [9.9999e-5, "9.9999e-05"], [0.00012, "0.00012"],
    [1e16, "1e+16"], [1e15, "1000000000000000.0"], [3.4e38, "3.4e+38"], [1e-45, "1e-45"],
    [2 ** -30, "9.313226e-10"], [2 ** 100, "1.2676506e+30"], [0, "0.0"], [-0, "-0.0"], [NaN, "nan"], [Infinity, "inf"], [-Infinity, "-inf"],
  ];
  for (const [v, s] of cases) assert.equal(formatFloat32(v), s, `formatFloat32(${v})`);

  const py = spawnSync("/usr/bin/python3", ["-c", "import numpy"], { encoding: "utf8" });
  if (py.status !== 0) return; // no numpy here: the fixed cases above are numpy's output
  const vals = new Float32Array(3000);
  let s = 12345;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < vals.length; i++) {
    if (i % 10 === 0) vals[i] = 2 ** Math.floor(rnd() * 250 - 125) * (rnd() < 0.5 ? -1 : 1); // powers of two
    else vals[i] = (rnd() - 0.5) * Math.exp((rnd() - 0.5) * 60);
  }
  const file = path.join(root, "vals.f32");
  fs.writeFileSync(file, new Uint8Array(vals.buffer));
  const out = spawnSync("/usr/bin/python3", ["-c", `import numpy as np, sys\nprint("\\n".join(str(v) for v in np.fromfile(sys.argv[1], dtype="<f4")))`, file], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const want = out.stdout.trim().split("\n");
  const got = Array.from(vals, (v) => formatFloat32(v));
  for (let i = 0; i < vals.length; i++) assert.equal(got[i], want[i], `value ${vals[i]}`);
});

test("lightly's example CSV is reproduced byte for byte; Python's csv quoting", () => {
  if (fs.existsSync(FIX_CSV)) {
    const text = fs.readFileSync(FIX_CSV, "utf8");
    const rows = parseCsv(text);
    const d = rows[0]!.length - 2;
    const values = Float32Array.from(rows.slice(1).flatMap((r) => r.slice(1, -1).map(Number)));
    const again = embeddingsCsvHeader(d) + embeddingsCsvRows(rows.slice(1).map((r) => r[0]!), values, d);
    assert.equal(again, text);
  }
  assert.equal(csvField("a/b.png"), "a/b.png");
  assert.equal(csvField("a,b"), '"a,b"');
  assert.equal(csvField('q"x'), '"q""x"');
  assert.equal(csvField("sp ace"), "sp ace");
  assert.equal(csvField("n\nl"), '"n\nl"');
  assert.equal(embeddingsCsvHeader(2), "filenames,embedding_0,embedding_1,labels\r\n");
});

test("normalize_embeddings: rows scaled to unit length for selection, zero rows stay zero", () => {
  const v = Float32Array.from([3, 4, 0, 0, -1, 0]);
  assert.deepEqual([...l2NormalizeRows(v, 2)], [0.6000000238418579, 0.800000011920929, 0, 0, -1, 0]);
  assert.deepEqual([...v], [3, 4, 0, 0, -1, 0], "input untouched");
});
