// The whole collate pipeline: drawn parameters applied to a batch equal torchvision's functional
// ops applied image by image with the same parameters; parameter distributions; seeding; shapes,
// devices and memory.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../src/torch/index.js";
import type { Tensor } from "../src/torch/index.js";
import {
  COLLATE_DEFAULTS, IMAGENET_NORMALIZE, applyViewParams, augment, augmentViews, blurKernelSize, embeddingTransform,
  resolveCollateConfig, sampleCropBox, sampleViewParams, simclrViews, type CollateConfig, type ViewParams,
} from "../src/transforms/index.js";
import { Oracle, assertClose, maxAbsDiff, py, type CaseResult } from "./helpers/oracle.js";
import { noiseImages, smoothImages } from "./helpers/tv-images.js";

const PRE = "import torchvision.transforms.functional as TF\nfrom torchvision.transforms import InterpolationMode as IM\n";

/** Python that applies `params` (as JSON) image by image with torchvision's functional ops. */
function torchvisionPipeline(p: ViewParams, cfg: CollateConfig, order: "collate" | "simclr", k: number): string {
  const P = {
    image: p.image, crop: p.crop, hflip: p.hflip, vflip: p.vflip, rotate: p.rotate, angle: p.angle,
    jitter: p.jitter, f: [p.brightness, p.contrast, p.saturation, p.hue], order: p.jitterOrder, active: p.jitterActive,
    gray: p.gray, blur: p.blur, sigma: p.sigma,
  };
  return `
import json
P = json.loads(${JSON.stringify(JSON.stringify(P))})
size = ${cfg.input_size}
degrees = ${cfg.rr_degrees === null ? "False" : "True"}
out = []
for i in range(len(P["image"])):
    x = I["x"][P["image"][i]].float() / 255
    t, l, h, w = P["crop"][4 * i: 4 * i + 4]
    y = TF.resized_crop(x, int(t), int(l), int(h), int(w), [size, size], antialias=False)
    def rot(y):
        if not P["rotate"][i]:
            return y
        return TF.rotate(y, P["angle"][i], interpolation=IM.NEAREST, fill=[0.0, 0.0, 0.0]) if degrees else TF.rotate(y, 90.0)
    if ${py(order === "simclr")}:
        y = rot(y)
    if P["hflip"][i]:
        y = TF.hflip(y)
    if P["vflip"][i]:
        y = TF.vflip(y)
    if not ${py(order === "simclr")}:
        y = rot(y)
    if P["jitter"][i]:
        for op in P["order"][i]:
            if not P["active"][op]:
                continue
            f = P["f"][op][i]
            y = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue][op](y, f)
    if P["gray"][i]:
        y = TF.rgb_to_grayscale(y, 3)
    if P["blur"][i]:
        y = TF.gaussian_blur(y, [${k}, ${k}], [P["sigma"][i], P["sigma"][i]])
    out.append(TF.normalize(y, ${py(IMAGENET_NORMALIZE.mean)}, ${py(IMAGENET_NORMALIZE.std)}))
O["y"] = torch.stack(out)
`;
}

const oracle = new Oracle();
const checks: Array<[string, (r: CaseResult) => void]> = [];
let results: Map<string, CaseResult>;
const held: Tensor[] = [];

torch.manualSeed(99);
const B = 12;
const S = 72;
const images = torch.keep(smoothImages(B, S));
held.push(images);

// Everything switched on, so every branch runs at least once in a dozen views.
const ALL_ON: Partial<CollateConfig> = { vf_prob: 0.5, rr_prob: 0.5, cj_prob: 0.9, random_gray_scale: 0.3, gaussian_blur: 0.6 };
const pipelineCases: Array<[string, Partial<CollateConfig>, "collate" | "simclr"]> = [
  ["defaults", {}, "collate"],
  ["all_on_rot90", ALL_ON, "collate"],
  ["all_on_rot90_simclr_order", ALL_ON, "simclr"],
  ["all_on_degrees", { ...ALL_ON, rr_degrees: 25 }, "collate"],
  ["all_on_degrees_simclr_order", { ...ALL_ON, rr_degrees: [-40, 10] }, "simclr"],
];
for (const [name, cfgIn, order] of pipelineCases) {
  const cfg = resolveCollateConfig(cfgIn);
  const idx = [...Array(2 * B).keys()].map((i) => i % B);
  const params = sampleViewParams(idx, Array.from({ length: B }, () => [S, S] as [number, number]), cfg);
  const ours = torch.keep(applyViewParams(images, params, cfg, { order, blurPadding: "reflect" }));
  held.push(ours);
  const k = blurKernelSize(cfg);
  oracle.add(`pipeline_${name}`, { x: images }, PRE + torchvisionPipeline(params, cfg, order, k));
  checks.push([`pipeline (${name}) = torchvision's ops per image with the same parameters`, (r) => {
    const e = r.tensor("y");
    if (process.env.TV_REPORT) console.log(`pipeline ${name}: max |diff| ${maxAbsDiff(ours, e).toExponential(2)}`);
    if (cfg.rr_degrees === null) {
      // Crop resampling ~1e-5 and float rounding, amplified ×4.4 by the normalization's 1/std.
      assertClose(ours, e, { atol: 5e-5, rtol: 0 }, name); // measured ≤ 1.3e-5
    } else {
      // Nearest-neighbour rotation: a sample point within rounding of a pixel edge may take the
      // neighbour (none did in these cases); allow 0.2% of values, all others within 5e-5.
      const a = ours.toArray();
      const ev = e.values();
      let bad = 0;
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - ev[i]) > 5e-5) bad++;
      if (process.env.TV_REPORT) console.log(`pipeline ${name}: ${bad}/${a.length} values beyond 5e-5`);
      assert.ok(bad <= a.length * 2e-3, `${bad}/${a.length} values differ`);
    }
  }]);
}

