// The engine against the real PyTorch: every op family runs in Winnow and in PyTorch
// (/usr/bin/python3) on the same inputs; values and gradients must match.
//
// How it works: each `check` builds its inputs and runs the op (forward and, where it has
// gradients, backward with a random upstream gradient `gy`) in Winnow right away, and registers
// the same computation as a Python snippet. One Python process then runs every snippet
// (helpers/oracle.ts), and one test per check compares the outputs by name.
//
// Tolerances are stated per check. The default, TOL = 1e-5 absolute + 1e-5 relative, is float32
// rounding noise; Winnow and PyTorch call the same libtorch build here, so most checks agree
// exactly, and integer results (indices, argmax, dtype casts, RNG draws) are compared EXACTly.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { F, Tensor } from "../src/torch/index.js";
import { Oracle, assertClose, assertValuesClose, py, EXACT, OracleTensor, type CaseResult, type Tolerance } from "./helpers/oracle.js";

torch.setNumThreads(2);
torch.manualSeed(20240601);

/** float32 rounding noise: |winnow - pytorch| <= 1e-5 + 1e-5·|pytorch|. */
const TOL: Tolerance = { atol: 1e-5, rtol: 1e-5 };
/** For results accumulated over many terms (large reductions, weight gradients of convolutions). */
const TOL_SUM: Tolerance = { atol: 1e-4, rtol: 1e-5 };

type Value = Tensor | number | boolean | string | null | Value[];
type Outputs = Record<string, Value>;

interface Spec {
  /** Makes the inputs (sent to PyTorch under the same names). Runs inside a scope. */
  inputs: () => Record<string, Tensor>;
  /** Inputs that require grad; their gradients come back as g<name>. */
  grads?: string[];
  /**
   * Winnow's computation. A Tensor or Tensor[] result is output y (or y0, y1, ...) and, with
   * `grads`, y/y0 is back-propagated with a random `gy`; a plain object is compared key by key
   * with what the Python statements put in O.
   */
  winnow: (I: Record<string, Tensor>) => Tensor | Tensor[] | Outputs;
  /** A Python expression over the inputs (by name) for Tensor results, or statements filling O. */
  python: string;
  tol?: Tolerance;
  /** Per-output tolerances, overriding `tol`. */
  tols?: Record<string, Tolerance>;
}

interface Built {
  out: Outputs;
  error?: unknown;
  tol: Tolerance;
  tols: Record<string, Tolerance>;
}

const oracle = new Oracle();
const built = new Map<string, Built>();
const order: string[] = [];

function check(name: string, spec: Spec): void {
  order.push(name);
  const grads = spec.grads ?? [];
  const tol = spec.tol ?? TOL;
  const tols = spec.tols ?? {};
  try {
    const { sent, out, exprMode } = torch.scope(() => {
      const I = spec.inputs();
      for (const g of grads) I[g].requiresGrad_(true);
      const res = spec.winnow(I);
      // Inputs go to PyTorch after Winnow ran (so `winnow` may add some, e.g. an upstream gradient);
      // ops that modify their inputs in place work on clones.
      const sent: Record<string, Tensor> = { ...I };
      const out: Outputs = {};
      let exprMode = false;
      if (res instanceof Tensor || Array.isArray(res)) {
        exprMode = true;
        const ys = res instanceof Tensor ? [res] : res;
        if (res instanceof Tensor) out.y = res;
        else ys.forEach((y, i) => (out[`y${i}`] = y));
        if (grads.length) {
          const gy = torch.randn(ys[0].shape);
          ys[0].backward(gy);
          sent.gy = gy;
          for (const g of grads) {
            const grad = I[g].grad;
            if (grad === null) throw new Error(`no gradient reached input '${g}'`);
            out[`g${g}`] = grad;
          }
        }
      } else {
        Object.assign(out, res);
      }
      return { sent, out, exprMode };
    });
    let code = spec.python;
    if (exprMode) {
      const lines = Object.keys(sent).filter((k) => k !== "gy").map((k) => `${k} = I[${py(k)}]`);
      for (const g of grads) lines.push(`${g}.requires_grad_(True)`);
      lines.push(`y = ${spec.python.trim()}`);
      lines.push(`ys = list(y) if isinstance(y, (tuple, list)) else [y]`);
      lines.push(Object.keys(out).includes("y") ? `O["y"] = ys[0]` : `for i, v in enumerate(ys): O["y%d" % i] = v`);
      if (grads.length) {
        lines.push(`ys[0].backward(I["gy"])`);
        for (const g of grads) lines.push(`O["g${g}"] = ${g}.grad`);
      }
      code = lines.join("\n");
    }
    oracle.add(name, sent, code);
    built.set(name, { out, tol, tols });
  } catch (error) {
    oracle.add(name, {}, "pass");
    built.set(name, { out: {}, error, tol, tols });
  }
}

function compareValue(key: string, a: Value, e: unknown, tol: Tolerance): number {
  if (a instanceof Tensor) {
    if (!(e instanceof OracleTensor)) throw new Error(`${key}: PyTorch returned ${JSON.stringify(e)}, Winnow a tensor`);
    assertClose(a, e, tol, key);
    const av = a.toArray();
    const ev = e.values();
    let m = 0;
    for (let i = 0; i < av.length; i++) if (Number.isFinite(ev[i])) m = Math.max(m, Math.abs(av[i] - ev[i]));
    return m;
  }
  if (typeof a === "number") {
    assert.equal(typeof e, "number", `${key}: PyTorch returned ${JSON.stringify(e)}`);
    assertValuesClose([a], [e as number], tol, `${key}: `);
    return Math.abs(a - (e as number));
  }
  if (Array.isArray(a)) {
    assert.ok(Array.isArray(e), `${key}: PyTorch returned ${JSON.stringify(e)}, Winnow a list`);
    assert.equal(a.length, (e as unknown[]).length, `${key}: list lengths`);
    let m = 0;
    a.forEach((v, i) => (m = Math.max(m, compareValue(`${key}[${i}]`, v, (e as unknown[])[i], tol))));
    return m;
  }
  assert.deepEqual(a, e, key);
  return 0;
}

function verify(name: string, r: CaseResult | undefined): string {
  const b = built.get(name)!;
  if (b.error) throw b.error;
  assert.ok(r, `no PyTorch result for '${name}'`);
  if (r.error) throw new Error(`PyTorch failed on '${name}':\n${r.error}`);
  assert.deepEqual(Object.keys(b.out).sort(), r.keys().sort(), "Winnow and PyTorch outputs (names)");
  const diffs: string[] = [];
  for (const [k, v] of Object.entries(b.out)) {
    const m = compareValue(k, v, r.get(k), b.tols[k] ?? b.tol);
    diffs.push(`${k}:${m === 0 ? "0" : m.toExponential(1)}`);
  }
  return `max |winnow - pytorch|: ${diffs.join(" ")}`;
}

// ---- inputs ------------------------------------------------------------------------------
const rn = (shape: number[], scale = 1): Tensor => torch.randn(shape).mul(scale);
const pos = (shape: number[], lo = 0.2): Tensor => torch.rand(shape).add(lo);
const idx = (high: number, shape: number[]): Tensor => torch.randint(0, high, shape);

