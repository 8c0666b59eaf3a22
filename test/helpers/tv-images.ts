// Test images for the transforms tests (deterministic under torch.manualSeed).
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";

/** uint8 [n, 3, size, size] of uniform noise (the worst case for resampling differences). */
export function noiseImages(n: number, size: number): Tensor {
  return torch.randint(0, 256, [n, 3, size, size], { dtype: "uint8" });
}

/**
 * uint8 [n, 3, size, size] "photo-like" images: smooth colour fields (bicubic upsampling of a
 * coarse random grid) plus mild noise, so resampling differences are of natural-image size.
 */
export function smoothImages(n: number, size: number, coarse = 6, noise = 8): Tensor {
  return torch.scope(() => {
    const base = torch.rand([n, 3, coarse, coarse]).mul(255);
    const up = torch.F.interpolate(base, [size, size], { mode: "bicubic", alignCorners: false });
    return up.add(torch.randn([n, 3, size, size]).mul(noise)).clamp(0, 255).round().to("uint8");
  });
}

/**
 * uint8 images with many exact ties between channels (values on a coarse grid, some gray pixels):
 * exercises every branch of the HSV conversion.
 */
export function tiedImages(n: number, size: number): Tensor {
  return torch.scope(() => {
    const q = torch.randint(0, 5, [n, 3, size, size]).mul(63); // 0, 63, 126, 189, 252
    const gray = torch.randint(0, 256, [n, 1, size, size]).expand([n, 3, size, size]);
    const mask = torch.rand([n, 1, size, size]).lt(0.2).expand([n, 3, size, size]);
    return torch.where(mask, gray, q).to("uint8");
  });
}

/** float images in [0, 1] from uint8 ones. */
export const unit = (u8: Tensor): Tensor => torch.scope(() => u8.to("float32").div(255));
