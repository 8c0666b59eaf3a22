// The data-parallel SimCLR trainer with 2 CPU ranks over Gloo on loopback (each rank its own Node
// process running the real train()): weights after k steps equal PyTorch's own
// DistributedDataParallel run fed the same views (2 /usr/bin/python3 processes, real
// torch.distributed); the gathered-negatives NT-Xent equals the single-process loss on the
// concatenated batch (and its gradients); every image once per epoch; kill -9 of a rank → the other
// rank's train() rejects with a DistributedError within the timeout; a 2-rank checkpoint resumes on
// 1 rank; no tensors or groups left alive. Tiny model (resnet-9 width 1/8), 16 images of 24 px.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as torch from "../src/torch/index.js";
import { buildImageCache, type ImageCache } from "../src/data/index.js";
import { parseLightlyConfig, type LightlyConfigInput } from "../src/config/lightly-config.js";
import { train, ntXentLoss } from "../src/ssl/index.js";
import { startPosition } from "../src/ssl/loop-state.js";
import type { ResumeState } from "../src/models/training-checkpoint.js";
import { freePort, startRank, type Rank } from "./helpers/dist-spawn.js";
import { PYTHON } from "./helpers/oracle.js";
import { tempDir } from "./helpers/data-images.js";
import { writePatternFolder } from "./helpers/ssl-images.js";

torch.setNumThreads(1);
const HERE = dirname(fileURLToPath(import.meta.url));
const RANK = join(HERE, "helpers", "dist-train-rank.ts");
const ORACLE = join(HERE, "helpers", "py", "ddp_simclr_oracle.py");
const N = 16;
const TINY = { name: "resnet-9", width: 0.125, num_ftrs: 16, out_dim: 16 } as const;
const cfgInput = (o: LightlyConfigInput = {}): LightlyConfigInput => ({
  model: TINY, loader: { batch_size: 4 }, trainer: { max_epochs: 1, gpus: 0 }, optimizer: { lr: 0.1, momentum: 0.9, weight_decay: 1e-4 },
  criterion: { temperature: 0.5, gather_distributed: true }, checkpoint_callback: { save_top_k: 0, save_last: true }, seed: 3, ...o,
  collate: { input_size: 16, ...o.collate },
});

let root: string;
let cache: ImageCache;
let baseline: number;
before(async () => {
  baseline = torch.liveTensors();
  root = tempDir("winnow-dist-train-");
  await writePatternFolder(join(root, "img"), N, 24);
  cache = await buildImageCache(join(root, "img"), { cacheDir: join(root, "cache"), resolution: 20 });
});
after(() => {
  cache.close();
  assert.equal(torch.liveTensors(), baseline, "live tensors after the tests");
  fs.rmSync(root, { recursive: true, force: true });
});

/** 2 Winnow ranks running dist-train-rank.ts's scenario, writing into `work`. */
async function ranks(scenario: string, work: string, cfg: LightlyConfigInput, env: Record<string, string> = {}): Promise<Rank[]> {
  fs.mkdirSync(work, { recursive: true });
  const port = await freePort();
  return [0, 1].map((rank) =>
    startRank(process.execPath, ["--import", "tsx", RANK, scenario], {
      WORLD_SIZE: "2", RANK: String(rank), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), DIST_DIR: work, DIST_CACHE: cache.dir, DIST_CFG: JSON.stringify(cfg), ...env,
    }),
  );
}
const results = async (rs: Rank[]) => {
  const out = await Promise.all(rs.map((r) => r.line((o) => "leaked" in o)));
  assert.deepEqual(await Promise.all(rs.map((r) => r.exit)), [0, 0], rs.map((r) => r.stderr).join("\n"));
  return out;
};
const maxDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

