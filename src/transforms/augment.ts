// Lightly's collate augmentations (ImageCollateFunction, lightly_config.collate) on a whole batch:
// per-sample random parameters are drawn as small arrays (from libtorch's CPU generator, so
// torch.manualSeed makes them reproducible), then every step runs once for the batch with tensor
// ops on the images' device.
//
// Input: a uint8 batch [B, 3, H, W] (the data layer's cache: every image decoded and resized to one
// size), optionally with each image's original [height, width]. Crops are then drawn in original
// pixels, exactly as RandomResizedCrop would on the original image, and mapped into the cache.
//
// Per view, in lightly's order (ImageCollateFunction):
//   RandomResizedCrop(input_size, scale=(min_scale, 1))  ─┐ one affine sampling grid (bilinear)
//   RandomHorizontalFlip(hf_prob), RandomVerticalFlip(vf_prob) │ flips and 90° rotation are exact
//   rotation (rr_prob; rr_degrees null → 90° CCW)        ─┘ permutations folded into the grid
//     (rr_degrees set → a random angle, resampled nearest with zero fill as RandomRotation does)
//   RandomApply(ColorJitter(b, c, s, h), cj_prob)  per-sample factors and per-sample order
//   RandomGrayscale(random_gray_scale)
//   GaussianBlur(prob gaussian_blur, sigma ~ U(sigmas))
//   ToTensor, Normalize
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { resolveCollateConfig, IMAGENET_NORMALIZE, type CollateConfig, type NormalizeConfig } from "./config.js";
import {
  adjustBrightness, adjustContrast, adjustHue, adjustSaturation, composeOps, gaussianBlur, HFLIP, normalize,
  resize, resizedCrop, rgbToGrayscale, ROT90, rotationMatrix, toFloatImages, VFLIP, warpNearest, type Mat2,
} from "./functional.js";

export interface AugmentOptions {
  /** Per image [height, width] of the original (before the cache resized it); default the batch's H × W. */
  sourceSizes?: ArrayLike<readonly [number, number]>;
  /** Normalization after ToTensor; default ImageNet's (lightly's default); null for none. */
  normalize?: NormalizeConfig | null;
  /** Blur kernel side (odd). Default 2·ceil(3·sigmas[1]) + 1 (13 for sigma up to 2), capped by the view size. */
  blurKernelSize?: number;
  /**
   * Blur border: "replicate" (default: edge pixels extended, as PIL's GaussianBlur that lightly
   * runs; 3 gray levels from PIL at most in our tests, against 9 for reflect) or "reflect"
   * (torchvision's gaussian_blur).
   */
  blurPadding?: "reflect" | "replicate";
  /**
   * "collate" (default): flips then rotation, as ImageCollateFunction (lightly_config.collate).
   * "simclr": rotation then flips, as lightly.transforms.SimCLRTransform.
   */
  order?: "collate" | "simclr";
  /** If given, milliseconds spent per stage are added to it (for benchmarks; on CUDA, launch time only). */
  profile?: Record<string, number>;
}

/** ColorJitter's ops, numbered as torchvision's fn_idx. */
export const JITTER_OPS = ["brightness", "contrast", "saturation", "hue"] as const;

/** Everything random about a set of views, one entry per view (row). */
export interface ViewParams {
  n: number;
  /** Which batch image each view comes from. */
  image: number[];
  /** [height, width] the crop boxes refer to, per view. */
  sourceSizes: Array<[number, number]>;
  /** Crop box per view: top, left, height, width (4n numbers). */
  crop: number[];
  hflip: boolean[];
  vflip: boolean[];
  rotate: boolean[];
  /** Rotation angle in degrees (CCW) where `rotate`; exactly 90 when rr_degrees is null. */
  angle: number[];
  /** Whether ColorJitter ran for the view, its factors, and its op order (a permutation of 0..3). */
  jitter: boolean[];
  brightness: number[];
  contrast: number[];
  saturation: number[];
  hue: number[];
  jitterOrder: number[][];
  /** Which jitter ops exist at all (torchvision drops an op whose range is the identity). */
  jitterActive: [boolean, boolean, boolean, boolean];
  gray: boolean[];
  blur: boolean[];
  sigma: number[];
}

// Uniform draws per view: 10 crop tries × (area, ratio, top, left), then the rest.
const TRIES = 10;
const U_ROT = 4 * TRIES, U_ANGLE = U_ROT + 1, U_HF = U_ROT + 2, U_VF = U_ROT + 3, U_CJ = U_ROT + 4;
const U_FACT = U_CJ + 1, U_PERM = U_FACT + 4, U_GRAY = U_PERM + 4, U_BLUR = U_GRAY + 1, U_SIGMA = U_BLUR + 1;
const U_COUNT = U_SIGMA + 1;

