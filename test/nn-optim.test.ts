// Optimizers and LR schedules against PyTorch: the same initial parameters and the same fixed
// gradients for N steps must give the same parameters (torch.optim.SGD / AdamW; lightly's LARS,
// re-implemented below in a few lines of PyTorch because lightly itself is not installed).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import type { Tensor } from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import { runTorch, values, assertAllClose, hasTorchPython } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);

const SHAPES = [[4, 3], [5], [2, 3, 3, 3]];
const STEPS = 6;

interface Case {
  name: string;
  /** Winnow optimizer over params p0..p2. */
  make: (p: Tensor[]) => nn.Optimizer<nn.GroupOptions>;
  /** Python expression building the optimizer from the list `P`. */
  py: string;
  /** Per-step learning rates to set (both sides) before that step, if any. */
  setLr?: Record<number, number[]>;
  /** Steps whose gradients are left out for parameter 1 (grad None). */
  skipGrad?: number[];
}

// lightly.utils.lars.LARS semantics (facts from lightly/utils/lars.py), as plain PyTorch.
const PY_LARS = String.raw`
class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, trust_coefficient=0.001, eps=1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, trust_coefficient=trust_coefficient, eps=eps))
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                pn, gn = torch.norm(p.data), torch.norm(p.grad.data)
                if g["weight_decay"] != 0 and pn != 0 and gn != 0:
                    scale = pn / (gn + pn * g["weight_decay"] + g["eps"])
                    scale *= g["trust_coefficient"]
                    d = d.add(p, alpha=g["weight_decay"])
                    d *= scale
                if g["momentum"] != 0:
                    st = self.state[p]
                    if "momentum_buffer" not in st:
                        buf = st["momentum_buffer"] = torch.clone(d).detach()
                    else:
                        buf = st["momentum_buffer"]
                        buf.mul_(g["momentum"]).add_(d, alpha=1 - g["dampening"])
                    d = d.add(buf, alpha=g["momentum"]) if g["nesterov"] else buf
                p.add_(d, alpha=-g["lr"])
`;

const CASES: Case[] = [
  {
    name: "SGD momentum + nesterov + weight decay",
    make: (p) => new nn.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-2 }),
    py: "torch.optim.SGD(P, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)",
  },
  {
    name: "SGD dampening, param groups with their own lr/momentum, setLr mid-run, a missing grad",
    make: (p) => new nn.SGD([{ params: [p[0], p[1]] }, { params: [p[2]], lr: 0.2, momentum: 0.5 }], { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 1e-3 }),
    py: "torch.optim.SGD([{'params': [P[0], P[1]]}, {'params': [P[2]], 'lr': 0.2, 'momentum': 0.5}], lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3)",
    setLr: { 3: [0.01, 0.07] },
    skipGrad: [2],
  },
  {
    name: "SGD plain, maximize",
    make: (p) => new nn.SGD(p, { lr: 0.3, maximize: true }),
    py: "torch.optim.SGD(P, lr=0.3, maximize=True)",
  },
  {
    name: "AdamW (bias correction, decoupled weight decay)",
    make: (p) => new nn.AdamW(p, { lr: 1e-2, weightDecay: 0.1 }),
    py: "torch.optim.AdamW(P, lr=1e-2, weight_decay=0.1)",
  },
  {
    name: "AdamW amsgrad, betas, eps, groups",
    make: (p) => new nn.AdamW([{ params: [p[0]] }, { params: [p[1], p[2]], lr: 3e-3, weightDecay: 0 }], { lr: 5e-2, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true }),
    py: "torch.optim.AdamW([{'params': [P[0]]}, {'params': [P[1], P[2]], 'lr': 3e-3, 'weight_decay': 0}], lr=5e-2, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)",
    setLr: { 4: [0.02, 0.001] },
  },
  {
    name: "LARS (lightly): trust coefficient, bias/BN group with weight decay 0 excluded from scaling",
    make: (p) => new nn.LARS([{ params: [p[0], p[2]] }, { params: [p[1]], weightDecay: 0 }], { lr: 0.5, momentum: 0.9, weightDecay: 1e-4 }),
    py: "LARS([{'params': [P[0], P[2]]}, {'params': [P[1]], 'weight_decay': 0}], lr=0.5, momentum=0.9, weight_decay=1e-4)",
  },
  {
    name: "LARS nesterov, custom trust coefficient",
    make: (p) => new nn.LARS(p, { lr: 0.2, momentum: 0.8, nesterov: true, weightDecay: 1e-2, trustCoefficient: 0.02 }),
    py: "LARS(P, lr=0.2, momentum=0.8, nesterov=True, weight_decay=1e-2, trust_coefficient=0.02)",
  },
];

let inputs: Record<string, Tensor>;
const results: Record<string, number[][]> = {};
let py: ReturnType<typeof runTorch>;

