// Errors: a libtorch failure becomes a JavaScript Error carrying libtorch's message, and the
// engine keeps working afterwards (the next op runs correctly, nothing leaks, grad mode and
// scopes are restored). libtorch's message is taken from the real PyTorch: the same failing call
// runs there (helpers/oracle.ts) and Winnow's message must contain PyTorch's.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { F, Tensor } from "../src/torch/index.js";
import { native } from "../src/torch/native.js";
import { Oracle } from "./helpers/oracle.js";

torch.setNumThreads(2);

/** Runs a small known computation: the engine still works, and gives the right answer. */
function stillWorks(): void {
  const r = torch.scope(() => {
    const a = torch.arange(6, undefined, 1, { dtype: "float32" }).reshape(2, 3);
    return a.matmul(a.t()).sum().item(); // [[5,14],[14,50]]
  });
  assert.equal(r, 83);
}

/** Asserts fn throws an Error (not a crash), its message containing `expected`; then stillWorks(). */
function throwsWith(fn: () => unknown, expected: string | RegExp, ctor: Function = Error): Error {
  const live = torch.liveTensors();
  let caught: unknown = null;
  try {
    torch.scope(fn);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ctor, `expected a ${ctor.name}, got ${caught === null ? "no error" : String(caught)}`);
  const msg = (caught as Error).message;
  if (typeof expected === "string") assert.ok(msg.includes(expected), `message ${JSON.stringify(msg)}\n  lacks ${JSON.stringify(expected)}`);
  else assert.match(msg, expected);
  assert.equal(torch.liveTensors(), live, "a failed op leaves no live tensors behind");
  stillWorks();
  return caught as Error;
}

// Each libtorch error case: the Winnow call, and the same call in PyTorch.
const libtorchCases: [string, () => unknown, string][] = [
  ["matmul shape mismatch", () => torch.randn([2, 3]).matmul(torch.randn([4, 5])), "torch.randn(2, 3).matmul(torch.randn(4, 5))"],
  ["mm shape mismatch", () => torch.randn([2, 3]).mm(torch.randn([4, 5])), "torch.randn(2, 3).mm(torch.randn(4, 5))"],
  ["bmm of 2-d tensors", () => torch.randn([2, 3]).bmm(torch.randn([2, 3])), "torch.randn(2, 3).bmm(torch.randn(2, 3))"],
  ["conv2d of an int64 input with float weights (bad dtype)",
    () => F.conv2d(torch.zeros([1, 3, 5, 5], { dtype: "int64" }), torch.randn([2, 3, 3, 3])),
    "F.conv2d(torch.zeros(1, 3, 5, 5, dtype=torch.int64), torch.randn(2, 3, 3, 3))"],
  ["conv2d channel mismatch", () => F.conv2d(torch.randn([1, 4, 5, 5]), torch.randn([2, 3, 3, 3])),
    "F.conv2d(torch.randn(1, 4, 5, 5), torch.randn(2, 3, 3, 3))"],
  ["mm of float with int64 (bad dtype)", () => torch.randn([2, 3]).mm(torch.zeros([3, 2], { dtype: "int64" })),
    "torch.randn(2, 3).mm(torch.zeros(3, 2, dtype=torch.int64))"],
  ["view of a non-contiguous tensor (std::runtime_error in 1.13)", () => torch.randn([2, 3]).t().view(6),
    "torch.randn(2, 3).t().view(6)"],
  ["reshape to a wrong size", () => torch.randn([2, 3]).reshape(4, 2), "torch.randn(2, 3).reshape(4, 2)"],
  ["expand a non-singleton dim", () => torch.randn([2, 3]).expand(4, 4), "torch.randn(2, 3).expand(4, 4)"],
  ["cat with mismatched sizes", () => torch.cat([torch.randn([2, 3]), torch.randn([2, 4])]), "torch.cat([torch.randn(2, 3), torch.randn(2, 4)])"],
  ["indexSelect out of range", () => torch.randn([2, 3]).indexSelect(0, torch.tensor([5], { dtype: "int64" })),
    "torch.randn(2, 3).index_select(0, torch.tensor([5]))"],
  ["crossEntropy target out of bounds", () => F.crossEntropy(torch.randn([2, 3]), torch.tensor([0, 7], { dtype: "int64" })),
    "F.cross_entropy(torch.randn(2, 3), torch.tensor([0, 7]))"],
  ["mixing devices (meta and cpu)", () => torch.zeros([2], { device: "meta" }).add(torch.zeros([2])),
    "torch.zeros(2, device='meta') + torch.zeros(2)"],
  ["a bad device string", () => torch.zeros([2]).to("gpu"), "torch.zeros(2).to('gpu')"],
  ["subtracting bool tensors", () => torch.zeros([2], { dtype: "bool" }).sub(torch.zeros([2], { dtype: "bool" })),
    "torch.zeros(2, dtype=torch.bool) - torch.zeros(2, dtype=torch.bool)"],
];

