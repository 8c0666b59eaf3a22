// nn.Module and layers against PyTorch: state-dict keys and order, reprs, initialization (same
// seed → same values), BatchNorm running statistics, loadStateDict errors, to(), dispose.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import type { Tensor } from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import { runTorch, values, assertAllClose, hasTorchPython } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);

/** A module mixing own parameters, buffers (one non-persistent) and nested children. */
class Custom extends nn.Module {
  readonly body: nn.Sequential;
  readonly fc: nn.Linear;
  constructor() {
    super();
    this.registerParameter("scale", torch.ones([4]));
    this.registerBuffer("step", torch.zeros([], { dtype: "int64" }));
    this.registerBuffer("scratch", torch.zeros([2]), false);
    this.body = this.registerModule(
      "body",
      new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.AdaptiveAvgPool2d(1), new nn.Flatten()),
    );
    this.fc = this.registerModule("fc", new nn.Linear(4, 2));
    this.registerParameter("late", torch.zeros([1]));
  }
  override forward(x: Tensor): Tensor {
    return torch.scope(() => this.fc.forward(this.body.forward(x).mul(this.param("scale")!)));
  }
}

const PY_CUSTOM = String.raw`
from torch import nn
class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.register_buffer("step", torch.tensor(0))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4, 2)
        self.late = nn.Parameter(torch.zeros(1))
`;

let py: ReturnType<typeof runTorch>;
let winnow: {
  keys: string[]; shapes: number[][]; repr: string; numParams: number; namedParams: string[]; namedBuffers: string[];
  init: Record<string, number[]>; bn: Record<string, number[]>; bnOut: Record<string, number[]>;
};
let bnInput2d: Tensor, bnInput1d: Tensor;

