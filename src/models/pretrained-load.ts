// Starting weights for a SimCLR model: a whole checkpoint (backbone.* and projection_head.*), or a
// publisher's backbone file (torchvision's resnet50-….pth, DINOv2's dinov2_vits14_pretrain.pth: the
// backbone's own keys, no prefix), which loads strictly into the backbone and leaves the freshly
// initialised projection head as it is (fine-tuning from a pretrained backbone).
import type { RawTensor } from "../checkpoint/index.js";
import type { Module } from "../nn/index.js";
import { loadCheckpointInto, normalizeLightlyKeys, type LoadCheckpointResult } from "./checkpoint.js";

/** True for a backbone-only file in a publisher's layout (torchvision ResNet or DINOv2 keys at the top). */
export function isPublisherLayout(dict: Map<string, unknown>): boolean {
  for (const k of dict.keys()) if (k.startsWith("backbone.") || k.startsWith("projection_head.")) return false;
  return dict.has("conv1.weight") || dict.has("cls_token");
}

/** Loads `dict` into `model` (a SimCLR model) strictly: into its backbone when it is a publisher's backbone file. */
export function loadStartingWeights(model: Module & { backbone: Module }, dict: Map<string, RawTensor>): LoadCheckpointResult {
  const d = normalizeLightlyKeys(dict);
  return isPublisherLayout(d) ? loadCheckpointInto(model.backbone, d) : loadCheckpointInto(model, d);
}