// ==== convolution ===========================================================================
const convCfgs = [
  { name: "3x3, bias", x: [2, 4, 9, 9], w: [6, 4, 3, 3], bias: true, stride: 1, padding: 0, dilation: 1, groups: 1 },
  { name: "stride (2,1), padding (1,2), dilation (2,1), groups 2, no bias", x: [2, 4, 11, 10], w: [6, 2, 3, 2], bias: false,
    stride: [2, 1], padding: [1, 2], dilation: [2, 1], groups: 2 },
  { name: "depthwise, stride 2, padding 1, dilation 2, bias", x: [2, 4, 8, 8], w: [8, 1, 3, 3], bias: true,
    stride: 2, padding: 1, dilation: 2, groups: 4 },
  { name: "1x1, stride 2, bias", x: [3, 4, 7, 7], w: [5, 4, 1, 1], bias: true, stride: 2, padding: 0, dilation: 1, groups: 1 },
  { name: "batch 16, 5x5, padding 2", x: [16, 8, 12, 12], w: [16, 8, 5, 5], bias: true, stride: 1, padding: 2, dilation: 1, groups: 1 },
] as const;
for (const c of convCfgs) {
  check(`conv2d: ${c.name}`, {
    inputs: () => ({ x: rn([...c.x]), w: rn([...c.w], 0.3), ...(c.bias ? { b: rn([c.w[0]]) } : {}) }),
    grads: c.bias ? ["x", "w", "b"] : ["x", "w"],
    winnow: ({ x, w, b }) => F.conv2d(x, w, b ?? null, c.stride as number, c.padding as number, c.dilation as number, c.groups),
    python: `F.conv2d(x, w, ${c.bias ? "b" : "None"}, stride=${py(c.stride)}, padding=${py(c.padding)}, dilation=${py(c.dilation)}, groups=${c.groups})`,
    tols: { gw: TOL_SUM, gb: TOL_SUM },
  });
}

// ==== batch norm ============================================================================
const BN_PY = (training: boolean, affine: boolean, momentum: number, eps: number) => `
x = I["x"].requires_grad_(True)
rm, rv = I["rm"], I["rv"]
w = I["w"].requires_grad_(True) if ${py(affine)} else None
b = I["b"].requires_grad_(True) if ${py(affine)} else None
y = F.batch_norm(x, rm, rv, w, b, training=${py(training)}, momentum=${momentum}, eps=${eps})
y.backward(I["gy"])
O["y"], O["gx"], O["rm"], O["rv"] = y, x.grad, rm, rv
if ${py(affine)}:
    O["gw"], O["gb"] = w.grad, b.grad
`;
for (const [label, shape, training, affine, momentum, eps] of [
  ["train, affine (4-d)", [4, 3, 5, 5], true, true, 0.1, 1e-5],
  ["train, no affine, momentum 0.3, eps 1e-3", [4, 3, 5, 5], true, false, 0.3, 1e-3],
  ["train (2-d input)", [8, 5], true, true, 0.1, 1e-5],
  ["eval, affine", [4, 3, 5, 5], false, true, 0.1, 1e-5],
] as const) {
  check(`batchNorm: ${label}`, {
    inputs: () => {
      const c = shape[1];
      return { x: rn([...shape], 2).add(1), rm: rn([c], 0.5), rv: pos([c]), w: rn([c]), b: rn([c]) };
    },
    winnow: (I) => {
      const x = I.x.requiresGrad_(true);
      const w = affine ? I.w.clone().requiresGrad_(true) : null;
      const b = affine ? I.b.clone().requiresGrad_(true) : null;
      const rm = I.rm.clone();
      const rv = I.rv.clone();
      const y = F.batchNorm(x, rm, rv, { weight: w, bias: b, training, momentum, eps });
      const gy = torch.randn(y.shape);
      I.gy = gy; // sent to PyTorch as well
      y.backward(gy);
      const out: Outputs = { y, gx: x.grad, rm, rv };
      if (affine) Object.assign(out, { gw: w!.grad, gb: b!.grad });
      return out;
    },
    python: BN_PY(training, affine, momentum, eps),
  });
}

// ==== linear =================================================================================
check("linear: 3-d input, bias", {
  inputs: () => ({ x: rn([3, 4, 7]), w: rn([5, 7], 0.4), b: rn([5]) }),
  grads: ["x", "w", "b"],
  winnow: ({ x, w, b }) => F.linear(x, w, b),
  python: "F.linear(x, w, b)",
});
check("linear: 2-d input, no bias", {
  inputs: () => ({ x: rn([6, 7]), w: rn([3, 7], 0.4) }),
  grads: ["x", "w"],
  winnow: ({ x, w }) => F.linear(x, w),
  python: "F.linear(x, w)",
});

// ==== pooling ================================================================================
for (const [label, w, p] of [
  ["maxPool2d k3 s2 p1", (x: Tensor) => F.maxPool2d(x, 3, 2, 1), "F.max_pool2d(x, 3, 2, 1)"],
  ["maxPool2d k(2,3) s(2,1) p(1,0) dilation (1,2) ceil", (x: Tensor) => F.maxPool2d(x, [2, 3], [2, 1], [1, 0], [1, 2], true),
    "F.max_pool2d(x, (2, 3), (2, 1), (1, 0), (1, 2), ceil_mode=True)"],
  ["maxPool2d k2 (stride defaults to kernel)", (x: Tensor) => F.maxPool2d(x, 2), "F.max_pool2d(x, 2)"],
  ["avgPool2d k3 s2 p1", (x: Tensor) => F.avgPool2d(x, 3, 2, 1), "F.avg_pool2d(x, 3, 2, 1)"],
  ["avgPool2d k2 ceil, count_include_pad off, p1", (x: Tensor) => F.avgPool2d(x, 2, null, 1, true, false),
    "F.avg_pool2d(x, 2, None, 1, ceil_mode=True, count_include_pad=False)"],
  ["adaptiveAvgPool2d (4,3)", (x: Tensor) => F.adaptiveAvgPool2d(x, [4, 3]), "F.adaptive_avg_pool2d(x, (4, 3))"],
  ["adaptiveAvgPool2d 1", (x: Tensor) => F.adaptiveAvgPool2d(x, 1), "F.adaptive_avg_pool2d(x, 1)"],
] as const) {
  check(label, { inputs: () => ({ x: rn([2, 3, 9, 7]) }), grads: ["x"], winnow: ({ x }) => w(x), python: p });
}

