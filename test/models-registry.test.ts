// Architectures by name: every ResNetGenerator depth has the same keys/shapes as a plain-PyTorch
// copy (resnet-101/152 are not in the lightly fixtures), widths that are not powers of two round
// like int(64 * width), and new backbones/models plug in through the registries.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import * as M from "../src/models/index.js";
import { runTorch, values, hasTorchPython } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);
// The oracle is required: without /usr/bin/python3 + torch these tests fail (scripts/setup.sh installs it).
assert.ok(hasTorchPython(), "/usr/bin/python3 with torch is not available (run scripts/setup.sh)");

const NAMES = ["resnet-9", "resnet-18", "resnet-34", "resnet-50", "resnet-101", "resnet-152"];

test("every ResNetGenerator depth: state-dict keys and shapes equal the plain-PyTorch architecture", () => {
  const cfgs = NAMES.map((name, i) => ({ name, width: [0.125, 0.3, 0.0625, 0.0625, 0.03125, 0.03125][i], numFtrs: 8, outDim: 4, projectionHeadBatchNorm: i % 2 === 0 }));
  const mine = cfgs.map((c) => {
    const m = M.buildModel(c);
    const r = { keys: [...m.stateDict()].map(([k, t]) => `${k} ${t.shape.join("x")}`), n: m.numParameters() };
    m.dispose();
    return r;
  });
  const py = runTorch(String.raw`
from lightly_like import SimCLRModel
for i, c in enumerate(JIN):
    m = SimCLRModel(c["name"], c["width"], c["numFtrs"], c["outDim"], c["projectionHeadBatchNorm"])
    jout("k%d" % i, ["%s %s" % (k, "x".join(str(d) for d in v.shape)) for k, v in m.state_dict().items()])
    jout("n%d" % i, sum(p.numel() for p in m.parameters()))
`, {}, cfgs);
  mine.forEach((m, i) => {
    assert.deepEqual(m.keys, py.json[`k${i}`], cfgs[i].name);
    assert.equal(m.n, py.json[`n${i}`]);
  });
});

test("inferModelConfig recovers every depth, a width that is not a power of two, and both backbone layouts", () => {
  const layouts = [
    { inputBatchNorm: true, featureConv: true }, // the docs/worker model
    { inputBatchNorm: false, featureConv: false }, // lightly's library model
    { inputBatchNorm: false, featureConv: true },
    { inputBatchNorm: true, featureConv: false },
  ];
  for (const name of NAMES) {
    for (const [li, layout] of layouts.entries()) {
      const cfg = { name, width: 0.3, numFtrs: 12, outDim: 20, projectionHeadBatchNorm: (name.length + li) % 2 === 0, ...layout };
      const m = M.buildModel(cfg) as M.SimCLR;
      const base = Math.trunc(64 * 0.3);
      const channels = base * 8 * (name === "resnet-50" || name === "resnet-101" || name === "resnet-152" ? 4 : 1);
      assert.equal(m.config.numFtrs, layout.featureConv ? 12 : channels, `${name} ${JSON.stringify(layout)}: embedding size`);
      const keys = [...m.stateDict("model.")];
      assert.equal(keys[0]![1].shape.length, layout.inputBatchNorm ? 1 : 4, "backbone.0 is the input BN or the stem conv");
      const inferred = M.inferModelConfig(new Map(keys.map(([k, t]) => [k, t.shape])));
      assert.equal(inferred.name, name);
      assert.equal(Math.trunc(64 * inferred.width), base, "same stem channels");
      assert.deepEqual({ ...inferred, width: 0.3 }, { ...cfg, numFtrs: m.config.numFtrs }, `${name} ${JSON.stringify(layout)}`);
      // Without the head (a backbone-only file) the embedding size still comes out right.
      const bbOnly = new Map(keys.filter(([k]) => k.startsWith("model.backbone.")).map(([k, t]) => [k, t.shape]));
      assert.equal(M.inferModelConfig(bbOnly).numFtrs, m.config.numFtrs);
      assert.deepEqual(M.checkpointLayout(new Map(keys)), { ...layout, projectionHeadBatchNorm: cfg.projectionHeadBatchNorm });
      m.dispose();
    }
  }
});