// Crop parameter distribution against torchvision's own RandomResizedCrop.get_params.
const DIST_N = 20000;
const SIZES: Array<[number, number]> = [[72, 72], [50, 200], [120, 90]];
const ours: Record<string, number[][]> = {};
{
  const u = torch.scope(() => torch.rand([DIST_N, 40], { dtype: "float64" }).data() as Float64Array);
  for (const [h, w] of SIZES) {
    const boxes: number[][] = [];
    for (let i = 0; i < DIST_N; i++) boxes.push(sampleCropBox(h, w, [0.15, 1], u, i * 40));
    ours[`${h}x${w}`] = boxes;
  }
  oracle.add("crop_params", {}, `
import torchvision.transforms as T
torch.manual_seed(0)
res = {}
for h, w in ${py(SIZES)}:
    img = torch.zeros(1, h, w)
    b = [T.RandomResizedCrop.get_params(img, [0.15, 1.0], [3 / 4, 4 / 3]) for _ in range(${DIST_N})]
    O["%dx%d" % (h, w)] = torch.tensor(b, dtype=torch.float64)
`);
}

function stats(boxes: number[][], h: number, w: number) {
  const area = boxes.map((b) => (b[2] * b[3]) / (h * w)).sort((a, b) => a - b);
  const ratio = boxes.map((b) => b[3] / b[2]).sort((a, b) => a - b);
  const q = (a: number[], p: number): number => a[Math.floor(p * (a.length - 1))];
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  const cx = mean(boxes.map((b) => (b[1] + b[3] / 2) / w));
  const cy = mean(boxes.map((b) => (b[0] + b[2] / 2) / h));
  return { areaMean: mean(area), areaQ: [0.1, 0.5, 0.9].map((p) => q(area, p)), ratioQ: [0.1, 0.5, 0.9].map((p) => q(ratio, p)), cx, cy };
}