before(() => {
  torch.manualSeed(99);
  inputs = {};
  SHAPES.forEach((s, i) => (inputs[`p${i}`] = torch.keep(torch.randn(s))));
  for (let k = 0; k < STEPS; k++) SHAPES.forEach((s, i) => (inputs[`g${k}_${i}`] = torch.keep(torch.randn(s).mul(0.5 + k * 0.3))));

  for (const c of CASES) {
    const params = SHAPES.map((_, i) => torch.keep(inputs[`p${i}`].clone().requiresGrad_(true)));
    const opt = c.make(params);
    for (let k = 0; k < STEPS; k++) {
      torch.scope(() => {
        params.forEach((p, i) => {
          p.grad = c.skipGrad?.includes(k) && i === 1 ? null : inputs[`g${k}_${i}`].clone();
        });
        if (c.setLr?.[k]) opt.setLr(c.setLr[k]);
        opt.step();
        opt.zeroGrad();
      });
    }
    results[c.name] = params.map((p) => p.toArray());
    opt.dispose();
    params.forEach((p) => p.dispose());
  }
  if (!hasTorchPython()) throw new Error("/usr/bin/python3 with torch is required (scripts/setup.sh installs python3-torch): it is the oracle of these tests");
  const body = CASES.map((c, ci) => String.raw`
P = [IN["p%d" % i].clone().requires_grad_(True) for i in range(3)]
opt = ${c.py}
for k in range(${STEPS}):
    for i, p in enumerate(P):
        p.grad = None if (k in ${JSON.stringify(c.skipGrad ?? [])} and i == 1) else IN["g%d_%d" % (k, i)].clone()
    lrs = ${JSON.stringify(c.setLr ?? {})}.get(str(k))
    if lrs:
        for g, lr in zip(opt.param_groups, lrs):
            g["lr"] = lr
    opt.step()
    opt.zero_grad(set_to_none=True)
for i, p in enumerate(P):
    out("c${ci}_p%d" % i, p)
`).join("\n");
  py = runTorch(PY_LARS + body, inputs);
});

for (const [ci, c] of CASES.entries()) {
  test(`${c.name}: ${STEPS} steps equal PyTorch's`, () => {
    const mine = results[c.name];
    mine.forEach((v, i) => assertAllClose(v, values(py.tensors[`c${ci}_p${i}`]), { rtol: 1e-6, atol: 1e-7, what: `param ${i}` }));
    // and the parameters did move
    assert.notDeepEqual(mine[0], inputs.p0.toArray());
  });
}

test("zeroGrad sets grads to null; zeroGrad(false) zeroes them in place", () => {
  const p = torch.keep(torch.ones([3]).requiresGrad_(true));
  const opt = new nn.SGD([p], { lr: 1 });
  torch.scope(() => {
    p.grad = torch.ones([3]);
    opt.zeroGrad(false);
    assert.deepEqual(p.grad!.toArray(), [0, 0, 0]);
    opt.zeroGrad();
    assert.equal(p.grad, null);
  });
  p.dispose();
});

test("optimizer state is owned and freed: step() leaks nothing, dispose() frees buffers", () => {
  const ps = [torch.keep(torch.randn([10, 10]).requiresGrad_(true)), torch.keep(torch.randn([10]).requiresGrad_(true))];
  const base = torch.liveTensors();
  const opts: nn.Optimizer<nn.GroupOptions>[] = [new nn.SGD(ps, { lr: 0.1, momentum: 0.9 }), new nn.AdamW(ps), new nn.LARS(ps, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 })];
  for (const opt of opts) {
    torch.scope(() => {
      for (let k = 0; k < 3; k++) {
        ps.forEach((p) => (p.grad = torch.randn(p.shape)));
        opt.step();
      }
    });
    assert.ok(torch.liveTensors() > base, "state tensors exist");
    const sd = opt.stateDict();
    const n = [...sd.state.values()].reduce((a, s) => a + Object.values(s).filter((v) => typeof v !== "number").length, 0);
    opt.loadStateDict(sd);
    for (const s of sd.state.values()) for (const v of Object.values(s)) if (typeof v !== "number") v.dispose();
    assert.ok(n > 0);
    opt.zeroGrad();
    opt.dispose();
    assert.equal(torch.liveTensors(), base);
  }
  ps.forEach((p) => p.dispose());
});

test("optimizer argument checks", () => {
  const p = torch.keep(torch.ones([1]).requiresGrad_(true));
  assert.throws(() => new nn.SGD([p], { lr: 0.1, nesterov: true }), /Nesterov momentum requires a momentum/);
  assert.throws(() => new nn.SGD([p], { lr: -1 }), /Invalid learning rate/);
  assert.throws(() => new nn.AdamW([p], { betas: [1, 0.9] }), /Invalid beta/);
  assert.throws(() => new nn.SGD([{ params: [p] }, { params: [p] }], { lr: 1 }), /more than one parameter group/);
  assert.throws(() => new nn.SGD([], { lr: 1 }), /empty parameter list/);
  p.dispose();
});