// ==== losses and softmax =====================================================================
for (const [label, opts, pyOpts] of [
  ["mean", {}, ""],
  ["label smoothing 0.1", { labelSmoothing: 0.1 }, ", label_smoothing=0.1"],
  ["sum, ignore_index -100 (one target ignored)", { reduction: "sum" as const }, ", reduction='sum'"],
  ["none, label smoothing 0.2", { reduction: "none" as const, labelSmoothing: 0.2 }, ", reduction='none', label_smoothing=0.2"],
  ["class weights, label smoothing 0.1", { weight: true, labelSmoothing: 0.1 }, ", weight=cw, label_smoothing=0.1"],
] as const) {
  check(`crossEntropy: ${label}`, {
    inputs: () => {
      const t = idx(5, [6]);
      if (label.startsWith("sum")) t.narrow(0, 2, 1).fill_(-100);
      return { x: rn([6, 5], 2), t, cw: pos([5]) };
    },
    grads: ["x"],
    winnow: ({ x, t, cw }) => {
      const { weight, ...rest } = opts as { weight?: boolean; labelSmoothing?: number; reduction?: "sum" | "none" };
      return F.crossEntropy(x, t, { ...rest, ...(weight ? { weight: cw } : {}) });
    },
    python: `F.cross_entropy(x, t${pyOpts})`,
  });
}
check("crossEntropy: 4-d input (per-pixel classes), label smoothing 0.05", {
  inputs: () => ({ x: rn([2, 5, 3, 4]), t: idx(5, [2, 3, 4]) }),
  grads: ["x"],
  winnow: ({ x, t }) => F.crossEntropy(x, t, { labelSmoothing: 0.05 }),
  python: "F.cross_entropy(x, t, label_smoothing=0.05)",
});
check("crossEntropy: class-probability targets", {
  inputs: () => ({ x: rn([4, 6]), p: torch.rand([4, 6]).softmax(1) }),
  grads: ["x"],
  winnow: ({ x, p }) => F.crossEntropy(x, p),
  python: "F.cross_entropy(x, p)",
});
check("nllLoss + mseLoss", {
  inputs: () => ({ x: rn([5, 4]), t: idx(4, [5]), z: rn([5, 4]) }),
  grads: ["x"],
  winnow: ({ x, t, z }) => F.nllLoss(x.logSoftmax(1), t).add(F.mseLoss(x, z)),
  python: "F.nll_loss(F.log_softmax(x, 1), t) + F.mse_loss(x, z)",
});
for (const [label, w, p] of [
  ["logSoftmax dim 1", (x: Tensor) => F.logSoftmax(x, 1), "F.log_softmax(x, 1)"],
  ["logSoftmax dim 0", (x: Tensor) => x.logSoftmax(0), "x.log_softmax(0)"],
  ["logSoftmax dim -1, float64", (x: Tensor) => F.logSoftmax(x, -1, "float64"), "F.log_softmax(x, -1, dtype=torch.float64)"],
  ["softmax dim 1", (x: Tensor) => F.softmax(x, 1), "F.softmax(x, 1)"],
  ["softmax dim -1 (method)", (x: Tensor) => x.softmax(-1), "x.softmax(-1)"],
  ["softmax dim 0, float64", (x: Tensor) => F.softmax(x, 0, "float64"), "F.softmax(x, 0, dtype=torch.float64)"],
] as const) {
  check(label, { inputs: () => ({ x: rn([4, 7, 3], 3) }), grads: ["x"], winnow: ({ x }) => w(x), python: p });
}
check("normalize p=2 dim 1 (a zero row hits eps)", {
  inputs: () => {
    const x = rn([5, 8]);
    x.narrow(0, 3, 1).zero_();
    return { x };
  },
  grads: ["x"],
  winnow: ({ x }) => F.normalize(x),
  python: "F.normalize(x)",
});
check("normalize p=1 dim 0, eps 1e-3", {
  inputs: () => ({ x: rn([5, 8]) }),
  grads: ["x"],
  winnow: ({ x }) => F.normalize(x, 1, 0, 1e-3),
  python: "F.normalize(x, 1, 0, 1e-3)",
});
check("cosineSimilarity", {
  inputs: () => ({ x: rn([6, 9]), z: rn([6, 9]) }),
  grads: ["x", "z"],
  winnow: ({ x, z }) => F.cosineSimilarity(x, z),
  python: "F.cosine_similarity(x, z)",
});
for (const [label, w, p] of [
  ["gelu", (x: Tensor) => F.gelu(x), "F.gelu(x)"],
  ["gelu tanh", (x: Tensor) => F.gelu(x, "tanh"), "F.gelu(x, approximate='tanh')"],
  ["silu", (x: Tensor) => F.silu(x), "F.silu(x)"],
  ["leakyRelu 0.2", (x: Tensor) => F.leakyRelu(x, 0.2), "F.leaky_relu(x, 0.2)"],
  ["softplus beta 2", (x: Tensor) => F.softplus(x, 2, 20), "F.softplus(x, 2, 20)"],
] as const) {
  check(label, { inputs: () => ({ x: rn([4, 6], 2) }), grads: ["x"], winnow: ({ x }) => w(x), python: p });
}
check("layerNorm + groupNorm", {
  inputs: () => ({ x: rn([2, 4, 3, 3]), w: rn([3, 3]), b: rn([3, 3]), gw: rn([4]), gb: rn([4]) }),
  grads: ["x", "w", "b"],
  winnow: ({ x, w, b, gw, gb }) => F.layerNorm(x, [3, 3], w, b).add(F.groupNorm(x, 2, gw, gb)),
  python: "F.layer_norm(x, (3, 3), w, b) + F.group_norm(x, 2, gw, gb)",
});

// ==== linear algebra =========================================================================
for (const [label, xs, zs, w, p] of [
  ["matmul 2-d @ 2-d", [3, 4], [4, 5], (x: Tensor, z: Tensor) => x.matmul(z), "x @ z"],
  ["matmul 3-d @ 2-d", [2, 3, 4], [4, 5], (x: Tensor, z: Tensor) => torch.matmul(x, z), "torch.matmul(x, z)"],
  ["matmul 1-d @ 2-d", [4], [4, 5], (x: Tensor, z: Tensor) => x.matmul(z), "x @ z"],
  ["matmul broadcast 4-d @ 3-d", [2, 1, 3, 4], [3, 4, 2], (x: Tensor, z: Tensor) => x.matmul(z), "x @ z"],
  ["mm", [6, 5], [5, 7], (x: Tensor, z: Tensor) => x.mm(z), "x.mm(z)"],
  ["bmm", [3, 6, 5], [3, 5, 2], (x: Tensor, z: Tensor) => x.bmm(z), "x.bmm(z)"],
  ["cdist p=2 (small, direct)", [2, 6, 3], [2, 5, 3], (x: Tensor, z: Tensor) => torch.cdist(x, z), "torch.cdist(x, z)"],
  ["cdist p=2 (>25 rows: matmul path)", [30, 4], [40, 4], (x: Tensor, z: Tensor) => torch.cdist(x, z), "torch.cdist(x, z)"],
  ["cdist p=1", [7, 3], [5, 3], (x: Tensor, z: Tensor) => torch.cdist(x, z, 1), "torch.cdist(x, z, 1)"],
  ["dot", [9], [9], (x: Tensor, z: Tensor) => x.dot(z), "x.dot(z)"],
  ["outer", [4], [3], (x: Tensor, z: Tensor) => x.outer(z), "torch.outer(x, z)"],
] as const) {
  check(label, {
    inputs: () => ({ x: rn([...xs]), z: rn([...zs]) }),
    grads: ["x", "z"],
    winnow: ({ x, z }) => w(x, z),
    python: p,
    // cdist's matmul path computes ||x||² + ||z||² - 2x·z: a little cancellation noise.
    tol: label.includes("matmul path") ? { atol: 1e-4, rtol: 1e-4 } : TOL,
  });
}
check("addmm", {
  inputs: () => ({ c: rn([3, 5]), x: rn([3, 4]), z: rn([4, 5]) }),
  grads: ["c", "x", "z"],
  winnow: ({ c, x, z }) => torch.addmm(c, x, z),
  python: "torch.addmm(c, x, z)",
});

