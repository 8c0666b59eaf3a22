// CUDA-vs-CPU parity of the engine's op families: the same inputs run on both devices, outputs
// and input gradients compared. TF32 is switched off so float32 means float32 on both.
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";

const F = torch.F;

interface Case {
  name: string;
  /** Input shapes (float32 randn), each with requiresGrad. */
  inputs: number[][];
  fn: (xs: Tensor[], device: string) => Tensor;
  /** Skip the gradient check (non-differentiable outputs). */
  noGrad?: boolean;
}

const idx = (vals: number[], device: string): Tensor => torch.tensor(vals, { dtype: "int64", device });

export const CASES: Case[] = [
  { name: "conv2d stride/pad/dil/groups+bias", inputs: [[4, 8, 17, 17], [16, 4, 3, 3], [16]],
    fn: ([x, w, b]) => F.conv2d(x, w, b, 2, 2, 2, 2) },
  { name: "conv2d 1x1 no bias", inputs: [[4, 8, 9, 9], [12, 8, 1, 1]], fn: ([x, w]) => F.conv2d(x, w) },
  { name: "batchNorm train", inputs: [[8, 6, 5, 5], [6], [6]],
    fn: ([x, w, b], d) => torch.scope(() => {
      const rm = torch.zeros([6], { device: d }); const rv = torch.ones([6], { device: d });
      const y = F.batchNorm(x, rm, rv, { weight: w, bias: b, training: true });
      return torch.cat([y.flatten(), rm, rv]);
    }) },
  { name: "batchNorm eval", inputs: [[8, 6, 5, 5], [6], [6]],
    fn: ([x, w, b], d) => torch.scope(() => {
      const rm = torch.full([6], 0.1, { device: d }); const rv = torch.full([6], 2, { device: d });
      return F.batchNorm(x, rm, rv, { weight: w, bias: b, training: false });
    }) },
  { name: "linear", inputs: [[16, 32], [8, 32], [8]], fn: ([x, w, b]) => F.linear(x, w, b) },
  { name: "maxPool2d", inputs: [[2, 3, 11, 11]], fn: ([x]) => F.maxPool2d(x, 3, 2, 1) },
  { name: "avgPool2d", inputs: [[2, 3, 11, 11]], fn: ([x]) => F.avgPool2d(x, 3, 2, 1) },
  { name: "adaptiveAvgPool2d", inputs: [[2, 3, 11, 11]], fn: ([x]) => F.adaptiveAvgPool2d(x, 1) },
  { name: "crossEntropy+smoothing", inputs: [[16, 10]],
    fn: ([x], d) => F.crossEntropy(x, idx([...Array(16).keys()].map((i) => i % 10), d), { labelSmoothing: 0.1 }) },
  { name: "logSoftmax", inputs: [[16, 10]], fn: ([x]) => F.logSoftmax(x, 1) },
  { name: "normalize", inputs: [[16, 10]], fn: ([x]) => F.normalize(x, 2, 1) },
  { name: "matmul", inputs: [[64, 48], [48, 32]], fn: ([a, b]) => a.matmul(b) },
  { name: "bmm", inputs: [[4, 16, 8], [4, 8, 12]], fn: ([a, b]) => a.bmm(b) },
  { name: "cdist", inputs: [[50, 8], [40, 8]], fn: ([a, b]) => torch.cdist(a, b) },
  { name: "interpolate bilinear", inputs: [[2, 3, 10, 10]], fn: ([x]) => F.interpolate(x, 17, { mode: "bilinear" }) },
  { name: "interpolate antialias", inputs: [[2, 3, 20, 20]], fn: ([x]) => F.interpolate(x, 7, { mode: "bilinear", antialias: true }) },
  { name: "interpolate nearest", inputs: [[2, 3, 10, 10]], fn: ([x]) => F.interpolate(x, 17) },
  { name: "affineGrid+gridSample", inputs: [[2, 3, 12, 12], [2, 2, 3]],
    fn: ([x, th]) => torch.scope(() => F.gridSample(x, F.affineGrid(th.mul(0.3), [2, 3, 9, 9]), { paddingMode: "reflection" })) },
  { name: "pad reflect", inputs: [[2, 3, 8, 8]], fn: ([x]) => F.pad(x, [1, 2, 3, 1], "reflect") },
  { name: "reductions", inputs: [[6, 7, 8]],
    fn: ([x]) => torch.scope(() => torch.cat([x.sum(1).flatten(), x.mean([0, 2]), x.std(2).flatten(), x.logsumexp(1).flatten(),
      x.norm(2, 2).flatten(), x.amax(1).flatten(), x.cumsum(2).flatten()])) },
  { name: "elementwise", inputs: [[5, 9]],
    fn: ([x]) => torch.scope(() => torch.cat([x.exp(), x.abs().add(0.1).log(), x.abs().pow(1.5), x.abs().add(0.1).sqrt(),
      x.abs().add(0.5).rsqrt(), x.clamp(-0.5, 0.5), x.sigmoid(), x.tanh(), F.gelu(x), F.softplus(x)], 1)) },
  { name: "views", inputs: [[4, 6, 5]],
    fn: ([x]) => torch.scope(() => torch.cat([x.permute(2, 0, 1).reshape(-1), x.transpose(0, 2).flatten(), x.flip([1]).flatten(),
      x.roll(2, 1).flatten(), x.narrow(1, 1, 3).flatten(), x.expand(2, 4, 6, 5).flatten(), x.repeat(1, 2, 1).flatten()])) },
  { name: "sort/topk/argmax", inputs: [[7, 33]], noGrad: true,
    fn: ([x]) => torch.scope(() => torch.cat([x.sort(1)[0].flatten(), x.topk(5, 1)[0].flatten(), x.argmax(1).float()])) },
];

export interface ParityRow { name: string; maxAbs: number; maxAbsGrad: number; ok: boolean }

function randInputs(shapes: number[][], seed: number): Float32Array[] {
  torch.manualSeed(seed);
  return torch.scope(() => shapes.map((s) => torch.randn(s).data() as Float32Array));
}

function runOn(c: Case, host: Float32Array[], device: string): { out: Float32Array; grads: Float32Array[] } {
  return torch.scope(() => {
    const xs = host.map((a, i) => torch.tensor(a, { shape: c.inputs[i], device }).requiresGrad_(!c.noGrad));
    const y = c.fn(xs, device);
    let grads: Float32Array[] = [];
    if (!c.noGrad) {
      // A fixed random projection of the output makes every element's gradient matter.
      const proj = torch.scope(() => torch.linspace(-1, 1, y.numel(), { device }).reshape(y.shape));
      y.mul(proj).sum().backward();
      grads = xs.map((x) => (x.grad ? (x.grad.cpu().data() as Float32Array) : new Float32Array()));
    }
    return { out: y.float().cpu().data() as Float32Array, grads };
  });
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
};

/** Runs every case on "cpu" and on `device`; tolerance is relative (|a|>1) or absolute. */
export function opParity(device: string, tol = 1e-4): ParityRow[] {
  torch.cuda.setAllowTF32(false);
  return CASES.map((c, k) => {
    const host = randInputs(c.inputs, 1000 + k);
    const a = runOn(c, host, "cpu");
    const b = runOn(c, host, device);
    const maxAbs = maxAbsDiff(a.out, b.out);
    const maxAbsGrad = a.grads.reduce((m, g, i) => Math.max(m, maxAbsDiff(g, b.grads[i])), 0);
    return { name: c.name, maxAbs, maxAbsGrad, ok: maxAbs <= tol && maxAbsGrad <= tol };
  });
}
