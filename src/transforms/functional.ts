// Batched image ops with per-sample parameters: torchvision.transforms.functional's semantics on
// float images in [0, 1], applied to a whole batch [N, C, H, W] at once with tensor ops only (the
// parameters are small JavaScript arrays, one entry per sample, or one number for all).
//
// Every function returns a new tensor and leaves its input alone. Float computations follow
// torchvision's operation order so that results agree with it to float rounding (see
// test/transforms-ops.test.ts for the measured tolerances).
import * as torch from "../torch/index.js";
import { F, type Tensor } from "../torch/index.js";

/** One value for every sample, or one value per sample. */
export type PerSample = number | ArrayLike<number>;

function values(v: PerSample, n: number, what: string): number[] {
  if (typeof v === "number") return new Array<number>(n).fill(v);
  if (v.length !== n) throw new Error(`${what}: ${v.length} values for ${n} samples`);
  return Array.from(v);
}

function checkImages(x: Tensor, what: string, channels?: number): [number, number, number, number] {
  const s = x.shape;
  if (s.length !== 4) throw new Error(`${what}: expected a batch [N, C, H, W], got shape [${s}]`);
  if (channels !== undefined && s[1] !== channels) throw new Error(`${what}: expected ${channels} channels, got ${s[1]}`);
  if (x.dtype !== "float32" && x.dtype !== "float64") {
    throw new Error(`${what}: expected a float image batch (use toFloatImages for uint8), got ${x.dtype}`);
  }
  return s as [number, number, number, number];
}

/** A float tensor of `x`'s dtype and device from JavaScript numbers. */
export function floatTensor(vals: ArrayLike<number>, shape: number[], like: Tensor): Tensor {
  const arr = like.dtype === "float64" ? Float64Array.from(vals) : Float32Array.from(vals);
  return torch.tensor(arr, { shape, device: like.device });
}

/** A per-sample column [n, 1, 1, 1] for broadcasting over images. */
function column(vals: number[], like: Tensor): Tensor {
  return floatTensor(vals, [vals.length, 1, 1, 1], like);
}

/** uint8 [N, C, H, W] → float32 in [0, 1] (ToTensor's division by 255); float input is copied as float32. */
export function toFloatImages(x: Tensor): Tensor {
  if (x.dtype === "uint8") return torch.scope(() => x.to("float32").div(255));
  if (x.dtype === "float32") return x.clone();
  if (x.dtype === "float64") return x.to("float32");
  throw new Error(`toFloatImages: unsupported dtype ${x.dtype}`);
}

// ---- color ----------------------------------------------------------------------------------

/** rgb_to_grayscale: ITU-R 601-2 luma (0.2989, 0.587, 0.114), 1 or 3 output channels. */
export function rgbToGrayscale(x: Tensor, numOutputChannels: 1 | 3 = 1): Tensor {
  const [n, , h, w] = checkImages(x, "rgbToGrayscale", 3);
  return torch.scope(() => {
    const r = x.narrow(1, 0, 1);
    const g = x.narrow(1, 1, 1);
    const b = x.narrow(1, 2, 1);
    const l = r.mul(0.2989).add(g.mul(0.587)).add(b.mul(0.114));
    return numOutputChannels === 3 ? l.expand([n, 3, h, w]).contiguous() : l;
  });
}

/** torchvision's _blend: (ratio * a + (1 - ratio) * b).clamp(0, 1), ratio per sample. */
function blend(a: Tensor, b: Tensor | null, ratio: number[]): Tensor {
  return torch.scope(() => {
    const r = column(ratio, a);
    const ra = a.mul(r);
    if (b === null) return ra.clamp_(0, 1); // blend with zeros: (1 - ratio) * 0 adds nothing
    const om = column(ratio.map((v) => 1 - v), a); // 1 - ratio in double, as Python computes it
    return ra.add_(b.mul(om)).clamp_(0, 1);
  });
}

export function adjustBrightness(x: Tensor, factor: PerSample): Tensor {
  const [n] = checkImages(x, "adjustBrightness");
  const f = values(factor, n, "adjustBrightness");
  if (f.some((v) => v < 0)) throw new Error("adjustBrightness: factors must be >= 0");
  return blend(x, null, f);
}

