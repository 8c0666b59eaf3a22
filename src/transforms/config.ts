// lightly_config.collate: the augmentation settings Lightly's ImageCollateFunction takes, with the
// same keys (snake_case) and defaults (lightly/data/collate.py, ImageCollateFunction.__init__).

/** Rotation setting: null = rotate by exactly 90° (counter-clockwise) with probability rr_prob;
 *  a number d = a random angle in [-d, d]; a pair = a random angle in [min, max] (degrees, CCW). */
export type RotationDegrees = number | [number, number] | null;

export interface CollateConfig {
  /** Output side in pixels (square views). */
  input_size: number;
  /** Probability that color jitter is applied. */
  cj_prob: number;
  cj_bright: number;
  cj_contrast: number;
  cj_sat: number;
  cj_hue: number;
  /** RandomResizedCrop scale = (min_scale, 1). */
  min_scale: number;
  /** Probability of conversion to grayscale. */
  random_gray_scale: number;
  /** Probability of Gaussian blur. */
  gaussian_blur: number;
  /** Deprecated in lightly and ignored by it (and here); kept so configs with it still parse. */
  kernel_size: number | null;
  /** The blur's sigma is drawn uniformly from [sigmas[0], sigmas[1]] (pixels of the view). */
  sigmas: [number, number];
  vf_prob: number;
  hf_prob: number;
  rr_prob: number;
  rr_degrees: RotationDegrees;
}

export const COLLATE_DEFAULTS: Readonly<CollateConfig> = Object.freeze({
  input_size: 64,
  cj_prob: 0.8,
  cj_bright: 0.7,
  cj_contrast: 0.7,
  cj_sat: 0.7,
  cj_hue: 0.2,
  min_scale: 0.15,
  random_gray_scale: 0.2,
  gaussian_blur: 0.5,
  kernel_size: null,
  sigmas: [0.2, 2] as [number, number],
  vf_prob: 0.0,
  hf_prob: 0.5,
  rr_prob: 0.0,
  rr_degrees: null,
});

export interface NormalizeConfig {
  mean: [number, number, number];
  std: [number, number, number];
}

/** lightly's IMAGENET_NORMALIZE. */
export const IMAGENET_NORMALIZE: Readonly<NormalizeConfig> = Object.freeze({
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
});

/** Defaults filled in and values checked (the ranges torchvision itself enforces). */
export function resolveCollateConfig(cfg: Partial<CollateConfig> = {}): CollateConfig {
  const c: CollateConfig = { ...COLLATE_DEFAULTS, ...cfg, sigmas: [...(cfg.sigmas ?? COLLATE_DEFAULTS.sigmas)] as [number, number] };
  const bad = (msg: string): never => {
    throw new Error(`collate config: ${msg}`);
  };
  if (!Number.isInteger(c.input_size) || c.input_size < 1) bad(`input_size must be a positive integer, got ${c.input_size}`);
  for (const k of ["cj_prob", "random_gray_scale", "gaussian_blur", "vf_prob", "hf_prob", "rr_prob"] as const) {
    if (!(c[k] >= 0 && c[k] <= 1)) bad(`${k} must be a probability in [0, 1], got ${c[k]}`);
  }
  for (const k of ["cj_bright", "cj_contrast", "cj_sat"] as const) {
    if (!(c[k] >= 0)) bad(`${k} must be >= 0, got ${c[k]}`);
  }
  if (!(c.cj_hue >= 0 && c.cj_hue <= 0.5)) bad(`cj_hue must be in [0, 0.5], got ${c.cj_hue}`);
  if (!(c.min_scale > 0 && c.min_scale <= 1)) bad(`min_scale must be in (0, 1], got ${c.min_scale}`);
  if (c.sigmas.length !== 2 || !(c.sigmas[0] > 0 && c.sigmas[0] <= c.sigmas[1])) {
    bad(`sigmas must be [min, max] with 0 < min <= max, got [${c.sigmas}]`);
  }
  const d = c.rr_degrees;
  if (d !== null) {
    if (typeof d === "number") {
      if (!(d >= 0)) bad(`rr_degrees as a single number must be >= 0, got ${d}`);
    } else if (!(Array.isArray(d) && d.length === 2 && d[0] <= d[1])) {
      bad(`rr_degrees must be null, a number or [min, max], got ${JSON.stringify(d)}`);
    }
  }
  return c;
}
