// NT-Xent (src/ssl/ntxent.ts) against lightly's NTXentLoss formula written in PyTorch
// (test/helpers/py/lightly_like.py): loss values and gradients for both views.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { ntXentLoss, NTXentLoss } from "../src/ssl/index.js";
import { runTorch, values, assertAllClose } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);

test("NT-Xent loss and gradients equal lightly's formula (temperatures 0.5 and 0.1, several batch sizes)", () => {
  torch.manualSeed(3);
  const cases = [
    { n: 8, d: 16, t: 0.5 },
    { n: 5, d: 3, t: 0.1 },
    { n: 32, d: 128, t: 0.5 },
  ];
  const inputs: Record<string, torch.Tensor> = {};
  const mine: { loss: number; g0: number[]; g1: number[] }[] = [];
  const base = torch.liveTensors();
  cases.forEach((c, i) => {
    const [a, b] = torch.scope(() => {
      const a = torch.randn([c.n, c.d]).mul(2);
      return [a, torch.randn([c.n, c.d]).add(a.mul(0.5))];
    });
    inputs[`a${i}`] = torch.keep(a);
    inputs[`b${i}`] = torch.keep(b);
    torch.scope(() => {
      const x0 = a.clone().requiresGrad_(true);
      const x1 = b.clone().requiresGrad_(true);
      const loss = ntXentLoss(x0, x1, c.t);
      loss.backward();
      mine.push({ loss: loss.item(), g0: x0.grad!.toArray(), g1: x1.grad!.toArray() });
    });
  });
  assert.equal(torch.liveTensors(), base + 2 * cases.length);
  const r = runTorch(String.raw`
from lightly_like import nt_xent
for i, t in enumerate(${JSON.stringify(cases.map((c) => c.t))}):
    a = IN["a%d" % i].clone().requires_grad_(True)
    b = IN["b%d" % i].clone().requires_grad_(True)
    loss = nt_xent(a, b, t)
    loss.backward()
    out("loss%d" % i, loss); out("g0_%d" % i, a.grad); out("g1_%d" % i, b.grad)
`, inputs);
  mine.forEach((m, i) => {
    assertAllClose([m.loss], values(r.tensors[`loss${i}`]), { rtol: 1e-6, atol: 1e-6, what: `loss ${i}` });
    assertAllClose(m.g0, values(r.tensors[`g0_${i}`]), { rtol: 1e-4, atol: 1e-7, what: `grad view 0, case ${i}` });
    assertAllClose(m.g1, values(r.tensors[`g1_${i}`]), { rtol: 1e-4, atol: 1e-7, what: `grad view 1, case ${i}` });
  });
  Object.values(inputs).forEach((t) => t.dispose());
});

test("NT-Xent: identical views of orthogonal vectors give the analytic value", () => {
  // z_i orthogonal unit vectors, both views equal: positive logit 1/T, negatives 0 (2N-2 of them).
  const n = 4;
  const t = 0.5;
  torch.scope(() => {
    const e = torch.eye(n, 8);
    const loss = new NTXentLoss(t).forward(e, e).item();
    const expected = -Math.log(Math.exp(1 / t) / (Math.exp(1 / t) + (2 * n - 2)));
    assert.ok(Math.abs(loss - expected) < 1e-6, `${loss} vs ${expected}`);
  });
  assert.throws(() => new NTXentLoss(0), /Illegal temperature/);
});