export function adjustContrast(x: Tensor, factor: PerSample): Tensor {
  const [n] = checkImages(x, "adjustContrast", 3);
  const f = values(factor, n, "adjustContrast");
  if (f.some((v) => v < 0)) throw new Error("adjustContrast: factors must be >= 0");
  // mean(gray) as the luma of the channel means: one pass over the images instead of a gray copy.
  return torch.scope(() => {
    const mean = x.mean([2, 3]).mul(floatTensor([0.2989, 0.587, 0.114], [1, 3], x)).sum(1).reshape([n, 1, 1, 1]);
    return blend(x, mean, f);
  });
}

export function adjustSaturation(x: Tensor, factor: PerSample): Tensor {
  const [n] = checkImages(x, "adjustSaturation", 3);
  const f = values(factor, n, "adjustSaturation");
  if (f.some((v) => v < 0)) throw new Error("adjustSaturation: factors must be >= 0");
  return torch.scope(() => blend(x, rgbToGrayscale(x), f));
}

/**
 * adjust_hue: shift the hue by `factor` (per sample, in [-0.5, 0.5]) in HSV space, as torchvision's
 * _rgb2hsv → (h + factor) mod 1 → _hsv2rgb, in closed form: with v = max, c = max − min and the
 * shifted hue H in sextants [0, 6), channel n ∈ {R: 5, G: 3, B: 1} is v − c·clamp(min(k, 4 − k), 0, 1),
 * k = (n + H) mod 6. The same function as torchvision's (v·s = c, p = min, q and t the sector ramps),
 * in about a quarter of the tensor passes; it agrees with torchvision to float rounding.
 */
export function adjustHue(x: Tensor, factor: PerSample): Tensor {
  const [n] = checkImages(x, "adjustHue", 3);
  const f = values(factor, n, "adjustHue");
  if (f.some((v) => !(v >= -0.5 && v <= 0.5))) throw new Error("adjustHue: factors must be in [-0.5, 0.5]");
  return torch.scope(() => {
    // max(dim) returns the first maximal channel on ties: red, then green, as torchvision decides.
    const [maxc, argmax] = x.max(1, true);
    const c = maxc.sub(x.amin(1, true));
    // Hue in sextants times c for each choice of max channel: (g − b, b − r + 2c, r − g + 4c).
    const hcAll = x.roll([-1], [1]).sub_(x.roll([-2], [1])).addcmul_(c, floatTensor([0, 2, 4], [1, 3, 1, 1], x));
    // c = 0 (gray): hc = 0 and the output is v whatever the hue.
    const hue = hcAll.gather(1, argmax).div_(c.clampMin(1e-30)).add_(column(f.map((v) => 6 * v), x));
    const k = hue.add(floatTensor([5, 3, 1], [1, 3, 1, 1], x)).remainder(6);
    const ramp = k.rsub(4).minimum_(k).clamp_(0, 1);
    return maxc.sub(ramp.mul_(c));
  });
}

// ---- blur and normalization -------------------------------------------------------------------

/** torchvision's _get_gaussian_kernel1d (computed in double, rounded to float32 once). */
export function gaussianKernel1d(kernelSize: number, sigma: number): number[] {
  const half = (kernelSize - 1) * 0.5;
  const pdf: number[] = [];
  for (let k = 0; k < kernelSize; k++) {
    const z = (k - half) / sigma;
    pdf.push(Math.exp(-0.5 * z * z));
  }
  const sum = pdf.reduce((a, b) => a + b, 0);
  return pdf.map((v) => v / sum);
}

/**
 * The matrix M [len, len] that blurs a line: out[i] = Σ_k M[i][k]·in[k], the kernel centred on i
 * with the border folded in (reflect without repeating the edge pixel, or replicate it).
 */
function blurMatrix(kernel: number[], len: number, padding: "reflect" | "replicate", out: Float32Array | Float64Array, offset: number): void {
  const half = (kernel.length - 1) / 2;
  for (let i = 0; i < len; i++) {
    for (let t = 0; t < kernel.length; t++) {
      let src = i + t - half;
      if (padding === "reflect") {
        if (src < 0) src = -src;
        if (src > len - 1) src = 2 * (len - 1) - src;
      } else {
        src = Math.min(len - 1, Math.max(0, src));
      }
      out[offset + i * len + src] += kernel[t];
    }
  }
}

/**
 * gaussian_blur with an odd square kernel and one sigma per sample. The 2-d kernel is separable,
 * so each direction is one batched matrix product with a per-sample banded matrix that also holds
 * the padding: torchvision's pad-then-conv2d, without padded copies. Padding "reflect" is
 * torchvision's; "replicate" extends edge pixels as PIL's GaussianBlur does.
 */