describe("collate pipeline", () => {
  before(async () => {
    results = await oracle.run();
  });

  for (const [name, check] of checks) test(name, () => check(results.get(`pipeline_${name.match(/\((.*)\)/)![1]}`)!));

  test("crop parameters are distributed as torchvision's get_params", () => {
    const r = results.get("crop_params")!;
    for (const [h, w] of SIZES) {
      const key = `${h}x${w}`;
      const tv = r.tensor(key).values();
      const tvBoxes: number[][] = [];
      for (let i = 0; i < tv.length; i += 4) tvBoxes.push(tv.slice(i, i + 4));
      const a = stats(ours[key], h, w);
      const e = stats(tvBoxes, h, w);
      const near = (x: number, y: number, tol: number, what: string): void =>
        assert.ok(Math.abs(x - y) <= tol, `${key} ${what}: ours ${x.toFixed(4)} vs torchvision ${y.toFixed(4)}`);
      near(a.areaMean, e.areaMean, 0.01, "mean area fraction");
      a.areaQ.forEach((v, i) => near(v, e.areaQ[i], 0.02, `area quantile ${i}`));
      a.ratioQ.forEach((v, i) => near(v, e.ratioQ[i], 0.03, `aspect quantile ${i}`));
      near(a.cx, e.cx, 0.01, "mean centre x");
      near(a.cy, e.cy, 0.01, "mean centre y");
      for (const b of ours[key]) {
        assert.ok(b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= h && b[1] + b[3] <= w && b[2] > 0 && b[3] > 0, `${key}: box ${b} outside`);
        // Rounding w and h to integers can take the area a little under min_scale.
        assert.ok((b[2] + 1) * (b[3] + 1) >= 0.15 * h * w, `${key}: box ${b} smaller than min_scale allows`);
      }
    }
  });

  test("random parameters: rates and ranges", () => {
    torch.manualSeed(5);
    const n = 20000;
    const cfg = resolveCollateConfig({ rr_prob: 0.3, rr_degrees: [-30, 10], vf_prob: 0.1 });
    const p = sampleViewParams(new Array(n).fill(0), [[S, S]], cfg);
    const rate = (a: boolean[]): number => a.filter(Boolean).length / a.length;
    const within = (r: number, prob: number, what: string): void => {
      const sd = Math.sqrt((prob * (1 - prob)) / n);
      assert.ok(Math.abs(r - prob) <= 5 * sd + 1e-12, `${what}: rate ${r} vs ${prob}`);
    };
    within(rate(p.hflip), cfg.hf_prob, "hflip");
    within(rate(p.vflip), cfg.vf_prob, "vflip");
    within(rate(p.rotate), cfg.rr_prob, "rotate");
    within(rate(p.jitter), cfg.cj_prob, "color jitter");
    within(rate(p.gray), cfg.random_gray_scale, "grayscale");
    within(rate(p.blur), cfg.gaussian_blur, "blur");
    const inRange = (a: number[], lo: number, hi: number, what: string): void => {
      const mn = Math.min(...a), mx = Math.max(...a);
      assert.ok(mn >= lo && mx <= hi, `${what}: [${mn}, ${mx}] outside [${lo}, ${hi}]`);
      const m = a.reduce((s, v) => s + v, 0) / a.length;
      assert.ok(Math.abs(m - (lo + hi) / 2) < 0.02 * (hi - lo), `${what}: mean ${m} not uniform on [${lo}, ${hi}]`);
    };
    inRange(p.brightness, 0.3, 1.7, "brightness");
    inRange(p.contrast, 0.3, 1.7, "contrast");
    inRange(p.saturation, 0.3, 1.7, "saturation");
    inRange(p.hue, -0.2, 0.2, "hue");
    inRange(p.sigma, 0.2, 2, "sigma");
    inRange(p.angle, -30, 10, "angle");
    // Jitter order: every permutation about equally often.
    const counts = new Map<string, number>();
    for (const o of p.jitterOrder) counts.set(o.join(""), (counts.get(o.join("")) ?? 0) + 1);
    assert.equal(counts.size, 24);
    for (const [perm, c] of counts) assert.ok(Math.abs(c - n / 24) < 5 * Math.sqrt(n / 24), `order ${perm}: ${c}`);
    // Defaults: no vertical flips, no rotation, 90° when rotating with rr_degrees null.
    const d = sampleViewParams(new Array(2000).fill(0), [[S, S]], { rr_prob: 1 });
    assert.ok(d.vflip.every((v) => !v));
    assert.ok(d.rotate.every((v) => v) && d.angle.every((a) => a === 90));
  });

  test("flip rate on the images themselves ≈ hf_prob", () => {
    // A left-dark/right-bright image: a flipped view is bright on its left.
    torch.manualSeed(11);
    const n = 400;
    const img = torch.scope(() => {
      const ramp = torch.linspace(0, 255, S).reshape([1, 1, 1, S]).expand([1, 3, S, S]);
      return ramp.round().to("uint8");
    });
    const views = augmentViews(img, { cj_prob: 0, random_gray_scale: 0, gaussian_blur: 0, min_scale: 0.5 }, { views: n, normalize: null });
    const flipped = torch.scope(() => {
      const left = views.narrow(3, 0, 8).mean([1, 2, 3]);
      const right = views.narrow(3, 56, 8).mean([1, 2, 3]);
      return left.gt(right).to("float32").mean().item();
    });
    views.dispose();
    img.dispose();
    assert.ok(Math.abs(flipped - 0.5) < 5 * Math.sqrt(0.25 / n), `flipped fraction ${flipped}`);
  });

  test("simclrViews: shapes, dtype, device, two different views, normalized", () => {
    const [v0, v1] = simclrViews(images);
    try {
      for (const v of [v0, v1]) {
        assert.deepEqual(v.shape, [B, 3, 64, 64]);
        assert.equal(v.dtype, "float32");
        assert.equal(v.device, images.device);
      }
      const diff = torch.scope(() => v0.sub(v1).abs().mean([1, 2, 3]));
      const d = diff.toArray();
      diff.dispose();
      assert.ok(d.every((x) => x > 1e-3), `some views are identical: ${d}`);
      // Normalized with ImageNet statistics: values in [(0 - 0.485) / 0.229, (1 - 0.406) / 0.225].
      const [mn, mx] = torch.scope(() => [v0.min().item(), v0.max().item()]);
      assert.ok(mn >= -0.485 / 0.229 - 1e-5 && mx <= 0.594 / 0.225 + 1e-5, `range [${mn}, ${mx}]`);
    } finally {
      v0.dispose();
      v1.dispose();
    }
  });

  test("deterministic under torch.manualSeed", () => {
    const run = (seed: number): number[][] => {
      torch.manualSeed(seed);
      const [a, b] = simclrViews(images);
      const out = [a.toArray(), b.toArray()];
      a.dispose();
      b.dispose();
      return out;
    };
    const r1 = run(42);
    const r2 = run(42);
    const r3 = run(43);
    assert.deepEqual(r1[0], r2[0]);
    assert.deepEqual(r1[1], r2[1]);
    assert.notDeepEqual(r1[0], r3[0]);
  });

  test("no tensors leaked", () => {
    const base = torch.liveTensors();
    for (const cfg of [{}, ALL_ON, { ...ALL_ON, rr_degrees: 20 }]) {
      const [a, b] = simclrViews(images, cfg);
      a.dispose();
      b.dispose();
      augment(images, cfg, { sourceSizes: Array.from({ length: B }, () => [300, 200] as [number, number]) }).dispose();
    }
    embeddingTransform(images, 64).dispose();
    assert.equal(torch.liveTensors(), base);
  });

  test("original sizes: crops drawn in original pixels", () => {
    torch.manualSeed(3);
    const sizes = Array.from({ length: B }, (_, i) => [100 + 10 * i, 300 - 10 * i] as [number, number]);
    const p = sampleViewParams([...Array(B).keys()], sizes, {});
    for (let i = 0; i < B; i++) {
      const [t, l, h, w] = p.crop.slice(4 * i, 4 * i + 4);
      assert.ok(t + h <= sizes[i][0] && l + w <= sizes[i][1], `box ${[t, l, h, w]} outside ${sizes[i]}`);
      assert.ok(w / h >= 3 / 4 - 0.05 && w / h <= 4 / 3 + 0.05, `aspect ${w / h} (in original pixels)`);
    }
    const v = augment(images, {}, { sourceSizes: sizes });
    assert.deepEqual(v.shape, [B, 3, 64, 64]);
    v.dispose();
  });

  test("other input sizes and dtypes; argument checks", () => {
    torch.scope(() => {
      const small = noiseImages(3, 40); // smaller than the view: every crop is an upscale
      assert.deepEqual(augment(small, { input_size: 48 }).shape, [3, 3, 48, 48]);
      const f = small.to("float32").div(255);
      assert.deepEqual(augment(f).shape, [3, 3, 64, 64]);
      assert.deepEqual(augment(small, { input_size: 8 }).shape, [3, 3, 8, 8]); // blur kernel capped
      assert.deepEqual(augmentViews(small, {}, { views: 3 }).shape, [9, 3, 64, 64]);
      assert.deepEqual(embeddingTransform(small, 32).shape, [3, 3, 32, 32]);
      assert.deepEqual(simclrViews(small.narrow(0, 0, 0))[1].shape, [0, 3, 64, 64]);
      assert.throws(() => augment(torch.zeros([3, 40, 40], { dtype: "uint8" })), /\[B, 3, H, W\]/);
      assert.throws(() => augment(small, {}, { sourceSizes: [[1, 1]] }), /sourceSizes/);
    });
  });

  test("config: lightly's defaults, checks", () => {
    assert.deepEqual({ ...COLLATE_DEFAULTS }, {
      input_size: 64, cj_prob: 0.8, cj_bright: 0.7, cj_contrast: 0.7, cj_sat: 0.7, cj_hue: 0.2, min_scale: 0.15,
      random_gray_scale: 0.2, gaussian_blur: 0.5, kernel_size: null, sigmas: [0.2, 2], vf_prob: 0, hf_prob: 0.5,
      rr_prob: 0, rr_degrees: null,
    });
    assert.equal(blurKernelSize(resolveCollateConfig({})), 13);
    assert.throws(() => resolveCollateConfig({ cj_hue: 0.6 }), /cj_hue/);
    assert.throws(() => resolveCollateConfig({ hf_prob: 1.5 }), /hf_prob/);
    assert.throws(() => resolveCollateConfig({ sigmas: [2, 1] }), /sigmas/);
    assert.throws(() => resolveCollateConfig({ rr_degrees: [10, -10] }), /rr_degrees/);
    // Zero jitter strengths drop the op, as torchvision's ColorJitter does.
    const p = sampleViewParams([0], [[8, 8]], { cj_bright: 0, cj_hue: 0 });
    assert.deepEqual(p.jitterActive, [false, true, true, false]);
  });
});