test("gathered NT-Xent on 2 ranks equals the single-process loss on the concatenated batch, gradients included", { timeout: 120_000 }, async () => {
  const rs = await ranks("ntxent", join(root, "ntxent"), cfgInput());
  const out = await results(rs);
  const [n, d, T] = [3, 5, 0.3];
  const ref = torch.scope(() => {
    torch.manualSeed(11);
    const z0 = torch.randn([2 * n, d]).requiresGrad_();
    const z1 = torch.randn([2 * n, d]).requiresGrad_();
    const loss = ntXentLoss(z0, z1, T);
    loss.backward();
    return { loss: loss.item(), g0: z0.grad!.toArray(), g1: z1.grad!.toArray() };
  });
  // Each rank's loss is the mean over its own 2n rows: their mean is the whole batch's loss.
  assert.ok(Math.abs((out[0].loss + out[1].loss) / 2 - ref.loss) < 1e-6, `losses ${out[0].loss}, ${out[1].loss} vs ${ref.loss}`);
  assert.ok(Math.abs(out[0].loss - out[1].loss) > 1e-4, "the ranks' own losses differ (their rows differ)");
  for (const o of out) {
    // The gathered copies' gradients are summed over the ranks: rank r's rows get W × d(whole-batch loss)/d(row).
    const rows = (g: number[]) => g.slice(o.rank * n * d, (o.rank + 1) * n * d).map((v) => 2 * v);
    assert.ok(maxDiff(o.g0, rows(ref.g0)) < 1e-6, `view 0 gradients of rank ${o.rank}: ${maxDiff(o.g0, rows(ref.g0))}`);
    assert.ok(maxDiff(o.g1, rows(ref.g1)) < 1e-6, `view 1 gradients of rank ${o.rank}: ${maxDiff(o.g1, rows(ref.g1))}`);
    assert.equal(o.leaked, 0);
    assert.equal(o.groups, 0);
  }
});

test("2-rank train() equals PyTorch DistributedDataParallel fed the same views (weights after 2 steps); every image once per epoch", { timeout: 300_000 }, async (t) => {
  const work = join(root, "ddp");
  const cfg = cfgInput();
  const out = await results(await ranks("ddp", work, cfg));
  for (const o of out) {
    assert.equal(o.leaked, 0, "live tensors after training");
    assert.equal(o.groups, 0);
    assert.deepEqual([o.batchSize, o.stepsPerEpoch, o.globalStep], [4, 2, 2]); // 8 images per rank, batch 4 per rank
    assert.equal(o.stepLosses.length, 2);
  }
  // DistributedSampler's shards: the ranks' lists of an epoch are disjoint and cover the 16 images.
  for (const e of [0, 1]) assert.deepEqual([...out[0].orders[e], ...out[1].orders[e]].sort((a: number, b: number) => a - b), Array.from({ length: N }, (_, i) => i));
  assert.notDeepEqual(out[0].orders[0], out[0].orders[1], "a new order every epoch");
  // Rank 0 alone wrote the checkpoint; rank 1 names none.
  assert.deepEqual(out[0].checkpoints, [join(work, "ckpt", "last.ckpt")]);
  assert.deepEqual(out[1].checkpoints, []);

  const port = await freePort();
  const spec = { model: { ...TINY, projection_head_batch_norm: false }, lr: 0.1, momentum: 0.9, weight_decay: 1e-4, temperature: 0.5, steps: 2 };
  const py = [0, 1].map((rank) =>
    startRank(PYTHON, [ORACLE, work, join(work, "torch"), JSON.stringify(spec)], {
      WORLD_SIZE: "2", RANK: String(rank), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), GLOO_SOCKET_IFNAME: "lo",
    }),
  );
  assert.deepEqual(await Promise.all(py.map((r) => r.exit)), [0, 0], py.map((r) => r.stderr).join("\n"));
  const ref = [0, 1].map((r) => JSON.parse(fs.readFileSync(join(work, `torch.${r}`), "utf8")));
  const meta: Array<[string, number[]]> = JSON.parse(fs.readFileSync(join(work, "final-r0.f32.json"), "utf8"));
  const init = new Float32Array(fs.readFileSync(join(work, "init.f32")).buffer.slice(0));
  const flat = new Float32Array(fs.readFileSync(join(work, "final-r0.f32")).buffer.slice(0));
  const flat1 = new Float32Array(fs.readFileSync(join(work, "final-r1.f32")).buffer.slice(0));
  let off = 0;
  let worst = 0;
  let moved = 0;
  let ownStats = false;
  for (const [k, shape] of meta) {
    const size = shape.reduce((a, b) => a * b, 1);
    const mine = Array.from(flat.subarray(off, off + size));
    const theirs = ref[0].weights[k] as number[];
    assert.ok(theirs, `${k} is in PyTorch's state dict`);
    const scale = theirs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = maxDiff(mine, theirs);
    worst = Math.max(worst, diff / (scale || 1));
    // float32 rounding (kernels, summation order) over 2 steps: 1e-4 of the tensor's scale + 1e-6 (measured: 2.4e-6 of it).
    assert.ok(diff <= 1e-4 * scale + 1e-6, `${k}: max |diff| ${diff} (scale ${scale})`);
    moved = Math.max(moved, maxDiff(mine, Array.from(init.subarray(off, off + size))));
    // The replicas' parameters stay bit-equal; BatchNorm statistics are each rank's own.
    const other = Array.from(flat1.subarray(off, off + size));
    if (!k.includes("running_")) assert.deepEqual(other, mine, `${k}: ranks 0 and 1 agree exactly`);
    else ownStats ||= maxDiff(other, mine) > 0;
    off += size;
  }
  assert.ok(moved > 1e-3, "the steps moved the weights");
  assert.ok(ownStats, "per-rank BatchNorm: the ranks' running statistics differ");
  for (const r of [0, 1]) {
    assert.ok(maxDiff(out[r].stepLosses, ref[r].losses) < 1e-4, `rank ${r} losses ${out[r].stepLosses} vs PyTorch ${ref[r].losses}`);
  }
  t.diagnostic(`worst relative weight difference vs PyTorch DDP after 2 steps: ${worst.toExponential(2)}; losses ${JSON.stringify(out.map((o) => o.stepLosses))}`);
});

