// Image augmentations as batched tensor ops (lightly's collate recipe) and the embedding transform.
export * from "./config.js";
export * as TF from "./functional.js";
export {
  augment, augmentViews, simclrViews, embeddingTransform, sampleViewParams, applyViewParams, sampleCropBox,
  blurKernelSize, JITTER_OPS, type AugmentOptions, type ViewParams,
} from "./augment.js";