// ==== resampling =============================================================================
for (const [label, w, p] of [
  ["interpolate nearest (upscale)", (x: Tensor) => F.interpolate(x, [10, 9]), "F.interpolate(x, size=(10, 9), mode='nearest')"],
  ["interpolate nearest (downscale)", (x: Tensor) => F.interpolate(x, [3, 4], { mode: "nearest" }), "F.interpolate(x, size=(3, 4), mode='nearest')"],
  ["interpolate bilinear", (x: Tensor) => F.interpolate(x, [7, 11], { mode: "bilinear" }),
    "F.interpolate(x, size=(7, 11), mode='bilinear', align_corners=False)"],
  ["interpolate bilinear align_corners", (x: Tensor) => F.interpolate(x, [7, 11], { mode: "bilinear", alignCorners: true }),
    "F.interpolate(x, size=(7, 11), mode='bilinear', align_corners=True)"],
  ["interpolate bilinear antialias (downscale)", (x: Tensor) => F.interpolate(x, [3, 4], { mode: "bilinear", antialias: true }),
    "F.interpolate(x, size=(3, 4), mode='bilinear', align_corners=False, antialias=True)"],
  ["interpolate bilinear antialias (upscale)", (x: Tensor) => F.interpolate(x, [9, 8], { mode: "bilinear", antialias: true }),
    "F.interpolate(x, size=(9, 8), mode='bilinear', align_corners=False, antialias=True)"],
  ["interpolate bicubic", (x: Tensor) => F.interpolate(x, [8, 8], { mode: "bicubic" }),
    "F.interpolate(x, size=(8, 8), mode='bicubic', align_corners=False)"],
] as const) {
  check(label, { inputs: () => ({ x: rn([2, 3, 5, 6]) }), grads: ["x"], winnow: ({ x }) => w(x), python: p });
}
for (const [mode, paddingMode, alignCorners] of [
  ["bilinear", "zeros", false],
  ["bilinear", "border", true],
  ["bilinear", "reflection", false],
  ["nearest", "zeros", false],
  ["bicubic", "reflection", true],
] as const) {
  check(`affineGrid + gridSample: ${mode}, ${paddingMode}, align_corners ${alignCorners}`, {
    inputs: () => {
      const id = torch.tensor([[1, 0, 0], [0, 1, 0]]).unsqueeze(0).expand(2, 2, 3);
      return { x: rn([2, 3, 6, 7]), theta: id.add(rn([2, 2, 3], 0.3)) };
    },
    grads: ["x", "theta"],
    winnow: ({ x, theta }) => F.gridSample(x, F.affineGrid(theta, [2, 3, 5, 8], alignCorners), { mode, paddingMode, alignCorners }),
    python: `F.grid_sample(x, F.affine_grid(theta, (2, 3, 5, 8), align_corners=${py(alignCorners)}), mode=${py(mode)}, padding_mode=${py(paddingMode)}, align_corners=${py(alignCorners)})`,
  });
}
check("affineGrid alone (grid values and theta grads)", {
  inputs: () => ({ theta: rn([3, 2, 3]) }),
  grads: ["theta"],
  winnow: ({ theta }) => F.affineGrid(theta, [3, 1, 4, 5]),
  python: "F.affine_grid(theta, (3, 1, 4, 5), align_corners=False)",
});
for (const [label, pad, mode, value] of [
  ["pad constant (1,2,0,3) value 0.5", [1, 2, 0, 3], "constant", 0.5],
  ["pad constant last dim only (2,1)", [2, 1], "constant", 0],
  ["pad constant, negative (crops)", [-1, 1, 2, -2], "constant", 0],
  ["pad reflect (2,1,1,2)", [2, 1, 1, 2], "reflect", 0],
  ["pad replicate (3,0,1,1)", [3, 0, 1, 1], "replicate", 0],
] as const) {
  check(label, {
    inputs: () => ({ x: rn([2, 3, 5, 6]) }),
    grads: ["x"],
    winnow: ({ x }) => F.pad(x, [...pad], mode, value),
    python: `F.pad(x, ${py(pad)}, mode=${py(mode)}${mode === "constant" ? `, value=${value}` : ""})`,
  });
}

// ==== reductions =============================================================================
type Unary = (x: Tensor) => Tensor | Tensor[];
const reductions: [string, Unary, string, boolean?][] = [
  ["sum()", (x) => x.sum(), "x.sum()"],
  ["sum(1)", (x) => x.sum(1), "x.sum(1)"],
  ["sum([0,2], keepdim)", (x) => x.sum([0, 2], true), "x.sum((0, 2), keepdim=True)"],
  ["sum(-1, dtype float64)", (x) => x.sum(-1, false, { dtype: "float64" }), "x.sum(-1, dtype=torch.float64)"],
  ["mean()", (x) => x.mean(), "x.mean()"],
  ["mean([1,2])", (x) => x.mean([1, 2]), "x.mean((1, 2))"],
  ["mean(0, keepdim)", (x) => x.mean(0, true), "x.mean(0, keepdim=True)"],
  ["std()", (x) => x.std(), "x.std()"],
  ["std(1)", (x) => x.std(1), "x.std(1)"],
  ["std(2, biased, keepdim)", (x) => x.std(2, false, true), "x.std(2, unbiased=False, keepdim=True)"],
  ["var()", (x) => x.var(), "x.var()"],
  ["var([0,1])", (x) => x.var([0, 1]), "x.var((0, 1))"],
  ["var(1, biased)", (x) => x.var(1, false), "x.var(1, unbiased=False)"],
  ["max()", (x) => x.max(), "x.max()"],
  ["max(1) values, indices", (x) => x.max(1), "x.max(1)"],
  ["max(-1, keepdim)", (x) => x.max(-1, true), "x.max(-1, keepdim=True)"],
  ["min()", (x) => x.min(), "x.min()"],
  ["min(2) values, indices", (x) => x.min(2), "x.min(2)"],
  ["amax([0,2])", (x) => x.amax([0, 2]), "x.amax((0, 2))"],
  ["amin(1, keepdim)", (x) => x.amin(1, true), "x.amin(1, keepdim=True)"],
  ["argmax()", (x) => x.argmax(), "x.argmax()", false],
  ["argmax(2)", (x) => x.argmax(2), "x.argmax(2)", false],
  ["argmin(1, keepdim)", (x) => x.argmin(1, true), "x.argmin(1, keepdim=True)", false],
  ["logsumexp(1)", (x) => x.logsumexp(1), "x.logsumexp(1)"],
  ["logsumexp([1,2], keepdim)", (x) => x.logsumexp([1, 2], true), "x.logsumexp((1, 2), keepdim=True)"],
  ["norm() (2-norm of all)", (x) => x.norm(), "torch.linalg.vector_norm(x)"],
  ["norm(1, 2)", (x) => x.norm(1, 2), "torch.linalg.vector_norm(x, 1, 2)"],
  ["norm(3, [0,1], keepdim)", (x) => x.norm(3, [0, 1], true), "torch.linalg.vector_norm(x, 3, (0, 1), keepdim=True)"],
  ["norm(inf, 1)", (x) => x.norm(Infinity, 1), "torch.linalg.vector_norm(x, float('inf'), 1)"],
  ["cumsum(1)", (x) => x.cumsum(1), "x.cumsum(1)"],
  ["cumsum(-1)", (x) => x.cumsum(-1), "x.cumsum(-1)"],
  ["prod()", (x) => x.narrow(0, 0, 1).narrow(1, 0, 3).prod(), "x[:1, :3].prod()"],
  ["topk(3) values, indices", (x) => x.topk(3), "x.topk(3)"],
  ["topk(2, 1, smallest)", (x) => x.topk(2, 1, false), "x.topk(2, 1, largest=False)"],
  ["sort(1)", (x) => x.sort(1), "x.sort(1)"],
  ["sort(-1, descending)", (x) => x.sort(-1, true), "x.sort(-1, descending=True)"],
  ["argsort(0)", (x) => x.argsort(0), "x.argsort(0)", false],
];
for (const [label, w, p, differentiable] of reductions) {
  check(`reduction: ${label}`, {
    inputs: () => ({ x: rn([4, 5, 6]) }),
    grads: differentiable === false ? [] : ["x"],
    winnow: ({ x }) => w(x),
    python: p,
  });
}
check("reduction: integer and boolean inputs (sum/all/any/countNonzero/bincount)", {
  inputs: () => ({ k: idx(6, [20]), m: torch.rand([3, 4]).gt(0.5) }),
  winnow: ({ k, m }) => ({
    sum: k.sum(), all: m.all(), any: m.any(), all1: m.all(1), any0: m.any(0, true),
    nz: m.countNonzero(), bins: k.bincount(), binsMin: k.bincount(undefined, 9), nonzero: m.nonzero(),
  }),
  python: `k, m = I["k"], I["m"]
O.update(sum=k.sum(), all=m.all(), any=m.any(), all1=m.all(1), any0=m.any(0, keepdim=True),
         nz=m.count_nonzero(), bins=k.bincount(), binsMin=k.bincount(minlength=9), nonzero=m.nonzero())`,
  tol: EXACT,
});