test("ResNet classifier (lightly's ResNet forward) and the SimCLR model's shapes", () => {
  torch.scope(() => {
    const r = M.resnetGenerator("resnet-18", 0.125, 7);
    assert.deepEqual(r.forward(torch.randn([2, 3, 32, 32])).shape, [2, 7]);
    assert.deepEqual(r.children().map((c) => c.typeName), ["Conv2d", "BatchNorm2d", "Sequential", "Sequential", "Sequential", "Sequential", "Linear"]);
    r.dispose();
    const m = M.buildModel({ name: "resnet-9", width: 0.125, numFtrs: 32, outDim: 10 }) as M.SimCLR;
    const x = torch.randn([3, 3, 40, 24]);
    assert.deepEqual(m.embed(x).shape, [3, 32]);
    assert.deepEqual(m.forward(x).shape, [3, 10]);
    assert.deepEqual(m.embeddingModel().forward(x).shape, [3, 32]);
    // the stem has no ReLU module: backbone children are BN, conv, BN, 4 stages, conv, pool
    assert.deepEqual(m.backbone.children().map((c) => c.typeName), [
      "BatchNorm2d", "Conv2d", "BatchNorm2d", "Sequential", "Sequential", "Sequential", "Sequential", "Conv2d", "AdaptiveAvgPool2d",
    ]);
    assert.match(m.toString(), /^SimCLR\(\n {2}\(backbone\): Sequential\(\n {4}\(0\): BatchNorm2d\(3, eps=1e-05/);
    assert.match(m.toString(), /\(shortcut\): Sequential\(\)/);
    m.dispose();
  });
  assert.throws(() => M.resnetGenerator("resnet-7"), /Illegal name/);
  assert.throws(() => M.buildModel({ name: "vgg" }), /unknown backbone 'vgg'/);
  assert.throws(() => M.buildModel({}, "dino"), /unknown model\/method 'dino'/);
});

test("registries: a new backbone and a new model plug in by name", () => {
  class TinyStem extends nn.Sequential {}
  M.registerBackbone(
    "tiny-cnn",
    ({ width }) => {
      const c = Math.trunc(16 * width);
      return { layers: [new TinyStem(new nn.Conv2d(3, c, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(c), new nn.ReLU())], outChannels: c };
    },
    (shapes) => (shapes.has("1.0.weight") && !shapes.has("2.0.conv1.weight") ? shapes.get("1.0.weight")![0] / 16 : null),
  );
  M.registerModel("embedding", (cfg) => new M.EmbeddingModel(M.buildSslBackbone(cfg).backbone));
  assert.ok(M.listBackbones().includes("tiny-cnn"));
  assert.ok(M.listModels().includes("embedding"));
  const m = M.buildModel({ name: "tiny-cnn", width: 2, numFtrs: 8, outDim: 4 }) as M.SimCLR;
  assert.deepEqual([...m.stateDict().keys()].slice(0, 8), [
    "backbone.0.weight", "backbone.0.bias", "backbone.0.running_mean", "backbone.0.running_var", "backbone.0.num_batches_tracked",
    "backbone.1.0.weight", "backbone.1.1.weight", "backbone.1.1.bias",
  ]);
  torch.scope(() => assert.deepEqual(m.forward(torch.randn([2, 3, 8, 8])).shape, [2, 4]));
  const cfg = M.inferModelConfig(new Map([...m.stateDict()].map(([k, t]) => [k, t.shape])));
  assert.deepEqual(cfg, { name: "tiny-cnn", width: 2, numFtrs: 8, outDim: 4, projectionHeadBatchNorm: true, inputBatchNorm: true, featureConv: true });
  const e = M.buildModel({ name: "tiny-cnn", width: 1, numFtrs: 6 }, "embedding");
  torch.scope(() => assert.deepEqual(e.forward(torch.randn([2, 3, 8, 8])).shape, [2, 6]));
  assert.ok([...e.stateDict().keys()].every((k) => k.startsWith("backbone.")));
  m.dispose();
  e.dispose();
});

test("same seed, same initial weights as the PyTorch build order of lightly's build_model()", () => {
  const cfgs = [
    { name: "resnet-18", width: 0.25, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: false },
    { name: "resnet-50", width: 0.0625, numFtrs: 16, outDim: 8, projectionHeadBatchNorm: true },
  ];
  const mine = cfgs.map((c) => {
    torch.manualSeed(1234);
    const m = M.buildModel(c);
    const v = [...m.stateDict().values()].map((t) => t.toArray());
    m.dispose();
    return v;
  });
  const py = runTorch(String.raw`
from lightly_like import SimCLRModel
for i, c in enumerate(JIN):
    torch.manual_seed(1234)
    m = SimCLRModel(c["name"], c["width"], c["numFtrs"], c["outDim"], c["projectionHeadBatchNorm"])
    for j, v in enumerate(m.state_dict().values()):
        out("m%d_%d" % (i, j), v)
`, {}, cfgs);
  mine.forEach((tensors, i) => tensors.forEach((v, j) => assert.deepEqual(v, values(py.tensors[`m${i}_${j}`]), `model ${i} tensor ${j}`)));
});
