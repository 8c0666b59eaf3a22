// One rank of the distributed tests, run as its own process (the test starts WORLD_SIZE of them with
// torchrun's environment). argv[2] picks the scenario; the result is one JSON line on stdout.
import { readFileSync } from "node:fs";
import * as torch from "../../src/torch/index.js";
import { Linear, Module, SGD } from "../../src/nn/index.js";
import { allReduceGradients, broadcastModule, initProcessGroup, liveProcessGroups, type ProcessGroup } from "../../src/distributed/index.js";

torch.setNumThreads(1);
const scenario = process.argv[2];
const timeoutMs = Number(process.env.DIST_TIMEOUT_MS ?? 20_000);
const say = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const vals = (t: torch.Tensor) => Array.from(t.data() as Float32Array);

function collectives(pg: ProcessGroup) {
  const r = pg.rank;
  return torch.scope(() => {
    const a = torch.tensor([1 + r, 10 * (r + 1), -r]);
    pg.allReduce(a);
    const m = torch.tensor([r, -r]);
    pg.allReduce(m, "max");
    // One coalesced reduction over a bucket of differently shaped tensors.
    const b1 = torch.full([2, 2], r + 1);
    const b2 = torch.tensor([r * 100]);
    pg.allReduce([b1, b2]);
    const bc = torch.tensor([r, r, r]);
    pg.broadcast(bc, 1);
    const gathered = pg.allGather(torch.tensor([[r, r + 0.5]]));
    // A non-contiguous input is gathered by value.
    const tg = pg.allGather(torch.tensor([[r, 2 * r], [3 * r, 4 * r]]).t());
    const gcat = pg.allGatherCat(torch.tensor([[r + 1], [r + 2]]), 1);
    pg.barrier();

    // gatherWithGrad: loss_r = sum(gathered * w_r); d(sum of all ranks' losses)/dx_r = sum_s w_s[rows of r].
    const x = torch.tensor([[1 + r, 2 + r], [3 + r, 4 + r]]).requiresGrad_();
    const g = pg.gatherWithGrad(x);
    const w = torch.arange(0, 8).reshape([4, 2]).add(10 * r);
    g.mul(w).sum().backward();
    return {
      allreduce: vals(a), max: vals(m), bucket: [vals(b1), vals(b2)], broadcast: vals(bc),
      allgather: gathered.map(vals), allgatherT: tg.map(vals), allgatherCat: [gcat.shape, vals(gcat)], gatherShape: g.shape, gatherValues: vals(g), xGrad: vals(x.grad!),
    };
  });
}

class Tiny extends Module {
  constructor() {
    super();
    this.registerModule("fc1", new Linear(4, 8));
    this.registerModule("fc2", new Linear(8, 3));
  }
  forward(x: torch.Tensor): torch.Tensor {
    return (this.child("fc2") as Linear).forward((this.child("fc1") as Linear).forward(x).relu());
  }
}

/** k SGD steps of DDP on this rank's half of the batch; rank 0's weights come from the file, rank 1's are random. */
function ddp(pg: ProcessGroup) {
  const spec = JSON.parse(readFileSync(process.env.DIST_SPEC!, "utf8"));
  torch.manualSeed(1234 + pg.rank);
  const model = new Tiny();
  if (pg.rank === 0) {
    torch.scope(() => {
      const sd = new Map<string, torch.Tensor>();
      for (const [k, v] of Object.entries(spec.weights as Record<string, { shape: number[]; values: number[] }>)) sd.set(k, torch.tensor(v.values, { shape: v.shape }));
      model.loadStateDict(sd);
    });
  }
  broadcastModule(pg, model);
  const opt = new SGD(model.parameters(), { lr: spec.lr, momentum: spec.momentum });
  const per = spec.batch / pg.worldSize;
  for (let step = 0; step < spec.steps; step++) {
    torch.scope(() => {
      const x = torch.tensor(spec.x[step], { shape: [spec.batch, 4] }).narrow(0, pg.rank * per, per);
      const y = torch.tensor(spec.y[step], { shape: [spec.batch, 3] }).narrow(0, pg.rank * per, per);
      opt.zeroGrad();
      model.forward(x).sub(y).square().mean().backward();
      allReduceGradients(pg, model, { bucketCapMB: spec.bucketCapMB });
      opt.step();
    });
  }
  const out: Record<string, number[]> = {};
  for (const [k, v] of model.stateDict()) out[k] = vals(v);
  opt.dispose();
  model.dispose();
  return out;
}

const base = torch.liveTensors();
const pg = initProcessGroup({ backend: "gloo", timeoutMs });
if (scenario === "collectives") {
  const result = collectives(pg);
  pg.barrier();
  pg.destroy();
  pg.destroy(); // idempotent
  let afterDestroy = "";
  try {
    pg.barrier();
  } catch (e) {
    afterDestroy = (e as Error).message;
  }
  say({ rank: pg.rank, ...result, afterDestroy, leaked: torch.liveTensors() - base, groups: liveProcessGroups() });
} else if (scenario === "ddp") {
  const weights = ddp(pg);
  pg.barrier();
  pg.destroy();
  say({ rank: pg.rank, weights, leaked: torch.liveTensors() - base, groups: liveProcessGroups() });
} else if (scenario === "peer-fails") {
  // Rank 1 announces itself and then never joins another collective: the test kills it (kill -9)
  // or leaves it idle (a hung peer). Rank 0's next collective must throw within the timeout.
  pg.barrier();
  if (pg.rank === 1) {
    say({ rank: 1, ready: true });
    // The timer holds the group: a group nothing references is destroyed by the GC, which closes
    // its connections (rank 0 would see a closed peer, not a hung one).
    setInterval(() => pg.rank, 1000);
  } else {
    const t0 = Date.now();
    const x = torch.ones([1000]);
    let second = "";
    try {
      pg.allReduce(x);
      say({ rank: 0, error: null, elapsedMs: Date.now() - t0 });
    } catch (e) {
      const elapsedMs = Date.now() - t0;
      try {
        pg.barrier(); // refused at once: the group failed
      } catch (e2) {
        second = (e2 as Error).message;
      }
      say({ rank: 0, error: (e as Error).message, name: (e as Error).name, elapsedMs, second });
    }
    x.dispose();
    process.exit(0);
  }
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