before(() => {
  if (!hasTorchPython()) throw new Error("/usr/bin/python3 with torch is required (scripts/setup.sh installs python3-torch): it is the oracle of these tests");
  // ---- Winnow side ----
  torch.manualSeed(7);
  const m = new Custom();
  const sd = m.stateDict();
  const seq = new nn.Sequential(
    new nn.Conv2d(3, 8, [3, 5], { stride: 2, padding: [1, 2], dilation: 1, groups: 1 }),
    new nn.Conv2d(8, 8, 3, { groups: 2, dilation: 2, bias: false }),
    new nn.BatchNorm2d(8, { momentum: null, eps: 1e-3 }),
    new nn.BatchNorm1d(5, { affine: false }),
    new nn.Linear(10, 3, { bias: false }),
    new nn.ReLU(true), new nn.Identity(), new nn.Dropout(0.25), new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
    new nn.AdaptiveAvgPool2d([2, 3]), new nn.Flatten(0, 2), new nn.Sequential(),
  );
  // initialization with a fixed seed: conv with bias, conv without, linear with and without bias
  torch.manualSeed(123);
  const c1 = new nn.Conv2d(16, 32, 3);
  const l1 = new nn.Linear(300, 20);
  const c2 = new nn.Conv2d(4, 6, 1, { bias: false });
  const l2 = new nn.Linear(7, 5, { bias: false });
  const init = {
    c1w: c1.weight.toArray(), c1b: c1.bias!.toArray(), l1w: l1.weight.toArray(), l1b: l1.bias!.toArray(),
    c2w: c2.weight.toArray(), l2w: l2.weight.toArray(),
  };
  // BatchNorm running statistics after training-mode forwards
  torch.manualSeed(5);
  bnInput2d = torch.keep(torch.randn([6, 4, 5, 5]).mul(3).add(1));
  bnInput1d = torch.keep(torch.randn([10, 4]).mul(2).sub(0.5));
  const bn2 = new nn.BatchNorm2d(4);
  const bnCma = new nn.BatchNorm2d(4, { momentum: null });
  const bn1 = new nn.BatchNorm1d(4);
  const bnOut: Record<string, number[]> = {};
  torch.scope(() => {
    for (let i = 0; i < 3; i++) {
      const x = bnInput2d.mul(i + 1);
      bn2.forward(x);
      bnCma.forward(x);
      bn1.forward(bnInput1d.add(i));
    }
    bnOut.train2d = bn2.forward(bnInput2d).toArray();
    bn2.eval();
    bnOut.eval2d = bn2.forward(bnInput2d).toArray();
    bn1.eval();
    bnOut.eval1d = bn1.forward(bnInput1d).toArray();
  });
  const bn = {
    rm: bn2.runningMean!.toArray(), rv: bn2.runningVar!.toArray(), nbt: bn2.numBatchesTracked!.toArray(),
    cmaRm: bnCma.runningMean!.toArray(), cmaRv: bnCma.runningVar!.toArray(), cmaNbt: bnCma.numBatchesTracked!.toArray(),
    rm1: bn1.runningMean!.toArray(), rv1: bn1.runningVar!.toArray(), nbt1: bn1.numBatchesTracked!.toArray(),
  };
  winnow = {
    keys: [...sd.keys()], shapes: [...sd.values()].map((t) => t.shape), repr: `${m.toString()}\n${seq.toString()}`,
    numParams: m.numParameters(), namedParams: [...m.namedParameters()].map(([n]) => n), namedBuffers: [...m.namedBuffers()].map(([n]) => n),
    init, bn, bnOut,
  };
  for (const x of [m, seq, c1, l1, c2, l2, bn2, bnCma, bn1]) x.dispose();

  // ---- PyTorch side, one process ----
  py = runTorch(
    PY_CUSTOM + String.raw`
m = Custom()
sd = m.state_dict()
seq = nn.Sequential(nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2)), nn.Conv2d(8, 8, 3, groups=2, dilation=2, bias=False),
    nn.BatchNorm2d(8, momentum=None, eps=1e-3), nn.BatchNorm1d(5, affine=False), nn.Linear(10, 3, bias=False),
    nn.ReLU(inplace=True), nn.Identity(), nn.Dropout(0.25), nn.MaxPool2d(3, stride=2, padding=1),
    nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(0, 2), nn.Sequential())
jout("keys", list(sd.keys()))
jout("shapes", [list(v.shape) for v in sd.values()])
jout("repr", repr(m) + "\n" + repr(seq))
jout("numParams", sum(p.numel() for p in m.parameters()))
jout("namedParams", [n for n, _ in m.named_parameters()])
jout("namedBuffers", [n for n, _ in m.named_buffers()])
torch.manual_seed(123)
c1 = nn.Conv2d(16, 32, 3); l1 = nn.Linear(300, 20); c2 = nn.Conv2d(4, 6, 1, bias=False); l2 = nn.Linear(7, 5, bias=False)
for n, t in [("c1w", c1.weight), ("c1b", c1.bias), ("l1w", l1.weight), ("l1b", l1.bias), ("c2w", c2.weight), ("l2w", l2.weight)]:
    out("init_" + n, t)
x2, x1 = IN["x2"], IN["x1"]
bn2 = nn.BatchNorm2d(4); bnCma = nn.BatchNorm2d(4, momentum=None); bn1 = nn.BatchNorm1d(4)
for i in range(3):
    bn2(x2 * (i + 1)); bnCma(x2 * (i + 1)); bn1(x1 + i)
out("train2d", bn2(x2))
bn2.eval(); out("eval2d", bn2(x2))
bn1.eval(); out("eval1d", bn1(x1))
for n, t in [("rm", bn2.running_mean), ("rv", bn2.running_var), ("nbt", bn2.num_batches_tracked),
             ("cmaRm", bnCma.running_mean), ("cmaRv", bnCma.running_var), ("cmaNbt", bnCma.num_batches_tracked),
             ("rm1", bn1.running_mean), ("rv1", bn1.running_var), ("nbt1", bn1.num_batches_tracked)]:
    out("bn_" + n, t)
`,
    { x2: bnInput2d, x1: bnInput1d },
  );
});

test("stateDict keys, order and shapes equal PyTorch's (params then persistent buffers per module, then children)", () => {
  assert.deepEqual(winnow.keys, py.json.keys);
  assert.deepEqual(winnow.shapes, py.json.shapes);
  assert.ok(!winnow.keys.includes("scratch"), "non-persistent buffers stay out of the state dict");
  assert.deepEqual(winnow.namedParams, py.json.namedParams);
  assert.deepEqual(winnow.namedBuffers, py.json.namedBuffers);
  assert.equal(winnow.numParams, py.json.numParams);
});

test("toString() equals PyTorch's repr", () => {
  assert.equal(winnow.repr, py.json.repr);
});

test("default init equals PyTorch's: same seed, same values (kaiming_uniform a=√5, bias U(±1/√fan_in))", () => {
  for (const k of ["c1w", "c1b", "l1w", "l1b", "c2w", "l2w"]) {
    assert.deepEqual(winnow.init[k], values(py.tensors[`init_${k}`]), k);
  }
});

