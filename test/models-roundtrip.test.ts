// Winnow → PyTorch: models built and trained in Winnow are saved as checkpoints that plain
// PyTorch loads with torch.load(weights_only=True) into its own copy of the architecture
// (test/helpers/py/lightly_like.py) and that give the same embeddings and projections.
// Also: a training loop leaves no tensors behind.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import * as M from "../src/models/index.js";
import { ntXentLoss } from "../src/ssl/index.js";
import { runTorch, values, hasTorchPython, assertAllClose } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);
// The oracle is required: without /usr/bin/python3 + torch these tests fail (scripts/setup.sh installs it).
assert.ok(hasTorchPython(), "/usr/bin/python3 with torch is not available (run scripts/setup.sh)");

const CONFIGS: M.ModelConfig[] = [
  { name: "resnet-9", width: 0.125, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true },
  { name: "resnet-9", width: 0.25, numFtrs: 16, outDim: 24, projectionHeadBatchNorm: false },
  { name: "resnet-18", width: 0.125, numFtrs: 32, outDim: 64, projectionHeadBatchNorm: false },
  { name: "resnet-18", width: 0.0625, numFtrs: 8, outDim: 16, projectionHeadBatchNorm: true },
  { name: "resnet-50", width: 0.0625, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true },
  { name: "resnet-50", width: 0.0625, numFtrs: 16, outDim: 32, projectionHeadBatchNorm: false },
  // lightly's library model (its benchmarks' SimCLR): no input BN, no 1×1 conv, head with BatchNorm.
  { name: "resnet-18", width: 0.125, numFtrs: 64, outDim: 32, projectionHeadBatchNorm: true, inputBatchNorm: false, featureConv: false },
  { name: "resnet-50", width: 0.0625, numFtrs: 128, outDim: 16, projectionHeadBatchNorm: true, inputBatchNorm: false, featureConv: false },
];
const STEPS = 3;

/** One SimCLR step: two views through the model, NT-Xent, backward, SGD. */
function trainStep(model: M.SimCLR, opt: nn.Optimizer<nn.GroupOptions>, x: torch.Tensor): number {
  return torch.scope(() => {
    const v0 = x;
    const v1 = x.flip(3).mul(0.9).add(0.05);
    const loss = ntXentLoss(model.forward(v0), model.forward(v1), 0.5);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  });
}

let tmp: string;
let input: torch.Tensor;
const mine: { embed: number[]; proj: number[]; losses: number[]; reload: boolean }[] = [];
let py: ReturnType<typeof runTorch>;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), "winnow-roundtrip-"));
  torch.manualSeed(11);
  input = torch.keep(torch.randn([4, 3, 32, 32]));
  CONFIGS.forEach((cfg, i) => {
    torch.manualSeed(100 + i);
    const model = M.buildModel(cfg) as M.SimCLR;
    const opt = new nn.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-5 });
    const losses: number[] = [];
    for (let s = 0; s < STEPS; s++) losses.push(torch.scope(() => trainStep(model, opt, torch.randn([8, 3, 32, 32]))));
    const path = join(tmp, `m${i}.ckpt`);
    M.saveCheckpoint(model, path, { epoch: STEPS, method: "simclr" });
    model.eval();
    const [embed, proj] = torch.noGrad(() => torch.scope(() => [model.embed(input).toArray(), model.forward(input).toArray()]));
    // Winnow reads its own file back bit-exactly.
    const again = M.buildModel(cfg) as M.SimCLR;
    M.loadCheckpointInto(again, path);
    again.eval();
    const reload = torch.noGrad(() => torch.scope(() => {
      const a = model.stateDict();
      const b = again.stateDict();
      return [...a].every(([k, t]) => sameTensor(t, b.get(k)!)) && again.forward(input).toArray().every((v, j) => v === proj[j]);
    }));
    mine.push({ embed, proj, losses, reload });
    opt.dispose();
    model.dispose();
    again.dispose();
  });
  py = runTorch(
    String.raw`
from lightly_like import SimCLRModel, load_checkpoint
x = IN["x"]
for i, c in enumerate(JIN):
    library = c.get("inputBatchNorm") is False
    m = SimCLRModel(c["name"], c["width"], c["numFtrs"], c["outDim"], c["projectionHeadBatchNorm"], library)
    ckpt = load_checkpoint(m, os.path.join(${JSON.stringify(tmp)}, "m%d.ckpt" % i))
    m.eval()
    with torch.no_grad():
        out("embed%d" % i, m.embed(x)); out("proj%d" % i, m(x))
    sd = ckpt["state_dict"]
    bn = "model.backbone.%d.num_batches_tracked" % (1 if library else 0)  # the first BatchNorm
    jout("meta%d" % i, {"epoch": ckpt["epoch"], "method": ckpt["method"], "n": len(sd),
        "nbt": int(sd[bn]), "nbt_dtype": str(sd[bn].dtype),
        "requires_grad": any(v.requires_grad for v in sd.values()), "first": next(iter(sd))})
`,
    { x: input },
    CONFIGS,
  );
});