/** Python's round(): half to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * RandomResizedCrop.get_params for an image of height × width from uniforms `u` (4 per try):
 * area fraction ~ U(scale), log aspect ratio ~ U(log 3/4, log 4/3), up to 10 tries, then
 * torchvision's fallback (the whole image, or a centre crop at the nearest allowed ratio).
 */
export function sampleCropBox(
  height: number, width: number, scale: [number, number], u: ArrayLike<number>, offset = 0,
  ratio: [number, number] = [3 / 4, 4 / 3],
): [number, number, number, number] {
  const area = height * width;
  const lr0 = Math.log(ratio[0]), lr1 = Math.log(ratio[1]);
  for (let t = 0; t < TRIES; t++) {
    const k = offset + 4 * t;
    const target = area * (scale[0] + u[k] * (scale[1] - scale[0]));
    const aspect = Math.exp(lr0 + u[k + 1] * (lr1 - lr0));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.min(height - h, Math.floor(u[k + 2] * (height - h + 1)));
      const left = Math.min(width - w, Math.floor(u[k + 3] * (width - w + 1)));
      return [top, left, h, w];
    }
  }
  const inRatio = width / height;
  let w: number, h: number;
  if (inRatio < Math.min(...ratio)) {
    w = width;
    h = roundHalfEven(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    h = height;
    w = roundHalfEven(h * Math.max(...ratio));
  } else {
    w = width;
    h = height;
  }
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/** ColorJitter's _check_input: [max(0, 1 - v), 1 + v] (hue: [-v, v]); null when it is the identity. */
function jitterRange(v: number, hue: boolean): [number, number] | null {
  const r: [number, number] = hue ? [-v, v] : [Math.max(0, 1 - v), 1 + v];
  const center = hue ? 0 : 1;
  return r[0] === center && r[1] === center ? null : r;
}

/**
 * Draws the random parameters of `images.length` views (view i from batch image images[i], whose
 * crop is drawn in pixels of sizes[images[i]]). Uses torch's CPU generator (torch.manualSeed).
 */
export function sampleViewParams(
  images: number[], sizes: ArrayLike<readonly [number, number]>, config: Partial<CollateConfig> = {},
): ViewParams {
  const cfg = resolveCollateConfig(config);
  const n = images.length;
  const u = n === 0 ? new Float64Array(0) : torch.scope(() => torch.rand([n, U_COUNT], { dtype: "float64" }).data() as Float64Array);
  const ranges = [
    jitterRange(cfg.cj_bright, false), jitterRange(cfg.cj_contrast, false), jitterRange(cfg.cj_sat, false), jitterRange(cfg.cj_hue, true),
  ];
  const deg = cfg.rr_degrees;
  const angleRange: [number, number] | null = deg === null ? null : typeof deg === "number" ? [-deg, deg] : deg;
  const p: ViewParams = {
    n, image: images.slice(), sourceSizes: [], crop: [], hflip: [], vflip: [], rotate: [], angle: [],
    jitter: [], brightness: [], contrast: [], saturation: [], hue: [], jitterOrder: [],
    jitterActive: ranges.map((r) => r !== null) as [boolean, boolean, boolean, boolean],
    gray: [], blur: [], sigma: [],
  };
  for (let i = 0; i < n; i++) {
    const o = i * U_COUNT;
    const [h, w] = sizes[images[i]];
    p.sourceSizes.push([h, w]);
    p.crop.push(...sampleCropBox(h, w, [cfg.min_scale, 1], u, o));
    p.rotate.push(u[o + U_ROT] < cfg.rr_prob);
    p.angle.push(angleRange === null ? 90 : angleRange[0] + u[o + U_ANGLE] * (angleRange[1] - angleRange[0]));
    p.hflip.push(u[o + U_HF] < cfg.hf_prob);
    p.vflip.push(u[o + U_VF] < cfg.vf_prob);
    p.jitter.push(u[o + U_CJ] < cfg.cj_prob);
    const f = ranges.map((r, k) => (r === null ? (k === 3 ? 0 : 1) : r[0] + u[o + U_FACT + k] * (r[1] - r[0])));
    p.brightness.push(f[0]);
    p.contrast.push(f[1]);
    p.saturation.push(f[2]);
    p.hue.push(f[3]);
    const keys = [0, 1, 2, 3].map((k) => u[o + U_PERM + k]);
    p.jitterOrder.push([0, 1, 2, 3].sort((a, b) => keys[a] - keys[b])); // uniform random permutation
    p.gray.push(u[o + U_GRAY] < cfg.random_gray_scale);
    p.blur.push(u[o + U_BLUR] < cfg.gaussian_blur);
    p.sigma.push(cfg.sigmas[0] + u[o + U_SIGMA] * (cfg.sigmas[1] - cfg.sigmas[0]));
  }
  return p;
}

/** The blur kernel side used for a config: 2·ceil(3·sigma_max) + 1, capped so reflect padding fits. */
export function blurKernelSize(cfg: CollateConfig, opts: AugmentOptions = {}): number {
  let k = opts.blurKernelSize ?? 2 * Math.ceil(3 * cfg.sigmas[1]) + 1;
  const maxHalf = cfg.input_size - 1;
  if ((k - 1) / 2 > maxHalf) k = 2 * maxHalf + 1;
  return Math.max(1, k);
}

/** Runs fn on the rows `ids` of y and writes the result back (y is ours to modify); all rows: fn(y). */
function onRows(y: Tensor, ids: number[], fn: (sub: Tensor, ids: number[]) => Tensor): Tensor {
  if (ids.length === 0) return y;
  if (ids.length === y.shape[0] && ids.every((v, i) => v === i)) {
    const out = torch.scope(() => fn(y, ids));
    y.dispose();
    return out;
  }
  torch.scope(() => {
    const idx = torch.tensor(BigInt64Array.from(ids, (v) => BigInt(v)), { device: y.device });
    y.indexPut_(idx, fn(y.indexSelect(0, idx), ids));
  });
  return y;
}

const pick = <T>(arr: T[], ids: number[]): T[] => ids.map((i) => arr[i]);

/**
 * Applies drawn parameters: `images` uint8 [B, 3, H, W] (or float in [0, 1]) → float32 views
 * [params.n, 3, input_size, input_size] on the same device.
 */
export function applyViewParams(images: Tensor, params: ViewParams, config: Partial<CollateConfig> = {}, opts: AugmentOptions = {}): Tensor {
  const cfg = resolveCollateConfig(config);
  const s = images.shape;
  if (s.length !== 4 || s[1] !== 3) throw new Error(`augment: expected images [B, 3, H, W], got [${s}]`);
  const n = params.n;
  const size = cfg.input_size;
  const simclrOrder = (opts.order ?? "collate") === "simclr";
  const anyAngle = cfg.rr_degrees !== null;
  if (params.image.length !== n || params.crop.length !== 4 * n) throw new Error("applyViewParams: inconsistent ViewParams");
  if (n === 0) return torch.empty([0, 3, size, size], { device: images.device });
  let t0 = performance.now();
  const lap = (stage: string): void => {
    if (!opts.profile) return;
    const t = performance.now();
    opts.profile[stage] = (opts.profile[stage] ?? 0) + (t - t0);
    t0 = t;
  };
  return torch.scope(() => {
    // Pick each view's source image first (uint8 copies are 4× smaller than float ones).
    const identity = n === s[0] && params.image.every((v, i) => v === i);
    const picked = identity ? images : images.indexSelect(0, torch.tensor(BigInt64Array.from(params.image, (v) => BigInt(v)), { device: images.device }));
    const xin = toFloatImages(picked);
    if (picked !== images) picked.dispose();

    // Geometry: flips and 90° rotations join the crop's sampling grid; an arbitrary angle is a
    // second, nearest-neighbour resampling (as RandomRotation's), carrying the flips that follow it.
    const pre: Mat2[] = [];
    const post: Array<Mat2 | null> = [];
    for (let i = 0; i < n; i++) {
      const flips: Mat2[] = [];
      if (params.hflip[i]) flips.push(HFLIP);
      if (params.vflip[i]) flips.push(VFLIP);
      const rot = params.rotate[i] ? (anyAngle ? rotationMatrix(params.angle[i]) : ROT90) : null;
      if (rot === null) {
        pre.push(composeOps(flips));
        post.push(null);
      } else if (!anyAngle) {
        pre.push(composeOps(simclrOrder ? [rot, ...flips] : [...flips, rot]));
        post.push(null);
      } else if (simclrOrder) {
        pre.push(composeOps([]));
        post.push(composeOps([rot, ...flips]));
      } else {
        pre.push(composeOps(flips));
        post.push(rot);
      }
    }
    lap("input");
    let y = resizedCrop(xin, size, { boxes: params.crop, sourceSizes: params.sourceSizes, ops: pre });
    xin.dispose();
    const warped = post.flatMap((m, i) => (m ? [i] : []));
    y = onRows(y, warped, (sub, ids) => warpNearest(sub, ids.map((i) => post[i]!)));
    lap("geometry");

    // ColorJitter: four rounds; in round r each view applies its r-th op, so each op runs on
    // the rows that take it in that round (a quarter of the jittered views on average).
    const factors = [params.brightness, params.contrast, params.saturation, params.hue];
    const ops = [adjustBrightness, adjustContrast, adjustSaturation, adjustHue];
    for (let r = 0; r < 4; r++) {
      for (let k = 0; k < 4; k++) {
        if (!params.jitterActive[k]) continue;
        const ids: number[] = [];
        for (let i = 0; i < n; i++) if (params.jitter[i] && params.jitterOrder[i][r] === k) ids.push(i);
        y = onRows(y, ids, (sub, rows) => ops[k](sub, pick(factors[k], rows)));
        lap(JITTER_OPS[k]);
      }
    }

    const grays: number[] = [];
    const blurs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (params.gray[i]) grays.push(i);
      if (params.blur[i]) blurs.push(i);
    }
    y = onRows(y, grays, (sub) => rgbToGrayscale(sub, 3));
    lap("grayscale");
    const k = blurKernelSize(cfg, opts);
    if (k > 1) y = onRows(y, blurs, (sub, rows) => gaussianBlur(sub, k, pick(params.sigma, rows), opts.blurPadding ?? "replicate"));
    lap("blur");

    const norm = opts.normalize === undefined ? IMAGENET_NORMALIZE : opts.normalize;
    if (norm) y = onRows(y, Array.from({ length: n }, (_, i) => i), (all) => normalize(all, norm.mean, norm.std));
    lap("normalize");
    return y;
  });
}