// ==== elementwise ============================================================================
const elementwise: [string, Unary, string, (() => Tensor)?, boolean?][] = [
  ["exp", (x) => x.exp(), "x.exp()"],
  ["log (positive input)", (x) => x.log(), "x.log()", () => pos([3, 4, 5])],
  ["log1p / expm1", (x) => x.log1p().add(x.expm1()), "x.log1p() + x.expm1()", () => pos([3, 4, 5])],
  ["pow(2)", (x) => x.pow(2), "x.pow(2)"],
  ["pow(0.5)", (x) => x.pow(0.5), "x.pow(0.5)", () => pos([3, 4, 5])],
  ["pow(-1.5)", (x) => x.pow(-1.5), "x.pow(-1.5)", () => pos([3, 4, 5])],
  ["sqrt", (x) => x.sqrt(), "x.sqrt()", () => pos([3, 4, 5])],
  ["rsqrt", (x) => x.rsqrt(), "x.rsqrt()", () => pos([3, 4, 5])],
  ["abs", (x) => x.abs(), "x.abs()"],
  ["sign", (x) => x.sign(), "x.sign()"],
  ["neg / reciprocal / square", (x) => x.neg().add(x.reciprocal()).add(x.square()), "-x + x.reciprocal() + x.square()", () => pos([3, 4, 5])],
  ["clamp(-0.5, 0.7)", (x) => x.clamp(-0.5, 0.7), "x.clamp(-0.5, 0.7)"],
  ["clamp(min 0.1)", (x) => x.clampMin(0.1), "x.clamp(min=0.1)"],
  ["clamp(max -0.2)", (x) => x.clamp(null, -0.2), "x.clamp(max=-0.2)"],
  ["clamp(integer bounds)", (x) => x.clamp(-1, 1), "x.clamp(-1, 1)"],
  ["floor", (x) => x.floor(), "x.floor()", () => rn([3, 4, 5], 3)],
  ["ceil / trunc / frac", (x) => x.ceil().add(x.trunc()).add(x.frac()), "x.ceil() + x.trunc() + x.frac()", () => rn([3, 4, 5], 3)],
  ["round (halves round to even)", (x) => x.round(), "x.round()", () => torch.arange(-12, 12).div(4).reshape(4, 6)],
  ["remainder(0.7)", (x) => x.remainder(0.7), "x.remainder(0.7)", () => rn([3, 4, 5], 3)],
  ["relu / sigmoid / tanh", (x) => x.relu().add(x.sigmoid()).add(x.tanh()), "x.relu() + x.sigmoid() + x.tanh()"],
  ["sin / cos", (x) => x.sin().mul(x.cos()), "x.sin() * x.cos()"],
  ["add scalar / sub scalar alpha / rsub / mul scalar / div scalar",
    (x) => x.add(1.5).sub(2, 3).rsub(4).mul(-2.5).div(3), "(4 - (x + 1.5 - 2 * 3)) * -2.5 / 3"],
];
for (const [label, w, p, make, differentiable] of elementwise) {
  check(`elementwise: ${label}`, {
    inputs: () => ({ x: make ? make() : rn([3, 4, 5]) }),
    grads: differentiable === false ? [] : ["x"],
    winnow: ({ x }) => w(x),
    python: p,
  });
}
type Binary = (x: Tensor, z: Tensor) => Tensor | Tensor[];
const binary: [string, Binary, string, number[], number[]][] = [
  ["add broadcast, alpha 2", (x, z) => x.add(z, 2), "torch.add(x, z, alpha=2)", [3, 4, 5], [4, 1]],
  ["sub broadcast, alpha 0.5", (x, z) => x.sub(z, 0.5), "torch.sub(x, z, alpha=0.5)", [3, 4, 5], [5]],
  ["mul broadcast", (x, z) => x.mul(z), "x * z", [3, 1, 5], [4, 1]],
  ["div broadcast", (x, z) => x.div(z.abs().add(0.5)), "x / (z.abs() + 0.5)", [3, 4, 5], [3, 1, 5]],
  ["pow(tensor)", (x, z) => x.abs().add(0.5).pow(z), "(x.abs() + 0.5).pow(z)", [3, 4], [3, 4]],
  ["clamp(tensor min, tensor max)", (x, z) => x.clamp(z.sub(1), z.add(1)), "x.clamp(z - 1, z + 1)", [3, 4], [3, 4]],
  ["minimum / maximum", (x, z) => x.minimum(z).add(x.maximum(z).mul(2)), "torch.minimum(x, z) + 2 * torch.maximum(x, z)", [3, 4], [3, 4]],
  ["atan2", (x, z) => x.atan2(z), "torch.atan2(x, z)", [3, 4], [3, 4]],
  ["lerp(tensor weight)", (x, z) => x.lerp(z, z.sigmoid()), "torch.lerp(x, z, z.sigmoid())", [3, 4], [3, 4]],
];
for (const [label, w, p, xs, zs] of binary) {
  check(`elementwise: ${label}`, {
    inputs: () => ({ x: rn(xs), z: rn(zs) }),
    grads: ["x", "z"],
    winnow: ({ x, z }) => w(x, z),
    python: p,
  });
}
check("elementwise: in-place ops (add_/sub_/mul_/div_/addcmul_/addcdiv_/lerp_/clamp_/sqrt_/relu_/fill_/zero_/copy_)", {
  inputs: () => ({ x: rn([3, 4]), z: rn([3, 4]), u: pos([3, 4]) }),
  winnow: ({ x, z, u }) => {
    const a = x.clone().add_(z, 2).sub_(u, 0.5).mul_(1.5).div_(u).addcmul_(z, u, 0.25).addcdiv_(z, u, -0.5).lerp_(z, 0.3);
    const b = x.clone().clamp_(-0.3, 0.4).add_(1).sqrt_();
    const c = x.clone().relu_().mul_(z).add_(2).add_(2);
    return { a, b, c, d: z.clone().fill_(2.5), e: z.clone().zero_(), f: z.clone().copy_(u) };
  },
  python: `x, z, u = I["x"], I["z"], I["u"]
O["a"] = x.clone().add_(z, alpha=2).sub_(u, alpha=0.5).mul_(1.5).div_(u).addcmul_(z, u, value=0.25).addcdiv_(z, u, value=-0.5).lerp_(z, 0.3)
O["b"] = x.clone().clamp_(-0.3, 0.4).add_(1).sqrt_()
O["c"] = x.clone().relu_().mul_(z).add_(2).add_(2)
O["d"], O["e"], O["f"] = z.clone().fill_(2.5), z.clone().zero_(), z.clone().copy_(u)`,
});