export function gaussianBlur(x: Tensor, kernelSize: number, sigma: PerSample, padding: "reflect" | "replicate" = "reflect"): Tensor {
  const [n, c, h, w] = checkImages(x, "gaussianBlur");
  if (!Number.isInteger(kernelSize) || kernelSize < 1 || kernelSize % 2 === 0) {
    throw new Error(`gaussianBlur: kernelSize must be a positive odd integer, got ${kernelSize}`);
  }
  const half = (kernelSize - 1) / 2;
  if (padding === "reflect" && (half >= h || half >= w)) {
    throw new Error(`gaussianBlur: kernel ${kernelSize} too large for reflect padding of a ${h}x${w} image`);
  }
  const sig = values(sigma, n, "gaussianBlur");
  if (sig.some((v) => !(v > 0))) throw new Error("gaussianBlur: sigma must be > 0");
  if (n === 0) return x.clone();
  const Arr = x.dtype === "float64" ? Float64Array : Float32Array;
  const mh = new Arr(n * h * h);
  const mw = new Arr(n * w * w);
  for (let i = 0; i < n; i++) {
    const k = gaussianKernel1d(kernelSize, sig[i]);
    blurMatrix(k, h, padding, mh, i * h * h);
    blurMatrix(k, w, padding, mw, i * w * w);
  }
  return torch.scope(() => {
    const dev = { device: x.device };
    const rows = torch.tensor(mh, { shape: [n, 1, h, h], ...dev }).to(x.dtype).expand([n, c, h, h]).reshape([n * c, h, h]);
    const cols = torch.tensor(mw, { shape: [n, 1, w, w], ...dev }).to(x.dtype).transpose(2, 3).expand([n, c, w, w]).reshape([n * c, w, w]);
    return rows.bmm(x.reshape([n * c, h, w])).bmm(cols).reshape([n, c, h, w]);
  });
}

/** normalize: (x - mean) / std per channel. */
export function normalize(x: Tensor, mean: ArrayLike<number>, std: ArrayLike<number>): Tensor {
  const [, c] = checkImages(x, "normalize");
  if (mean.length !== c || std.length !== c) throw new Error(`normalize: need ${c} means and stds`);
  return torch.scope(() => x.sub(floatTensor(mean, [1, c, 1, 1], x)).div(floatTensor(std, [1, c, 1, 1], x)));
}

// ---- geometry -------------------------------------------------------------------------------

export const hflip = (x: Tensor): Tensor => x.flip(3);
export const vflip = (x: Tensor): Tensor => x.flip(2);
/** rotate(img, 90 · k): counter-clockwise quarter turns, exact (square or not). */
export function rot90(x: Tensor, k = 1): Tensor {
  const q = ((k % 4) + 4) % 4;
  if (q === 0) return x.clone();
  if (q === 2) return x.flip([2, 3]);
  return torch.scope(() => (q === 1 ? x.transpose(2, 3).flip(2) : x.transpose(2, 3).flip(3)));
}

/** resize to size × size, bilinear (align_corners false), optionally antialiased as PIL. */
export function resize(x: Tensor, size: number | [number, number], antialias = true): Tensor {
  const [, , h, w] = checkImages(x, "resize");
  const [oh, ow] = Array.isArray(size) ? size : [size, size];
  // torchvision's antialias only acts when downsampling; upsampling takes the plain kernel.
  const aa = antialias && (oh < h || ow < w);
  return F.interpolate(x, [oh, ow], { mode: "bilinear", alignCorners: false, antialias: aa });
}

/** 2×2 row-major matrices [a, b, c, d] = [[a, b], [c, d]]. */
export type Mat2 = [number, number, number, number];
const I2: Mat2 = [1, 0, 0, 1];
const mul2 = (m: Mat2, n: Mat2): Mat2 => [
  m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
  m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
];
/** Where an output point of each op samples its input, in normalized (x right, y down) coordinates. */
export const HFLIP: Mat2 = [-1, 0, 0, 1];
export const VFLIP: Mat2 = [1, 0, 0, -1];
/** rotate(img, 90): counter-clockwise by 90°, output (x, y) samples input (-y, x). */
export const ROT90: Mat2 = [0, -1, 1, 0];
/** rotate(img, angle): output (x, y) samples input (x cos a − y sin a, x sin a + y cos a) (square images). */
export function rotationMatrix(degrees: number): Mat2 {
  const a = (degrees * Math.PI) / 180;
  return [Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a)];
}
/**
 * The combined matrix of ops applied to the image in this order: the image after ops A then B,
 * sampled at p, is the original sampled at A·B·p, so the product runs in application order.
 */