function batchSizes(images: Tensor, opts: AugmentOptions): ArrayLike<readonly [number, number]> {
  const [b, , h, w] = images.shape;
  if (opts.sourceSizes) {
    if (opts.sourceSizes.length !== b) throw new Error(`augment: ${opts.sourceSizes.length} sourceSizes for ${b} images`);
    return opts.sourceSizes;
  }
  return Array.from({ length: b }, () => [h, w] as const);
}

/**
 * `views` augmented views of every image, view-major: rows [v·B, (v+1)·B) are view v of images
 * 0..B-1. float32 [views·B, 3, input_size, input_size] on the images' device.
 */
export function augmentViews(images: Tensor, config: Partial<CollateConfig> = {}, opts: AugmentOptions & { views?: number } = {}): Tensor {
  const b = images.shape[0];
  const views = opts.views ?? 1;
  const idx: number[] = [];
  for (let v = 0; v < views; v++) for (let i = 0; i < b; i++) idx.push(i);
  const params = sampleViewParams(idx, batchSizes(images, opts), config);
  return applyViewParams(images, params, config, opts);
}

/** One augmented view per image: float32 [B, 3, input_size, input_size]. */
export const augment = (images: Tensor, config: Partial<CollateConfig> = {}, opts: AugmentOptions = {}): Tensor =>
  augmentViews(images, config, { ...opts, views: 1 });