// ==== views and joins ========================================================================
const views: [string, Unary, string, number[]?][] = [
  ["reshape([6,20])", (x) => x.reshape([6, 20]), "x.reshape(6, 20)"],
  ["reshape(-1) of a permuted (non-contiguous) tensor", (x) => x.permute(3, 1, 0, 2).reshape(-1), "x.permute(3, 1, 0, 2).reshape(-1)"],
  ["view(2, 12, 5)", (x) => x.view(2, 12, 5), "x.view(2, 12, 5)"],
  ["permute(3,1,0,2)", (x) => x.permute(3, 1, 0, 2), "x.permute(3, 1, 0, 2)"],
  ["transpose(1,3)", (x) => x.transpose(1, 3), "x.transpose(1, 3)"],
  ["t() of 2-d", (x) => x.t(), "x.t()", [4, 7]],
  ["narrow(2, 1, 2)", (x) => x.narrow(2, 1, 2), "x.narrow(2, 1, 2)"],
  ["slice(3, 1, end, 2)", (x) => x.slice(3, 1, undefined, 2), "x[:, :, :, 1::2]"],
  ["slice(1, -2)", (x) => x.slice(1, -2), "x[:, -2:]"],
  ["slice(2, 0, -1, 3)", (x) => x.slice(2, 0, -1, 3), "x[:, :, 0:-1:3]"],
  ["select(1, -1)", (x) => x.select(1, -1), "x.select(1, -1)"],
  ["squeeze()", (x) => x.squeeze(), "x.squeeze()", [2, 1, 3, 1]],
  ["squeeze(1)", (x) => x.squeeze(1), "x.squeeze(1)", [2, 1, 3, 1]],
  ["unsqueeze(0)", (x) => x.unsqueeze(0), "x.unsqueeze(0)"],
  ["unsqueeze(-1)", (x) => x.unsqueeze(-1), "x.unsqueeze(-1)"],
  ["flatten(1)", (x) => x.flatten(1), "x.flatten(1)"],
  ["flatten(1, 2)", (x) => x.flatten(1, 2), "x.flatten(1, 2)"],
  ["flatten()", (x) => x.flatten(), "x.flatten()"],
  ["expand(3, 4, 5) from (1, 4, 1)", (x) => x.expand(3, 4, 5), "x.expand(3, 4, 5)", [1, 4, 1]],
  ["expand(2, -1, -1)", (x) => x.expand([2, -1, -1]), "x.expand(2, -1, -1)", [1, 4, 3]],
  ["repeat(2, 1, 3)", (x) => x.repeat(2, 1, 3), "x.repeat(2, 1, 3)", [2, 3, 4]],
  ["repeat with a new leading dim", (x) => x.repeat([2, 2, 1]), "x.repeat(2, 2, 1)", [3, 4]],
  ["split(2, 1)", (x) => x.split(2, 1), "x.split(2, 1)"],
  ["split([1, 2], 1)", (x) => x.split([1, 2], 1), "x.split([1, 2], 1)"],
  ["chunk(3, 2)", (x) => x.chunk(3, 2), "x.chunk(3, 2)"],
  ["chunk(2, -1) uneven", (x) => x.chunk(2, -1), "x.chunk(2, -1)"],
  ["flip([0, 2])", (x) => x.flip([0, 2]), "x.flip((0, 2))"],
  ["roll(2, 1)", (x) => x.roll(2, 1), "x.roll(2, 1)"],
  ["roll([1, -1], [0, 3])", (x) => x.roll([1, -1], [0, 3]), "x.roll((1, -1), (0, 3))"],
];
for (const [label, w, p, shape] of views) {
  check(`view: ${label}`, { inputs: () => ({ x: rn(shape ?? [2, 3, 4, 5]) }), grads: ["x"], winnow: ({ x }) => w(x), python: p });
}
check("view: strides and storage sharing of views", {
  inputs: () => ({ x: rn([2, 3, 4, 5]) }),
  winnow: ({ x }) => ({
    permute: x.permute(3, 1, 0, 2).stride(), transpose: x.transpose(1, 3).stride(), narrow: x.narrow(2, 1, 2).stride(),
    narrowOffset: x.narrow(2, 1, 2).storageOffset(), expand: x.narrow(0, 0, 1).expand(4, 3, 4, 5).stride(),
    slice: x.slice(3, 1, undefined, 2).stride(), contiguous: x.permute(3, 1, 0, 2).isContiguous(),
    shape: x.permute(3, 1, 0, 2).shape,
  }),
  python: `x = I["x"]
O.update(permute=list(x.permute(3, 1, 0, 2).stride()), transpose=list(x.transpose(1, 3).stride()),
         narrow=list(x.narrow(2, 1, 2).stride()), narrowOffset=x.narrow(2, 1, 2).storage_offset(),
         expand=list(x[:1].expand(4, 3, 4, 5).stride()), slice=list(x[:, :, :, 1::2].stride()),
         contiguous=x.permute(3, 1, 0, 2).is_contiguous(), shape=list(x.permute(3, 1, 0, 2).shape))`,
});
check("view: indexSelect / gather / index (int, bool)", {
  inputs: () => ({ x: rn([4, 5, 6]), i: idx(5, [7]), g: idx(6, [4, 5, 3]), r: idx(4, [3]), m: torch.rand([4]).gt(0.4) }),
  grads: ["x"],
  winnow: ({ x, i, g, r, m }) => x.indexSelect(1, i).sum([1, 2]).add(x.gather(2, g).sum([1, 2])).unsqueeze(0)
    .mul(x.index(r).sum([1, 2]).unsqueeze(1).sum(0, true).add(x.index(m).sum()).sum()),
  python: "(x.index_select(1, i).sum((1, 2)) + x.gather(2, g).sum((1, 2))).unsqueeze(0) * (x[r].sum((1, 2)).unsqueeze(1).sum(0, keepdim=True) + x[m].sum()).sum()",
});
check("view: scatter / scatterAdd (grads to input and src)", {
  inputs: () => {
    // scatter needs unique indices per row for a deterministic result: a permutation per row.
    const perm = torch.stack([torch.randperm(6), torch.randperm(6), torch.randperm(6)]).narrow(1, 0, 4);
    return { x: rn([3, 6]), src: rn([3, 4]), i: perm, j: idx(6, [3, 4]) };
  },
  grads: ["x", "src"],
  winnow: ({ x, src, i, j }) => x.scatter(1, i, src).mul(2).add(x.scatterAdd(1, j, src)),
  python: "x.scatter(1, i, src) * 2 + x.scatter_add(1, j, src)",
});
check("view: in-place indexing (scatter_/indexPut_/indexAdd_/maskedFill_/maskedSelect)", {
  inputs: () => ({ x: rn([5, 4]), i: torch.tensor([0, 3], { dtype: "int64" }), v: rn([2, 4]), m: torch.rand([5, 4]).gt(0.5),
    si: torch.tensor([[1, 0, 3, 2]], { dtype: "int64" }) }),
  winnow: ({ x, i, v, m, si }) => ({
    put: x.clone().indexPut_(i, v), addi: x.clone().indexAdd_(0, i, v), mf: x.clone().maskedFill_(m, -7),
    sel: x.maskedSelect(m), sc: x.clone().scatter_(0, si, v.narrow(0, 0, 1)),
  }),
  python: `x, i, v, m, si = I["x"], I["i"], I["v"], I["m"], I["si"]
a = x.clone(); a[i] = v
O.update(put=a, addi=x.clone().index_add_(0, i, v), mf=x.clone().masked_fill_(m, -7), sel=x.masked_select(m),
         sc=x.clone().scatter_(0, si, v[:1]))`,
});
check("join: cat / stack (grads to every input)", {
  inputs: () => ({ a: rn([2, 3, 4]), b: rn([2, 5, 4]), c: rn([2, 3, 4]) }),
  grads: ["a", "b", "c"],
  winnow: ({ a, b, c }) => torch.cat([a, b, c], 1).sum(1).add(torch.stack([a, c], -1).sum([1, 3])),
  python: "torch.cat([a, b, c], 1).sum(1) + torch.stack([a, c], -1).sum((1, 3))",
});
check("join: cat dim 0 / stack dim 0 (no grad)", {
  inputs: () => ({ a: rn([2, 3]), b: rn([1, 3]) }),
  winnow: ({ a, b }) => ({ cat: torch.cat([a, b]), stack: torch.stack([a, a.neg()]) }),
  python: `a, b = I["a"], I["b"]
O["cat"], O["stack"] = torch.cat([a, b]), torch.stack([a, -a])`,
});