export function composeOps(ops: Mat2[]): Mat2 {
  let m = I2;
  for (const op of ops) m = mul2(m, op);
  return m;
}

export interface CropGeometry {
  /** Per sample: top, left, height, width of the crop box, in pixels of an image of `sourceSizes[i]`. */
  boxes: ArrayLike<number>;
  /**
   * Per sample: [height, width] of the image the boxes refer to (e.g. the original before the cache
   * resized it to the batch's H × W). Default: the batch's H × W, i.e. boxes in batch pixels.
   */
  sourceSizes?: ArrayLike<readonly [number, number]>;
  /** Per sample: the flips/rotations applied after the crop, as matrices in application order. */
  ops?: ArrayLike<Mat2>;
}

/**
 * resized_crop to size × size for every sample at once (bilinear, align_corners false, no
 * antialias), followed by any flips / 90° rotations folded into the same affine sampling grid.
 *
 * The grid is clamped to each crop box's outermost pixel centres, which reproduces exactly what
 * crop-then-interpolate does at the box edges (it never reads pixels outside the box). With boxes
 * in batch pixels this equals torchvision's resized_crop(..., antialias=False) to float rounding.
 */
export function resizedCrop(x: Tensor, size: number, geom: CropGeometry): Tensor {
  const [n, c, H, W] = checkImages(x, "resizedCrop");
  if (geom.boxes.length !== 4 * n) throw new Error(`resizedCrop: ${geom.boxes.length / 4} boxes for ${n} samples`);
  const theta: number[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  for (let i = 0; i < n; i++) {
    const [top, left, bh, bw] = [geom.boxes[4 * i], geom.boxes[4 * i + 1], geom.boxes[4 * i + 2], geom.boxes[4 * i + 3]];
    const [sh, sw] = geom.sourceSizes ? geom.sourceSizes[i] : [H, W];
    const sy = H / sh;
    const sx = W / sw;
    // Box edges in batch pixels (edge coordinates: the image spans [0, W]).
    const x0 = left * sx, x1 = (left + bw) * sx;
    const y0 = top * sy, y1 = (top + bh) * sy;
    const m = geom.ops ? geom.ops[i] : I2;
    const ax = (x1 - x0) / W, ay = (y1 - y0) / H;
    theta.push(ax * m[0], ax * m[1], (x0 + x1) / W - 1, ay * m[2], ay * m[3], (y0 + y1) / H - 1);
    // Outermost pixel centres inside the box (pixel k's centre is at k + 0.5), normalized.
    const cx0 = x0 + 0.5, cx1 = Math.max(cx0, x1 - 0.5);
    const cy0 = y0 + 0.5, cy1 = Math.max(cy0, y1 - 0.5);
    lo.push((2 * cx0) / W - 1, (2 * cy0) / H - 1);
    hi.push((2 * cx1) / W - 1, (2 * cy1) / H - 1);
  }
  return torch.scope(() => {
    const th = floatTensor(theta, [n, 2, 3], x);
    const grid = F.affineGrid(th, [n, c, size, size], false).clamp(floatTensor(lo, [n, 1, 1, 2], x), floatTensor(hi, [n, 1, 1, 2], x));
    return F.gridSample(x, grid, { mode: "bilinear", paddingMode: "border", alignCorners: false });
  });
}

/** Per sample, a flip/rotation matrix applied by resampling (nearest, zero fill), as torchvision's
 *  rotate(img, angle) on tensors (interpolation NEAREST, expand False, centre, fill 0). Square images. */
export function warpNearest(x: Tensor, ops: ArrayLike<Mat2>): Tensor {
  const [n, c, h, w] = checkImages(x, "warpNearest");
  if (h !== w) throw new Error("warpNearest: square images only");
  if (ops.length !== n) throw new Error(`warpNearest: ${ops.length} matrices for ${n} samples`);
  const theta: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = ops[i];
    theta.push(m[0], m[1], 0, m[2], m[3], 0);
  }
  return torch.scope(() => {
    const grid = F.affineGrid(floatTensor(theta, [n, 2, 3], x), [n, c, h, w], false);
    return F.gridSample(x, grid, { mode: "nearest", paddingMode: "zeros", alignCorners: false });
  });
}

/** rotate by `degrees` counter-clockwise (per sample), nearest, zero fill, same size. */
export function rotate(x: Tensor, degrees: PerSample): Tensor {
  const [n] = checkImages(x, "rotate");
  return warpNearest(x, values(degrees, n, "rotate").map(rotationMatrix));
}