test("kill -9 of one rank: the other rank's train() rejects with a DistributedError within the timeout; nothing leaks", { timeout: 180_000 }, async (t) => {
  // The bound also covers the rendezvous, which a loaded machine (slow process start) can take seconds
  // to reach; a killed peer is seen when its connection closes (measured 0.2 s), far inside it.
  const timeoutMs = 20_000;
  const rs = await ranks("killed", join(root, "killed"), cfgInput({ trainer: { max_epochs: 1000, gpus: 0 } }), { DIST_TIMEOUT_MS: String(timeoutMs) });
  try {
    await rs[1].line((o) => o.ready);
    const killedAt = Date.now();
    rs[1].child.kill("SIGKILL");
    const r0 = await rs[0].line((o) => "leaked" in o);
    assert.equal(await rs[0].exit, 0, rs[0].stderr);
    assert.equal(r0.name, "DistributedError", r0.error);
    assert.match(r0.error, new RegExp(`failed on rank 0 of 2 \\(timeout ${timeoutMs} ms\\)`));
    assert.ok(r0.at - killedAt < timeoutMs + 2000, `rejected ${r0.at - killedAt} ms after the kill`);
    t.diagnostic(`rank 0's train() rejected ${r0.at - killedAt} ms after kill -9 of rank 1`);
    // Rank 0 kept its position at the failure (not only the last epoch's end): written after the kill.
    const last = join(root, "killed", "ckpt", "last.ckpt");
    assert.ok(fs.existsSync(last) && fs.statSync(last).mtimeMs >= killedAt, `last.ckpt written at the failure (ms after the kill: ${fs.existsSync(last) ? fs.statSync(last).mtimeMs - killedAt : "none"})`);
    assert.equal(r0.leaked, 0, "live tensors after the failed run");
    assert.equal(r0.groups, 0);
  } finally {
    for (const r of rs) r.child.kill("SIGKILL");
  }
});