// ==== where / masks / comparisons / logic ====================================================
check("where (broadcast) / maskedFill (grads)", {
  inputs: () => ({ c: torch.rand([3, 4]).gt(0.5), x: rn([3, 4]), z: rn([4]) }),
  grads: ["x", "z"],
  winnow: ({ c, x, z }) => torch.where(c, x, z).add(x.maskedFill(c, 2.5)),
  python: "torch.where(c, x, z) + x.masked_fill(c, 2.5)",
});
check("comparisons and logic (tensor and scalar)", {
  inputs: () => ({
    x: torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1], [0, -1, 2, 2]]),
    z: torch.tensor([[1, 3, 3, 0], [4, 2, 2, 5], [0, 1, -2, 2]]),
    n: torch.tensor(new Float32Array([NaN, 1, Infinity, -Infinity, 0]), {}),
  }),
  winnow: ({ x, z, n }) => ({
    eq: x.eq(z), ne: x.ne(z), lt: x.lt(z), le: x.le(z), gt: x.gt(z), ge: x.ge(z),
    eqs: x.eq(2), nes: x.ne(2), lts: x.lt(2), les: x.le(2), gts: x.gt(2.5), ges: x.ge(-1),
    and: x.gt(1).logicalAnd(z.gt(1)), or: x.gt(3).logicalOr(z.lt(0)), not: x.gt(1).logicalNot(),
    all: x.ge(-1).all(), any: x.gt(10).any(), all1: x.gt(0).all(1), any0: x.gt(3).any(0, true),
    isnan: n.isnan(), isfinite: n.isfinite(), close: x.allclose(z), closeSelf: x.allclose(x.add(1e-7)),
  }),
  python: `x, z, n = I["x"], I["z"], I["n"]
O.update(eq=x.eq(z), ne=x.ne(z), lt=x.lt(z), le=x.le(z), gt=x.gt(z), ge=x.ge(z),
         eqs=x.eq(2), nes=x.ne(2), lts=x.lt(2), les=x.le(2), gts=x.gt(2.5), ges=x.ge(-1),
         all=x.ge(-1).all(), any=x.gt(10).any(), all1=x.gt(0).all(1), any0=x.gt(3).any(0, keepdim=True),
         isnan=n.isnan(), isfinite=n.isfinite(), close=torch.allclose(x, z), closeSelf=torch.allclose(x, x + 1e-7))
O["and"], O["or"], O["not"] = x.gt(1).logical_and(z.gt(1)), x.gt(3).logical_or(z.lt(0)), x.gt(1).logical_not()`,
  tol: EXACT,
});

// ==== dtypes ===============================================================================
const DTYPES = ["float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"] as const;
check("dtypes: casts from float32 are bit-identical, and back to float32", {
  inputs: () => {
    const f = rn([40], 40);
    // uint8 from negative floats is undefined behaviour in C++: send non-negative values for it.
    return { f, u: f.abs(), z: torch.tensor([0, 1, -0.5, 0.25, 3], { dtype: "float32" }) };
  },
  winnow: ({ f, u, z }) => {
    const out: Outputs = {};
    for (const d of DTYPES) {
      const src = d === "uint8" ? u : d === "bool" ? z : f;
      const y = src.to(d);
      out[`to_${d}`] = y;
      out[`back_${d}`] = y.to("float32");
    }
    return out;
  },
  python: `f, u, z = I["f"], I["u"], I["z"]
for d in ${py([...DTYPES])}:
    src = u if d == "uint8" else z if d == "bool" else f
    y = src.to(DT[d])
    O["to_" + d] = y
    O["back_" + d] = y.to(torch.float32)`,
  tol: EXACT,
});
check("dtypes: arithmetic in float16 / bfloat16 / float64 / int64 / int32 / uint8", {
  inputs: () => {
    const f = rn([16], 3);
    return {
      h: f.to("float16"), bh: f.to("bfloat16"), d: f.to("float64"),
      l: idx(100, [16]).sub(50), i: idx(100, [16]).to("int32"), b: idx(200, [16]).to("uint8"),
    };
  },
  winnow: ({ h, bh, d, l, i, b }) => ({
    h: h.mul(h).add(1.5), bh: bh.mul(bh).add(1.5), d: d.mul(d).exp().sum(), dmm: d.reshape(4, 4).mm(d.reshape(4, 4)),
    l: l.mul(3).add(l).div(7), lfloor: l.remainder(7), i: i.mul(i).add(3), b: b.add(b), bsum: b.sum(),
    hsum: h.sum(), hsoft: h.to("float32").softmax(0).to("float16"), mixed: h.add(d), lf: l.add(h),
  }),
  python: `h, bh, d, l, i, b = I["h"], I["bh"], I["d"], I["l"], I["i"], I["b"]
O.update(h=h * h + 1.5, bh=bh * bh + 1.5, d=(d * d).exp().sum(), dmm=d.reshape(4, 4).mm(d.reshape(4, 4)),
         l=(l * 3 + l) / 7, lfloor=l.remainder(7), i=i * i + 3, b=b + b, bsum=b.sum(),
         hsum=h.sum(), hsoft=h.float().softmax(0).half(), mixed=h + d, lf=l + h)`,
  tol: EXACT,
});
test("dtypes: typed arrays in and out keep their dtype and values", () => {
  torch.scope(() => {
    const cases: [Parameters<typeof torch.tensor>[0], string, number[]][] = [
      [new Float32Array([1.5, -2, 3.25]), "float32", [1.5, -2, 3.25]],
      [new Float64Array([1e-300, 2, -3]), "float64", [1e-300, 2, -3]],
      [new Int32Array([1, -2, 2147483647]), "int32", [1, -2, 2147483647]],
      [new BigInt64Array([1n, -2n, 9007199254740991n]), "int64", [1, -2, 9007199254740991]],
      [new Uint8Array([0, 7, 255]), "uint8", [0, 7, 255]],
      [new Int16Array([-3, 0, 32767]), "int16", [-3, 0, 32767]],
      [new Int8Array([-128, 0, 127]), "int8", [-128, 0, 127]],
    ];
    for (const [arr, dtype, values] of cases) {
      const t = torch.tensor(arr);
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.toArray(), values);
      assert.deepEqual(Array.from(t.data() as ArrayLike<number | bigint>), Array.from(arr as ArrayLike<number | bigint>));
    }
    const b = torch.tensor([true, false, true]);
    assert.equal(b.dtype, "bool");
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    const h = torch.tensor(new Uint16Array([0x3c00, 0xc000]), { dtype: "float16" });
    assert.deepEqual(h.toArray(), [1, -2]);
    const bf = torch.tensor(new Uint16Array([0x3f80, 0xc040]), { dtype: "bfloat16" });
    assert.deepEqual(bf.toArray(), [1, -3]);
    assert.equal(torch.tensor([[1, 2], [3, 4]], { dtype: "int64" }).shape.join(), "2,2");
    assert.equal(torch.tensor(new Float32Array(6), { shape: [2, 3] }).stride().join(), "3,1");
  });
});

// ==== memory formats =========================================================================
check("channels_last: strides, contiguity and conv2d/batchNorm/maxPool on channels_last input", {
  inputs: () => ({ x: rn([2, 3, 6, 5]), w: rn([4, 3, 3, 3], 0.3), b: rn([4]) }),
  winnow: ({ x, w, b }) => {
    const cl = x.contiguous("channels_last");
    const wcl = w.contiguous("channels_last");
    const y = F.conv2d(cl, wcl, b, 1, 1);
    const z = F.maxPool2d(F.batchNorm(y, null, null, { training: true }).relu(), 2);
    return {
      stride: cl.stride(), isCL: cl.isContiguous("channels_last"), isC: cl.isContiguous(),
      yCL: y.isContiguous("channels_last"), y, zCL: z.isContiguous("channels_last"), z,
      back: cl.contiguous().isContiguous(),
    };
  },
  python: `x, w, b = I["x"], I["w"], I["b"]
cl = x.contiguous(memory_format=torch.channels_last)
y = F.conv2d(cl, w.contiguous(memory_format=torch.channels_last), b, 1, 1)
z = F.max_pool2d(F.batch_norm(y, None, None, training=True).relu(), 2)
O.update(stride=list(cl.stride()), isCL=cl.is_contiguous(memory_format=torch.channels_last), isC=cl.is_contiguous(),
         yCL=y.is_contiguous(memory_format=torch.channels_last), y=y,
         zCL=z.is_contiguous(memory_format=torch.channels_last), z=z, back=cl.contiguous().is_contiguous())`,
});
check("channels_last: conv2d gradients match the contiguous-format ones", {
  inputs: () => ({ x: rn([4, 3, 7, 7]), w: rn([5, 3, 3, 3], 0.3) }),
  winnow: ({ x, w }) => {
    const xl = x.contiguous("channels_last").requiresGrad_(true);
    const wl = w.clone().requiresGrad_(true);
    const y = F.conv2d(xl, wl, null, 2, 1);
    y.square().sum().backward();
    return { y, gx: xl.grad!, gw: wl.grad!, gxCL: xl.grad!.isContiguous("channels_last") };
  },
  python: `x = I["x"].contiguous(memory_format=torch.channels_last).requires_grad_(True)
w = I["w"].requires_grad_(True)
y = F.conv2d(x, w, None, 2, 1)
y.square().sum().backward()
O.update(y=y, gx=x.grad, gw=w.grad, gxCL=x.grad.is_contiguous(memory_format=torch.channels_last))`,
  tols: { gw: TOL_SUM },
});