after(() => {
  input?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Same dtype, shape and values. */
function sameTensor(a: torch.Tensor, b: torch.Tensor): boolean {
  return torch.scope(() => a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.eq(b).all().item() === 1);
}

for (const [i, cfg] of CONFIGS.entries()) {
  const label = `${cfg.name} w${cfg.width} f${cfg.numFtrs} o${cfg.outDim} ${cfg.projectionHeadBatchNorm ? "headBN" : "headPlain"}${cfg.inputBatchNorm === false ? " (lightly's library model)" : ""}`;
  test(`${label}: trained in Winnow, loaded by torch.load(weights_only=True) into plain PyTorch, same outputs`, () => {
    const m = mine[i];
    assert.ok(m.losses.every(Number.isFinite), `losses ${m.losses}`);
    assert.ok(m.reload, "Winnow reloads its own checkpoint bit-exactly");
    const meta = py.json[`meta${i}`] as Record<string, unknown>;
    assert.equal(meta.epoch, STEPS);
    assert.equal(meta.method, "simclr");
    assert.equal(meta.first, "model.backbone.0.weight");
    assert.equal(meta.nbt, 2 * STEPS, "two views per step through the first BatchNorm");
    assert.equal(meta.nbt_dtype, "torch.int64");
    assert.equal(meta.requires_grad, false);
    assertAllClose(m.embed, values(py.tensors[`embed${i}`]), { atol: 1e-4, rtol: 0, what: "embeddings" });
    assertAllClose(m.proj, values(py.tensors[`proj${i}`]), { atol: 1e-4, rtol: 0, what: "projections" });
  });
}

test("a SimCLR training loop (forward, NT-Xent, backward, SGD, BN updates) leaves liveTensors flat", () => {
  torch.manualSeed(5);
  const model = M.buildModel({ name: "resnet-18", width: 0.0625, numFtrs: 16, outDim: 16, projectionHeadBatchNorm: true }) as M.SimCLR;
  const opt = new nn.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-5 });
  const sched = new nn.CosineWarmupScheduler(opt, 2, 8);
  const counts: number[] = [];
  for (let s = 0; s < 8; s++) {
    torch.scope(() => trainStep(model, opt, torch.randn([6, 3, 16, 16])));
    sched.step();
    counts.push(torch.liveTensors());
  }
  // the first step creates the momentum buffers; afterwards nothing grows
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `live tensors per step: ${counts}`);
  model.eval();
  const before = torch.liveTensors();
  for (let s = 0; s < 3; s++) torch.noGrad(() => torch.scope(() => model.embed(torch.randn([2, 3, 16, 16])).toArray()));
  assert.equal(torch.liveTensors(), before);
  const base = before - opt.state.size - model.stateDict().size;
  opt.dispose();
  model.dispose();
  assert.equal(torch.liveTensors(), base);
});

test("lightly's library model (no input BN, no 1×1 conv, BatchNorm head) saved by PyTorch loads strictly and gives PyTorch's outputs", () => {
  const dir = mkdtempSync(join(tmpdir(), "winnow-library-"));
  try {
    const file = join(dir, "library.ckpt");
    const x = torch.keep(torch.randn([3, 3, 32, 32]));
    const ref = runTorch(
      String.raw`
from lightly_like import SimCLRModel
torch.manual_seed(3)
m = SimCLRModel("resnet-18", 0.125, 0, 24, batch_norm=True, library=True)
for mod in m.modules():  # non-trivial BatchNorm statistics, as after training
    if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
        mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 2.0); mod.num_batches_tracked.fill_(7)
m.eval()
torch.save({"state_dict": {"model." + k: v for k, v in m.state_dict().items()}}, JIN["file"])
with torch.no_grad():
    out("embed", m.embed(IN["x"])); out("proj", m(IN["x"]))
jout("keys", list(m.state_dict().keys())[:3])
`,
      { x },
      { file },
    );
    assert.deepEqual(ref.json.keys, ["backbone.0.weight", "backbone.1.weight", "backbone.1.bias"], "stem conv first, as lightly's library model");
    const { model, config } = M.loadModelCheckpoint(file);
    assert.deepEqual(config, { name: "resnet-18", width: 0.125, numFtrs: 64, outDim: 24, projectionHeadBatchNorm: true, inputBatchNorm: false, featureConv: false });
    const simclr = model as M.SimCLR;
    simclr.eval();
    const [embed, proj] = torch.noGrad(() => torch.scope(() => [simclr.embed(x).toArray(), simclr.forward(x).toArray()]));
    assertAllClose(embed, values(ref.tensors.embed), { atol: 1e-4, rtol: 0, what: "embeddings" });
    assertAllClose(proj, values(ref.tensors.proj), { atol: 1e-4, rtol: 0, what: "projections" });
    // The same file into the model lightly_config.model's keys build (strict), and not into the worker's layout.
    const fromKeys = M.buildModel({ name: "resnet-18", width: 0.125, outDim: 24, projectionHeadBatchNorm: true, inputBatchNorm: false, featureConv: false });
    M.loadCheckpointInto(fromKeys, file);
    const worker = M.buildModel({ name: "resnet-18", width: 0.125, numFtrs: 64, outDim: 24, projectionHeadBatchNorm: true });
    assert.throws(() => M.loadCheckpointInto(worker, file), /input_batch_norm: false, feature_conv: false/);
    for (const m of [model, fromKeys, worker]) m.dispose();
    x.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