test("init bounds: |w| <= 1/sqrt(fan_in) and the draws fill the range", () => {
  torch.manualSeed(1);
  const conv = new nn.Conv2d(64, 128, 3);
  const lin = new nn.Linear(512, 256);
  for (const [t, fanIn] of [[conv.weight, 64 * 9], [conv.bias!, 64 * 9], [lin.weight, 512], [lin.bias!, 512]] as const) {
    const v = t.toArray();
    const bound = 1 / Math.sqrt(fanIn);
    const max = v.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    assert.ok(max <= bound + 1e-7, `max ${max} > bound ${bound}`);
    if (v.length > 200) {
      assert.ok(max > 0.95 * bound, "uniform draws reach near the bound");
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      assert.ok(Math.abs(mean) < 0.1 * bound, `mean ${mean} near 0`);
      const std = Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);
      assert.ok(Math.abs(std - bound / Math.sqrt(3)) < 0.05 * bound, `std ${std} ≈ bound/√3`);
    }
  }
  const bn = new nn.BatchNorm2d(5);
  assert.deepEqual(bn.weight!.toArray(), [1, 1, 1, 1, 1]);
  assert.deepEqual(bn.bias!.toArray(), [0, 0, 0, 0, 0]);
  assert.equal(bn.numBatchesTracked!.dtype, "int64");
  assert.deepEqual(bn.numBatchesTracked!.shape, []);
  for (const m of [conv, lin, bn]) m.dispose();
});

test("BatchNorm running stats, num_batches_tracked and outputs after train-mode forwards equal PyTorch", () => {
  const b = winnow.bn;
  const opt = { rtol: 1e-5, atol: 1e-6 };
  assertAllClose(b.rm, values(py.tensors.bn_rm), { ...opt, what: "running_mean" });
  assertAllClose(b.rv, values(py.tensors.bn_rv), { ...opt, what: "running_var" });
  assert.deepEqual(b.nbt, values(py.tensors.bn_nbt));
  assert.deepEqual(b.nbt, [4], "3 training forwards plus the train2d one");
  assertAllClose(b.cmaRm, values(py.tensors.bn_cmaRm), { ...opt, what: "cumulative running_mean" });
  assertAllClose(b.cmaRv, values(py.tensors.bn_cmaRv), { ...opt, what: "cumulative running_var" });
  assert.deepEqual(b.cmaNbt, values(py.tensors.bn_cmaNbt));
  assertAllClose(b.rm1, values(py.tensors.bn_rm1), { ...opt, what: "1d running_mean" });
  assertAllClose(b.rv1, values(py.tensors.bn_rv1), { ...opt, what: "1d running_var" });
  assert.deepEqual(b.nbt1, values(py.tensors.bn_nbt1));
  for (const k of ["train2d", "eval2d", "eval1d"]) assertAllClose(winnow.bnOut[k], values(py.tensors[k]), { ...opt, what: k });
});

test("eval mode leaves running stats and num_batches_tracked untouched", () => {
  const bn = new nn.BatchNorm2d(3).eval();
  torch.scope(() => bn.forward(torch.randn([2, 3, 4, 4])));
  assert.deepEqual(bn.runningMean!.toArray(), [0, 0, 0]);
  assert.deepEqual(bn.numBatchesTracked!.toArray(), [0]);
  bn.train();
  torch.scope(() => bn.forward(torch.randn([2, 3, 4, 4])));
  assert.deepEqual(bn.numBatchesTracked!.toArray(), [1]);
  assert.throws(() => bn.forward(torch.randn([2, 3])), /expected 4D input/);
  bn.dispose();
});

test("train()/eval() propagate to every descendant", () => {
  const m = new Custom();
  m.eval();
  assert.ok(m.modules().every((x) => !x.training));
  m.train();
  assert.ok(m.modules().every((x) => x.training));
  m.dispose();
});