// ==== creation ===============================================================================
check("creation: arange / linspace / eye / full / zeros / ones (+ dtypes)", {
  inputs: () => ({}),
  winnow: () => ({
    ar: torch.arange(10), ar2: torch.arange(3, 11, 2), arf: torch.arange(0, 1, 0.1), arf2: torch.arange(1, 2.5, 0.25),
    arneg: torch.arange(5, -5, -1.5), ard: torch.arange(6, undefined, 1, { dtype: "float64" }),
    li: torch.linspace(-1, 1, 7), li1: torch.linspace(2, 3, 1), lid: torch.linspace(0, 1, 5, { dtype: "float64" }),
    eye: torch.eye(3), eye2: torch.eye(3, 5), eyel: torch.eye(2, 2, { dtype: "int64" }),
    full: torch.full([2, 3], 2.5), fulll: torch.full([2, 2], 7, { dtype: "int64" }), fullb: torch.full([2], true, { dtype: "bool" }),
    zeros: torch.zeros([2, 3]), zerosi: torch.zeros([3], { dtype: "int32" }), ones: torch.ones([2, 1]),
    onesh: torch.ones([2], { dtype: "float16" }), fl: torch.fullLike(torch.zeros([2, 2]), -1.5),
    ol: torch.onesLike(torch.zeros([3], { dtype: "int64" })), zl: torch.zerosLike(torch.ones([2], { dtype: "float64" })),
  }),
  python: `O.update(ar=torch.arange(10), ar2=torch.arange(3, 11, 2), arf=torch.arange(0, 1, 0.1), arf2=torch.arange(1, 2.5, 0.25),
         arneg=torch.arange(5, -5, -1.5), ard=torch.arange(6, dtype=torch.float64),
         li=torch.linspace(-1, 1, 7), li1=torch.linspace(2, 3, 1), lid=torch.linspace(0, 1, 5, dtype=torch.float64),
         eye=torch.eye(3), eye2=torch.eye(3, 5), eyel=torch.eye(2, 2, dtype=torch.int64),
         full=torch.full((2, 3), 2.5), fulll=torch.full((2, 2), 7, dtype=torch.int64), fullb=torch.full((2,), True),
         zeros=torch.zeros(2, 3), zerosi=torch.zeros(3, dtype=torch.int32), ones=torch.ones(2, 1),
         onesh=torch.ones(2, dtype=torch.float16), fl=torch.full_like(torch.zeros(2, 2), -1.5),
         ol=torch.ones_like(torch.zeros(3, dtype=torch.int64)), zl=torch.zeros_like(torch.ones(2, dtype=torch.float64)))`,
  tol: EXACT,
});

// ==== RNG ====================================================================================
const rngDraws = (): Outputs => {
  torch.manualSeed(1234);
  const n = torch.randn([1000]);
  const u = torch.rand([100]);
  const k = torch.randint(0, 10, [50]);
  const p = torch.randperm(20);
  const nn = torch.empty([64]).normal_(1, 2);
  const uu = torch.empty([64]).uniform_(-1, 1);
  const bb = torch.empty([64]).bernoulli_(0.3);
  const small = torch.randn([5]); // below the vectorised size: the scalar path
  return { n, u, k, p, nn, uu, bb, small };
};
test("manualSeed: the same seed gives the same draws in Winnow, twice", () => {
  torch.scope(() => {
    const a = rngDraws();
    const b = rngDraws();
    for (const k of Object.keys(a)) assert.deepEqual((a[k] as Tensor).toArray(), (b[k] as Tensor).toArray(), k);
    torch.manualSeed(1);
    const c = torch.randn([10]).toArray();
    assert.notDeepEqual(c, (a.n as Tensor).narrow(0, 0, 10).toArray());
  });
});
check("manualSeed: Winnow's draws equal PyTorch's for the same seed (same CPU generator)", {
  inputs: () => ({}),
  winnow: rngDraws,
  python: `torch.manual_seed(1234)
O.update(n=torch.randn(1000), u=torch.rand(100), k=torch.randint(0, 10, (50,)), p=torch.randperm(20),
         nn=torch.empty(64).normal_(1, 2), uu=torch.empty(64).uniform_(-1, 1), bb=torch.empty(64).bernoulli_(0.3),
         small=torch.randn(5))`,
  tol: EXACT,
});

// ==== end to end: conv → bn → relu → maxpool → flatten → linear → cross-entropy ================
check("network: conv→bn→relu→maxpool→flatten→linear loss and every parameter's gradient", {
  inputs: () => ({
    x: rn([4, 3, 8, 8]), t: idx(10, [4]),
    cw: rn([8, 3, 3, 3], 0.3), cb: rn([8], 0.1), bw: pos([8], 0.5), bb: rn([8], 0.1),
    rm: torch.zeros([8]), rv: torch.ones([8]), lw: rn([10, 128], 0.1), lb: rn([10], 0.1),
  }),
  winnow: (I) => {
    const p = Object.fromEntries(["cw", "cb", "bw", "bb", "lw", "lb"].map((k) => [k, I[k].clone().requiresGrad_(true)]));
    const rm = I.rm.clone();
    const rv = I.rv.clone();
    let h = F.conv2d(I.x, p.cw, p.cb, 1, 1);
    h = F.batchNorm(h, rm, rv, { weight: p.bw, bias: p.bb, training: true });
    h = F.maxPool2d(F.relu(h), 2).flatten(1);
    const logits = F.linear(h, p.lw, p.lb);
    const loss = F.crossEntropy(logits, I.t, { labelSmoothing: 0.1 });
    loss.backward();
    const out: Outputs = { loss: loss.item(), logits, rm, rv };
    for (const [k, v] of Object.entries(p)) out[`g${k}`] = v.grad!;
    return out;
  },
  python: `p = {k: I[k].clone().requires_grad_(True) for k in ("cw", "cb", "bw", "bb", "lw", "lb")}
rm, rv = I["rm"], I["rv"]
h = F.conv2d(I["x"], p["cw"], p["cb"], 1, 1)
h = F.batch_norm(h, rm, rv, p["bw"], p["bb"], training=True)
h = F.max_pool2d(F.relu(h), 2).flatten(1)
logits = F.linear(h, p["lw"], p["lb"])
loss = F.cross_entropy(logits, I["t"], label_smoothing=0.1)
loss.backward()
O.update(loss=loss.item(), logits=logits, rm=rm, rv=rv)
for k, v in p.items():
    O["g" + k] = v.grad`,
  tols: { gcw: TOL_SUM, glw: TOL_SUM },
});

// ==== run PyTorch once, then one test per check ===============================================
const t0 = Date.now();
const results = await oracle.run();
const pyMs = Date.now() - t0;

test(`PyTorch oracle ran every check in one process (${order.length} checks, ${pyMs} ms)`, () => {
  assert.equal(results.size, order.length);
});
for (const name of order) {
  test(name, (t) => {
    t.diagnostic(verify(name, results.get(name)));
  });
}