// ---- schedules -----------------------------------------------------------------------------------
test("cosine warm-up schedule: lightly's values (linear warm-up reaching start at the end, cosine to end)", () => {
  // warm-up: 0 + (1 - 0) * (step + 1) / 5
  for (let s = 0; s < 5; s++) assert.equal(nn.cosineWarmupSchedule(s, 20, 1, 0.001, 5, 0), (s + 1) / 5);
  assert.equal(nn.cosineWarmupSchedule(5, 20, 1, 0.001, 5, 0), 1, "cosine starts at start_value");
  assert.equal(nn.cosineWarmupSchedule(19, 20, 1, 0.001, 5, 0), 0.001, "ends at end_value");
  const mid = nn.cosineWarmupSchedule(12, 20, 1, 0.001, 5, 0); // cosine step 7 of 15 → cos(pi*7/14) = 0
  assert.ok(Math.abs(mid - (0.001 + 0.999 / 2)) < 1e-12);
  assert.equal(nn.cosineSchedule(3, 1, 1, 0.5), 0.5);
  assert.ok(Math.abs(nn.cosineSchedule(2, 10, 1, 0, 4) - 0) < 1e-12, "period: half way is end_value");
  assert.throws(() => nn.cosineWarmupSchedule(0, 3, 1, 0, 5, 0), /must be <= max_steps/);
});

test("CosineWarmupScheduler steps the lrs like PyTorch's LambdaLR over lightly's formula", () => {
  const p = torch.keep(torch.ones([1]).requiresGrad_(true));
  const q = torch.keep(torch.ones([1]).requiresGrad_(true));
  const opt = new nn.SGD([{ params: [p] }, { params: [q], lr: 0.3 }], { lr: 1.2 });
  const sched = new nn.CosineWarmupScheduler(opt, 3, 12, { endValue: 0.01, warmupStartValue: 0.1 });
  const mine: number[][] = [opt.getLr()];
  for (let i = 0; i < 14; i++) {
    sched.step();
    mine.push(opt.getLr());
  }
  assert.deepEqual(sched.getLastLr(), mine[mine.length - 1]);
  const r = runTorch(String.raw`
import math, warnings
warnings.simplefilter("ignore")
def cosine(step, max_steps, start, end, period=None):
    if period is not None:
        return end - (end - start) * (math.cos(2 * math.pi * step / period) + 1) / 2
    if max_steps <= 1 or step >= max_steps - 1:
        return end
    return end - (end - start) * (math.cos(math.pi * step / (max_steps - 1)) + 1) / 2
def warm(step, max_steps, start, end, warmup, wstart, wend=None, period=None):
    wend = start if wend is None else wend
    if step < warmup:
        return wstart + (wend - wstart) * (step + 1) / warmup
    return cosine(step - warmup, max_steps - (warmup if period is None else 1), start, end, period)
P = torch.ones(1, requires_grad=True); Q = torch.ones(1, requires_grad=True)
opt = torch.optim.SGD([{"params": [P]}, {"params": [Q], "lr": 0.3}], lr=1.2)
s = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: warm(e, 12, 1.0, 0.01, 3, 0.1))
lrs = [[g["lr"] for g in opt.param_groups]]
for i in range(14):
    opt.step(); s.step()
    lrs.append([g["lr"] for g in opt.param_groups])
jout("lrs", lrs)
`);
  const ref = r.json.lrs as number[][];
  assert.equal(mine.length, ref.length);
  mine.forEach((l, i) => assertAllClose(l, ref[i], { rtol: 1e-12, atol: 0, what: `epoch ${i}` }));
  opt.dispose();
  p.dispose();
  q.dispose();
});

test("getWeightDecayParameters: norm-layer parameters and biases are not decayed (lightly's rule)", () => {
  const m = new nn.Sequential(new nn.Conv2d(3, 4, 3, { bias: false }), new nn.BatchNorm2d(4), new nn.Linear(4, 2), new nn.BatchNorm1d(2, { affine: false }));
  const [decay, noDecay] = nn.getWeightDecayParameters([m]);
  const name = new Map(m.namedParameters()).entries();
  const byTensor = new Map([...name].map(([n, t]) => [t, n]));
  assert.deepEqual(decay.map((t) => byTensor.get(t)), ["0.weight", "2.weight"]);
  assert.deepEqual(noDecay.map((t) => byTensor.get(t)), ["1.weight", "1.bias", "2.bias"]);
  const [d2, n2] = nn.getWeightDecayParameters([m], { decayNorm: true, decayBias: true });
  assert.equal(d2.length, 5);
  assert.equal(n2.length, 0);
  const opt = new nn.LARS([{ params: decay }, { params: noDecay, weightDecay: 0 }], { lr: 0.1, momentum: 0.9, weightDecay: 1e-6 });
  assert.deepEqual(opt.paramGroups.map((g) => g.weightDecay), [1e-6, 0]);
  m.dispose();
});