test("loadStateDict copies values in place; strict errors list missing, unexpected and mismatched keys", () => {
  const a = new Custom();
  const b = new Custom();
  const live = torch.liveTensors();
  torch.scope(() => {
    torch.noGrad(() => a.fc.weight.fill_(0.5));
    const before = b.fc.weight;
    b.loadStateDict(a.stateDict());
    assert.equal(b.fc.weight, before, "the same tensor object, updated in place");
    assert.deepEqual(b.fc.weight.toArray(), Array(8).fill(0.5));
    assert.ok(b.fc.weight.requiresGrad);

    const bad = new Map(a.stateDict());
    bad.delete("fc.bias");
    bad.set("fc.extra", torch.zeros([1]));
    bad.set("body.0.weight", torch.zeros([4, 3, 5, 5]));
    let err: unknown;
    try {
      b.loadStateDict(bad);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof nn.StateDictError);
    assert.deepEqual(err.missingKeys, ["fc.bias"]);
    assert.deepEqual(err.unexpectedKeys, ["fc.extra"]);
    assert.deepEqual(err.shapeMismatches, [{ key: "body.0.weight", expected: [4, 3, 3, 3], got: [4, 3, 5, 5] }]);
    assert.match(err.message, /Missing key\(s\) in state_dict: "fc\.bias"/);
    assert.match(err.message, /Unexpected key\(s\) in state_dict: "fc\.extra"/);
    assert.match(err.message, /size mismatch for body\.0\.weight: copying a param with shape \[4, 3, 5, 5\] from checkpoint, the shape in current model is \[4, 3, 3, 3\]/);

    // non-strict: key differences tolerated, shape mismatches still fatal
    bad.delete("body.0.weight");
    const r = b.loadStateDict(bad, { strict: false });
    assert.deepEqual(r, { missingKeys: ["body.0.weight", "fc.bias"], unexpectedKeys: ["fc.extra"] });
  });
  assert.equal(torch.liveTensors(), live);
  a.dispose();
  b.dispose();
});

test("to(dtype) casts floating tensors only and keeps requiresGrad; to({memoryFormat}) makes 4-d params channels_last", () => {
  const m = new Custom();
  const live = torch.liveTensors();
  m.to("float64");
  assert.equal(m.fc.weight.dtype, "float64");
  assert.ok(m.fc.weight.requiresGrad && m.fc.weight.isLeaf);
  assert.equal(m.buffer("step")!.dtype, "int64");
  const bn = m.body.at(1) as nn.BatchNorm2d;
  assert.equal(bn.numBatchesTracked!.dtype, "int64");
  assert.equal(bn.runningMean!.dtype, "float64");
  m.to({ dtype: "float32", memoryFormat: "channels_last" });
  const conv = m.body.at(0) as nn.Conv2d;
  assert.ok(conv.weight.isContiguous("channels_last"));
  assert.equal(conv.weight.dtype, "float32");
  assert.ok(conv.weight.requiresGrad);
  assert.equal(torch.liveTensors(), live, "replaced tensors are freed");
  assert.throws(() => m.to("int64"), /floating point/);
  torch.scope(() => {
    const y = m.forward(torch.randn([2, 3, 6, 6]).contiguous("channels_last"));
    assert.deepEqual(y.shape, [2, 2]);
  });
  m.dispose();
});

test("dispose() frees every parameter and buffer; Sequential frees its intermediates", () => {
  const base = torch.liveTensors();
  const m = new Custom();
  assert.ok(torch.liveTensors() > base);
  const x = torch.randn([2, 3, 8, 8]);
  const before = torch.liveTensors();
  const y = m.forward(x);
  assert.equal(torch.liveTensors(), before + 1, "only the output survives the forward");
  y.dispose();
  m.dispose();
  m.dispose();
  x.dispose();
  assert.equal(torch.liveTensors(), base);
});

test("registration rules: names, getSubmodule, zeroGrad, requiresGrad_", () => {
  const m = new Custom();
  assert.throws(() => m.registerParameter("a.b", torch.zeros([1])), /no '\.'/);
  assert.throws(() => m.registerBuffer("fc", torch.zeros([1])), /already registered/);
  assert.equal(m.getSubmodule("body.1").typeName, "BatchNorm2d");
  assert.throws(() => m.getSubmodule("body.9"), /no child module '9'/);
  torch.scope(() => {
    const x = torch.randn([2, 3, 4, 4]);
    m.forward(x).sum().backward();
  });
  torch.scope(() => {
    assert.ok(m.parameters().every((p) => p.grad !== null || p === m.param("late")));
    m.zeroGrad();
    assert.ok(m.parameters().every((p) => p.grad === null));
  });
  m.requiresGrad_(false);
  assert.ok(m.parameters().every((p) => !p.requiresGrad));
  assert.equal(m.numParameters(true), 0);
  m.dispose();
});
