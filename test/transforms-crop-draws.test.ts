// RandomResizedCrop, draw for draw: torchvision's own get_params, fed the same uniform numbers that
// Winnow's sampleCropBox consumes (torchvision's calls to torch.empty(1).uniform_ and torch.randint are
// answered from them), gives the same boxes — including the retries and the centre-crop fallback — on
// square, wide and tall images; and the resized pixels of those boxes equal torchvision's
// resized_crop on the original image (bilinear, no antialias), also when the crop is cut from the
// decode cache's resampled copy (boxes stay in the original's pixels, as the trainer passes them).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import { sampleCropBox, TF } from "../src/transforms/index.js";
import { runTorch, values, hasTorchPython, assertAllClose } from "./helpers/nn-pyref.js";

torch.setNumThreads(2);
assert.ok(hasTorchPython(), "/usr/bin/python3 with torch is not available (run scripts/setup.sh)");

const PER_TRY = 4; // area, log-ratio, top, left
const TRIES = 10;
const SIZES: Array<[number, number]> = [[64, 64], [45, 80], [120, 67], [16, 200]];
const SCALES: Array<[number, number]> = [[0.2, 1], [0.08, 1], [0.9, 1]];
const N = 400;

test("sampleCropBox equals torchvision's RandomResizedCrop.get_params for the same uniform draws", () => {
  torch.manualSeed(20);
  const u = torch.scope(() => torch.rand([N, PER_TRY * TRIES], { dtype: "float64" }).data() as Float64Array);
  const ours: number[][] = [];
  for (const [h, w] of SIZES) for (const s of SCALES) for (let i = 0; i < N; i++) ours.push(sampleCropBox(h, w, s, u, i * PER_TRY * TRIES));
  const py = runTorch(
    String.raw`
import math
import torchvision.transforms as T
import torchvision.transforms.transforms as TT

class Draws:
    """Answers get_params' random calls from the given uniforms: per try u[4t] (area), u[4t+1]
    (log aspect ratio), then u[4t+2] (top) and u[4t+3] (left) when the box fits."""
    def __init__(self, u):
        self.u, self.uniform_calls, self.randint_calls = u, 0, 0
    def empty(self, *shape, **kw):
        draws = self
        class E:
            def uniform_(self, a, b):
                t, k = divmod(draws.uniform_calls, 2)
                draws.uniform_calls += 1
                draws.randint_calls = 0
                v = draws.u[4 * t + k]
                return torch.tensor([float(a) + v * (float(b) - float(a))], dtype=torch.float64)
        return E()
    def randint(self, lo, hi, size=None, **kw):
        t = (self.uniform_calls - 1) // 2
        v = self.u[4 * t + 2 + self.randint_calls]
        self.randint_calls += 1
        return torch.tensor([lo + min(hi - lo - 1, math.floor(v * (hi - lo)))])
    def __getattr__(self, name):
        return getattr(torch, name)

real = TT.torch
u = IN["u"].tolist()
boxes = []
fallbacks = 0
try:
    for h, w in JIN["sizes"]:
        img = torch.zeros(1, h, w)
        for s in JIN["scales"]:
            for i in range(len(u)):
                d = Draws(u[i]); TT.torch = d
                boxes.append(list(T.RandomResizedCrop.get_params(img, s, [3 / 4, 4 / 3])))
                fallbacks += d.uniform_calls == 2 * 10 and d.randint_calls == 0
finally:
    TT.torch = real
out("boxes", torch.tensor(boxes, dtype=torch.float64))
jout("fallbacks", fallbacks)
`,
    { u: torch.tensor(Array.from(u), { shape: [N, PER_TRY * TRIES], dtype: "float64" }) },
    { sizes: SIZES, scales: SCALES },
  );
  const tv = values(py.tensors.boxes);
  let differ = 0;
  const firstDiffs: string[] = [];
  ours.forEach((b, i) => {
    const t = tv.slice(4 * i, 4 * i + 4);
    if (b.some((v, k) => v !== t[k])) {
      differ++;
      if (firstDiffs.length < 3) firstDiffs.push(`ours ${b} vs torchvision ${t}`);
    }
  });
  assert.equal(differ, 0, `${differ}/${ours.length} boxes differ: ${firstDiffs.join("; ")}`);
  assert.ok((py.json.fallbacks as number) > 0, "the centre-crop fallback was exercised");
});

test("resized pixels of the drawn boxes equal torchvision's resized_crop, from the original and from a resampled cache copy", () => {
  torch.manualSeed(21);
  const [H, W] = [45, 80];
  const size = 32;
  const n = 24;
  const u = torch.scope(() => torch.rand([n, PER_TRY * TRIES], { dtype: "float64" }).data() as Float64Array);
  const boxes: number[] = [];
  for (let i = 0; i < n; i++) boxes.push(...sampleCropBox(H, W, [0.2, 1], u, i * PER_TRY * TRIES));
  // A smooth image (bilinear interpolation of a smooth field differs little between resolutions).
  const img = torch.keep(torch.scope(() => {
    const yy = torch.arange(0, H, 1, { dtype: "float32" }).div(H).view([1, 1, H, 1]);
    const xx = torch.arange(0, W, 1, { dtype: "float32" }).div(W).view([1, 1, 1, W]);
    return torch.cat([yy.mul(3).sin().add(xx.mul(2).cos()).expand([1, 1, H, W]), xx.mul(yy).expand([1, 1, H, W]), yy.add(xx).div(2).expand([1, 1, H, W])], 1)
      .mul(0.4).add(0.5).contiguous();
  }));
  const batch = torch.keep(torch.scope(() => img.expand([n, 3, H, W]).contiguous()));
  const fromOriginal = torch.scope(() => TF.resizedCrop(batch, size, { boxes }).toArray());
  // The cache's copy: the original resampled to a square (antialiased bilinear, as the cache builder's sharp resize).
  const S = 72;
  const cached = torch.keep(torch.scope(() => torch.F.interpolate(batch, [S, S], { mode: "bilinear", antialias: true, alignCorners: false })));
  const fromCache = torch.scope(() => TF.resizedCrop(cached, size, { boxes, sourceSizes: Array.from({ length: n }, () => [H, W] as [number, number]) }).toArray());
  const py = runTorch(
    String.raw`
import torchvision.transforms.functional as TF
b = JIN["boxes"]
x = IN["img"][0]
ys = [TF.resized_crop(x, int(b[4*i]), int(b[4*i+1]), int(b[4*i+2]), int(b[4*i+3]), [JIN["size"], JIN["size"]], antialias=False) for i in range(len(b) // 4)]
out("y", torch.stack(ys))
`,
    { img },
    { boxes, size },
  );
  const ref = values(py.tensors.y);
  assertAllClose(fromOriginal, ref, { atol: 2e-5, rtol: 0, what: "crop of the original" });
  // From a 72×72 resampled copy of a 45×80 image: the same boxes, small resampling differences only.
  assertAllClose(fromCache, ref, { atol: 0.03, rtol: 0, what: "crop of the cache's copy" });
  for (const t of [img, batch, cached]) t.dispose();
});