test("a 2-rank checkpoint resumes on 1 rank: history kept, position mapped, the loss goes on from where it was", { timeout: 300_000 }, async (t) => {
  const work = join(root, "resume");
  const input = cfgInput({ trainer: { max_epochs: 8, gpus: 0 }, optimizer: { lr: 0.3, momentum: 0.9, weight_decay: 1e-4 }, collate: { cj_prob: 0, random_gray_scale: 0, gaussian_blur: 0, min_scale: 0.5 } });
  const out = await results(await ranks("resume", work, input));
  assert.equal(out[0].globalStep, 16); // 8 epochs × 2 steps per rank
  const ckpt = join(work, "ckpt", "last.ckpt");
  assert.equal(out[0].lastCheckpoint, ckpt);
  const notes: string[] = [];
  const six = parseLightlyConfig({ ...input, trainer: { max_epochs: 10, gpus: 0 }, checkpoint_callback: { save_top_k: 0, save_last: false, dirpath: join(work, "one") } });
  const resumed = await train({ cache, config: six, outDir: join(work, "one"), device: "cpu", prefetch: false, resumeFrom: ckpt, log: (m) => notes.push(m) });
  const fresh = await train({ cache, config: parseLightlyConfig({ ...input, trainer: { max_epochs: 1, gpus: 0 }, checkpoint_callback: { save_top_k: 0, save_last: false, dirpath: join(work, "fresh") } }), outDir: join(work, "fresh"), device: "cpu", prefetch: false });
  assert.ok(notes.some((m) => /written by a run on 2 rank\(s\), this one has 1/.test(m)), notes.join("\n"));
  assert.deepEqual(resumed.resumedFrom, { path: ckpt, epoch: 8, step: 0 });
  assert.deepEqual(resumed.epochLosses.slice(0, 8), out[0].epochLosses, "the 2-rank run's epoch losses are kept");
  assert.equal(resumed.stepsPerEpoch, 4);
  assert.equal(resumed.stepLosses.length, 8, "epochs 9 and 10 only");
  assert.equal(resumed.globalStep, 40, "16 steps of 2 per epoch map to 32 steps of 4 per epoch, then 8 more");
  // Same world size, same losses scale: the resumed run starts from the trained weights, not from scratch.
  const [resumedFirst, freshFirst] = [resumed.epochLosses[8]!, fresh.epochLosses[0]!];
  t.diagnostic(`2-rank epoch losses ${out[0].epochLosses.map((l: number) => l.toFixed(3))}; resumed on 1 rank ${resumed.epochLosses.slice(8).map((l) => l.toFixed(3))}; fresh 1-rank epoch 1 ${freshFirst.toFixed(3)}`);
  assert.ok(out[0].epochLosses[7] < out[0].epochLosses[0], "the 2-rank run's loss fell");
  assert.ok(resumedFirst < freshFirst - 0.1, `resumed epoch 9 loss ${resumedFirst} vs a fresh run's first epoch ${freshFirst}`);
});

test("a resume position maps by the share of the epoch when the number of ranks changes, and only then", () => {
  const r = { epoch: 1, step: 1, globalStep: 3, stepsPerEpoch: 2, epochLosses: [2], partialStepLosses: [1.5], worldSize: 2 } as ResumeState;
  // 1 of 2 steps on 2 ranks = 2 of 4 steps on 1 rank; 3 steps of 2 per epoch = 6 of 4 per epoch.
  assert.deepEqual(startPosition(r, 4, 1), { epoch: 1, step: 2, globalStep: 6, epochLosses: [2], partialLosses: [1.5] });
  assert.deepEqual(startPosition({ ...r, step: 2, globalStep: 4 }, 4, 1), { epoch: 2, step: 0, globalStep: 8, epochLosses: [2], partialLosses: [] });
  assert.deepEqual(startPosition(r, 2, 2), { epoch: 1, step: 1, globalStep: 3, epochLosses: [2], partialLosses: [1.5] });
  // Same number of ranks, other steps per epoch (other images): the position is kept as before.
  assert.deepEqual(startPosition({ ...r, worldSize: undefined }, 4, 1), { epoch: 1, step: 1, globalStep: 3, epochLosses: [2], partialLosses: [1.5] });
});