/**
 * SimCLR's two independently augmented views of each image (lightly's collate): [view0, view1],
 * each float32 [B, 3, input_size, input_size] on the images' device. Both are drawn and computed
 * as one batch of 2B; torch.manualSeed makes them reproducible.
 */
export function simclrViews(images: Tensor, config: Partial<CollateConfig> = {}, opts: AugmentOptions = {}): [Tensor, Tensor] {
  return torch.scope(() => {
    const all = augmentViews(images, config, { ...opts, views: 2 });
    const [v0, v1] = all.chunk(2, 0);
    return [v0, v1] as [Tensor, Tensor];
  });
}

/**
 * The embedding transform (no randomness): resize to input_size × input_size (bilinear, antialiased
 * when shrinking, as PIL's resize), to float [0, 1], normalize.
 */
export function embeddingTransform(
  images: Tensor, inputSize: number, opts: { normalize?: NormalizeConfig | null; antialias?: boolean } = {},
): Tensor {
  return torch.scope(() => {
    const x = toFloatImages(images);
    const [, , h, w] = x.shape;
    const r = h === inputSize && w === inputSize ? x : resize(x, inputSize, opts.antialias ?? true);
    const norm = opts.normalize === undefined ? IMAGENET_NORMALIZE : opts.normalize;
    return norm ? normalize(r, norm.mean, norm.std) : r;
  });
}
