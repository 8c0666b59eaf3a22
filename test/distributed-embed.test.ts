// Embedding sharded over 2 CPU ranks (Gloo on loopback), gathered in file order on rank 0: the same
// embeddings.csv as one process (within 1e-5), written by rank 0 only, rank 1's weights coming from
// rank 0 (rank 1 builds its model unseeded, so a missing broadcast shows); no tensors or groups left.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import { parseLightlyConfig } from "../src/config/lightly-config.js";
import { prepareImages, embedImages } from "../src/pipeline/index.js";
import { readEmbeddingsCsv } from "../src/run/embeddings-csv.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";
import { freePort, startRank } from "./helpers/dist-spawn.js";

torch.setNumThreads(1);
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "helpers", "dist-embed-rank.ts");
// 7 images in batches of 3: 3 batches over 2 ranks, so the last round has a short batch on rank 0
// and none on rank 1 (padding both ways).
const raw = {
  model: { name: "resnet-9", width: 0.125, num_ftrs: 8, out_dim: 16 },
  loader: { batch_size: 3 }, trainer: { gpus: 0, max_epochs: 1 }, collate: { input_size: 16 }, seed: 7,
};
let root: string;

before(async () => {
  root = tempDir("winnow-dist-embed-");
  await writePatternFolder(path.join(root, "images"), 7, 24);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

async function twoRanks(extraEnv: Record<string, string> = {}): Promise<any[]> {
  const port = await freePort();
  const env = {
    WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), DIST_CONFIG: JSON.stringify(raw),
    DIST_IMAGES: path.join(root, "images"), DIST_CACHE: path.join(root, "cache"), DIST_OUT: path.join(root, "sharded"), ...extraEnv,
  };
  const ranks = [0, 1].map((r) => startRank(process.execPath, ["--import", "tsx", SCRIPT], { ...env, RANK: String(r), LOCAL_RANK: String(r) }));
  const out = await Promise.all(ranks.map((r) => r.line((o) => "rank" in o)));
  assert.deepEqual(await Promise.all(ranks.map((r) => r.exit)), [0, 0], ranks.map((r) => r.stderr).join("\n"));
  return out;
}

test("2 CPU ranks give the one-process embeddings.csv (file order, within 1e-5); only rank 0 writes", { timeout: 120_000 }, async () => {
  const config = parseLightlyConfig(raw);
  const cache = await prepareImages(path.join(root, "images"), { cacheDir: path.join(root, "cache"), config });
  const before = torch.liveTensors();
  const one = embedImages({ cache, config, outDir: path.join(root, "single") });
  cache.close();
  assert.equal(torch.liveTensors(), before);

  const [r0, r1] = await twoRanks();
  assert.deepEqual(r0.files, ["embeddings.csv", "embeddings.f32", "embeddings.json"]);
  assert.deepEqual(r1.files, [], "rank 1 writes nothing");
  for (const r of [r0, r1]) {
    assert.equal(r.n, 7);
    assert.equal(r.leaked, 0, `rank ${r.rank}: live tensors`);
    assert.equal(r.groups, 0);
  }
  const a = readEmbeddingsCsv(one.csvPath!);
  const b = readEmbeddingsCsv(r0.csv);
  assert.deepEqual(b.filenames, a.filenames);
  assert.equal(b.d, 8);
  let maxDiff = 0;
  for (let i = 0; i < a.values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.values[i]! - b.values[i]!));
  assert.ok(maxDiff <= 1e-5, `max |difference| ${maxDiff}`);
  assert.ok(a.values.some((v) => v !== 0));
});