const oracle = new Oracle();
for (const [name, , code] of libtorchCases) {
  oracle.add(name, {}, `
try:
    ${code}
    O["message"] = None
except Exception as e:
    O["message"] = str(e).split("\\n")[0]
`);
}
const results = await oracle.run();

for (const [name, fn] of libtorchCases) {
  test(`libtorch error: ${name}`, () => {
    const message = results.get(name)!.get("message");
    assert.equal(typeof message, "string", "PyTorch raises on this call too");
    throwsWith(fn, message as string);
  });
}

test("wrong device: a device this build cannot use throws (CPU build: any cuda; CUDA build: a missing ordinal)", () => {
  const dev = torch.cuda.isAvailable() ? "cuda:999" : "cuda";
  throwsWith(() => torch.zeros([2]).to(dev), /cuda|device/i);
  throwsWith(() => torch.zeros([2], { device: dev }), /cuda|device/i);
  throwsWith(() => torch.tensor([1, 2], { device: dev }), /cuda|device/i);
  assert.equal(torch.ones([2]).sum().item(), 2); // and the engine goes on
});

test("a disposed tensor: methods and arguments throw 'used after dispose()', natively too", () => {
  const x = torch.ones([3]);
  const h = x.h;
  x.dispose();
  throwsWith(() => x.add(1), "Tensor used after dispose()");
  throwsWith(() => torch.ones([3]).add(x), "Tensor used after dispose()");
  throwsWith(() => torch.cat([torch.ones([3]), x]), "Tensor used after dispose()");
  throwsWith(() => x.shape, "Tensor used after dispose()");
  // The native layer checks too, for a handle kept past dispose().
  throwsWith(() => native.neg(h), "Tensor used after dispose()");
  throwsWith(() => native.cat([torch.ones([3]).h, h], 0), "Tensor used after dispose()");
});

test("non-tensor arguments: TypeErrors naming the argument", () => {
  throwsWith(() => torch.ones([2, 2]).matmul(5 as unknown as Tensor), "argument 1: expected a tensor handle", TypeError);
  throwsWith(() => native.neg({}), "argument 0: expected a tensor handle", TypeError);
  throwsWith(() => native.neg(undefined), "argument 0: expected a tensor handle", TypeError);
  throwsWith(() => torch.cat([torch.ones([2]), {} as Tensor]), "expected a list of tensor handles", TypeError);
  throwsWith(() => torch.ones([2]).reshape(["a"] as unknown as number[]), "expected integers", TypeError);
  throwsWith(() => torch.ones([2]).add(torch.ones([2]), "two" as unknown as number), "argument 2: expected a number", TypeError);
  throwsWith(() => native.conv2d(torch.ones([1, 1, 3, 3]).h, torch.ones([1, 1, 1, 1]).h, undefined, "1", [0, 0], [1, 1], 1),
    "expected an array of integers", TypeError);
});

test("engine-side errors: item() of many elements, wrong buffer size, unknown dtype", () => {
  throwsWith(() => torch.zeros([2]).item(), "a Tensor with 2 elements cannot be converted to a number");
  throwsWith(() => torch.tensor(new Float32Array(5), { shape: [2, 3] }), "shape needs 24 bytes", RangeError);
  throwsWith(() => torch.zeros([2], { dtype: "float8" as never }), "unknown dtype 'float8'");
  throwsWith(() => F.interpolate(torch.zeros([1, 1, 2, 2]), [4, 4], { mode: "nearest", antialias: true }), "antialias");
});

test("after an error: grad mode, autocast nesting and scopes are restored; the failing scope freed its tensors", () => {
  assert.equal(torch.isGradEnabled(), true);
  throwsWith(() => torch.noGrad(() => torch.randn([2, 3]).matmul(torch.randn([4, 5]))), "cannot be multiplied");
  assert.equal(torch.isGradEnabled(), true, "noGrad restored grad mode after the throw");
  const depth = torch.scopeDepth();
  const live = torch.liveTensors();
  assert.throws(() => torch.scope(() => {
    torch.ones([1000]);
    torch.scope(() => {
      torch.ones([10]);
      torch.ones([2]).view(3);
    });
  }), /shape '\[3\]' is invalid/);
  assert.equal(torch.scopeDepth(), depth);
  assert.equal(torch.liveTensors(), live);
  // Autograd still works after a failed backward.
  const x = torch.randn([3], { requiresGrad: true });
  assert.throws(() => x.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
  torch.scope(() => x.mul(2).sum().backward());
  assert.deepEqual(x.grad!.toArray(), [2, 2, 2]);
  x.dispose();
  stillWorks();
});

test("many errors in a row leak nothing", () => {
  const live = torch.liveTensors();
  const a = torch.randn([8, 8]);
  const b = torch.randn([7, 7]);
  for (let i = 0; i < 200; i++) {
    assert.throws(() => a.mm(b));
  }
  a.dispose();
  b.dispose();
  assert.equal(torch.liveTensors(), live);
  stillWorks();
});
