// One rank of test/distributed-train.test.ts, run as its own process with torchrun's environment.
// argv[2] picks the scenario; DIST_CACHE is the image cache (built by the test), DIST_DIR receives
// the files written here; DIST_CFG is the lightly_config input. The result is one JSON line on stdout.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as torch from "../../src/torch/index.js";
import { openImageCache } from "../../src/data/index.js";
import { parseLightlyConfig } from "../../src/config/lightly-config.js";
import { initProcessGroup, liveProcessGroups, type ProcessGroup } from "../../src/distributed/index.js";
import { train, ntXentLoss, type TrainCallback } from "../../src/ssl/index.js";
import { planBatches } from "../../src/ssl/train-setup.js";
import { ViewSource } from "../../src/ssl/views.js";

torch.setNumThreads(1);
const scenario = process.argv[2];
const dir = process.env.DIST_DIR!;
const say = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");

/** Float tensors as one raw little-endian float32 file plus [name, shape] pairs (what the Python side reads). */
function dumpTensors(file: string, named: Array<[string, torch.Tensor]>): void {
  const floats = named.filter(([, t]) => t.dtype === "float32");
  const parts = torch.scope(() => floats.map(([, t]) => Buffer.from(Float32Array.from(t.contiguous().data() as Float32Array).buffer)));
  writeFileSync(file, Buffer.concat(parts));
  writeFileSync(file + ".json", JSON.stringify(floats.map(([k, t]) => [k, t.shape])));
}

/** Gathered NT-Xent on this rank's rows of a batch every rank draws alike: loss and this rank's gradients. */
function gatheredLoss(pg: ProcessGroup) {
  const { n, d, T } = { n: 3, d: 5, T: 0.3 };
  return torch.scope(() => {
    torch.manualSeed(11);
    const all0 = torch.randn([n * pg.worldSize, d]);
    const all1 = torch.randn([n * pg.worldSize, d]);
    const z0 = all0.narrow(0, pg.rank * n, n).clone().requiresGrad_();
    const z1 = all1.narrow(0, pg.rank * n, n).clone().requiresGrad_();
    const loss = ntXentLoss(z0, z1, T, pg);
    loss.backward();
    return { loss: loss.item(), g0: z0.grad!.toArray(), g1: z1.grad!.toArray() };
  });
}

let orders: number[][] = [];
async function trainScenario(pg: ProcessGroup) {
  const cfg = parseLightlyConfig(JSON.parse(process.env.DIST_CFG!));
  const cache = openImageCache(process.env.DIST_CACHE!);
  const dumps: TrainCallback = {
    // After the broadcast (callbacks run in order; the data-parallel one comes before these).
    onTrainStart: (s) => {
      if (scenario === "ddp" && pg.rank === 0) dumpTensors(join(dir, "init.f32"), [...s.model.stateDict()]);
    },
    onBatchEnd: (_s, b) => {
      if (scenario === "killed" && b.step === 1) say({ rank: pg.rank, ready: true, at: Date.now() });
    },
  };
  if (scenario === "ddp") {
    // The views the trainer draws, made again by the same view source: the PyTorch side gets these.
    const plan = planBatches(cache, cfg, () => {}, pg.worldSize);
    const views = new ViewSource({
      cache, device: "cpu", onCuda: false, seed: cfg.seed, shuffle: cfg.loader.shuffle, batchSize: plan.batchSize, stepsPerEpoch: plan.stepsPerEpoch,
      maxEpochs: cfg.trainer.max_epochs, collate: cfg.collate, prefetch: false, note: () => {}, shard: { rank: pg.rank, worldSize: pg.worldSize },
    });
    for (let step = 0; step < plan.stepsPerEpoch; step++) {
      const [v0, v1] = await views.next(0, step, plan.batchSize);
      dumpTensors(join(dir, `views-r${pg.rank}-s${step}.f32`), [["v0", v0], ["v1", v1]]);
      v0.dispose();
      v1.dispose();
    }
    orders = [0, 1].map((e) => views.epochOrder(e));
    await views.close();
  }
  const t0 = Date.now();
  try {
    const r = await train({
      cache, config: cfg, outDir: join(dir, "ckpt"), device: "cpu", prefetch: false, processGroup: pg, keepModel: scenario === "ddp", callbacks: [dumps],
    });
    if (r.model) {
      dumpTensors(join(dir, `final-r${pg.rank}.f32`), [...r.model.stateDict()]);
      r.model.dispose();
    }
    return { orders, stepLosses: r.stepLosses, epochLosses: r.epochLosses, globalStep: r.globalStep, stepsPerEpoch: r.stepsPerEpoch, batchSize: r.batchSize, checkpoints: r.checkpoints, lastCheckpoint: r.lastCheckpoint };
  } catch (e) {
    return { error: (e as Error).message, name: (e as Error).name, at: Date.now(), elapsedMs: Date.now() - t0 };
  } finally {
    cache.close();
  }
}

const base = torch.liveTensors();
const pg = initProcessGroup({ backend: "gloo", timeoutMs: Number(process.env.DIST_TIMEOUT_MS ?? 60_000) });
const result = scenario === "ntxent" ? gatheredLoss(pg) : await trainScenario(pg);
if (!("error" in result)) pg.barrier();
pg.destroy();
say({ rank: pg.rank, ...result, leaked: torch.liveTensors() - base, groups: liveProcessGroups() });
process.exit(0);
