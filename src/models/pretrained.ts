// Pretrained backbones users already have: torchvision's ImageNet ResNets and DINOv2's ViTs, by
// their `model.name` (LightlyTrain's spelling: "torchvision/resnet50", "dinov2/vits14"). Each is
// built with the publisher's module names, so the published file loads strictly; the published
// file names, URLs and (torchvision) sha256 prefixes are the publishers' own, so a file torch.hub
// already downloaded is found where it is (./weights/resolve.ts).
import type { Module } from "../nn/index.js";
import type { RawTensor } from "../checkpoint/index.js";
import { TorchvisionResNet, TORCHVISION_RESNET_LAYOUTS } from "./torchvision-resnet.js";
import { DinoVisionTransformer, DINOV2_CONFIGS } from "./vit.js";
import type { ShapeMap } from "./registry.js";
import type { WeightsFile } from "./weights/resolve.js";

export interface PretrainedBackbone {
  name: string;
  family: "torchvision" | "dinov2";
  arch: string;
  /** Embedding width: pooled features (ResNet) or the CLS token (ViT). */
  numFeatures: number;
  weights: WeightsFile;
}

const MB = 1024 * 1024;
// torchvision's IMAGENET1K_V1 weights (torchvision.models.ResNet*_Weights.IMAGENET1K_V1; the
// `pretrained=True` files): the hex suffix is the file's sha256 prefix, checked as torch.hub does.
const tv = (arch: string, hash: string, maxMb: number, numFeatures: number): PretrainedBackbone => ({
  name: `torchvision/${arch}`, family: "torchvision", arch, numFeatures,
  weights: { fileName: `${arch}-${hash}.pth`, url: `https://download.pytorch.org/models/${arch}-${hash}.pth`, sha256Prefix: hash, maxBytes: maxMb * MB },
});
// DINOv2's hub backbones (facebookresearch/dinov2 hubconf): no hash in the name (torch.hub loads them with check_hash=False).
const dino = (arch: string, maxMb: number, numFeatures: number): PretrainedBackbone => ({
  name: `dinov2/${arch}`, family: "dinov2", arch, numFeatures,
  weights: { fileName: `dinov2_${arch}_pretrain.pth`, url: `https://dl.fbaipublicfiles.com/dinov2/dinov2_${arch}/dinov2_${arch}_pretrain.pth`, maxBytes: maxMb * MB },
});

export const PRETRAINED_BACKBONES: Readonly<Record<string, PretrainedBackbone>> = Object.freeze({
  "torchvision/resnet18": tv("resnet18", "f37072fd", 80, 512),
  "torchvision/resnet34": tv("resnet34", "b627a593", 140, 512),
  "torchvision/resnet50": tv("resnet50", "0676ba61", 160, 2048),
  "torchvision/resnet101": tv("resnet101", "63fe2227", 260, 2048),
  "dinov2/vits14": dino("vits14", 140, 384),
  "dinov2/vitb14": dino("vitb14", 500, 768),
});

export function isPretrainedBackbone(name: string): boolean {
  return Object.hasOwn(PRETRAINED_BACKBONES, name);
}

export function pretrainedBackbone(name: string): PretrainedBackbone {
  const b = PRETRAINED_BACKBONES[name];
  if (!b) throw new Error(`unknown pretrained backbone '${name}'; known: ${Object.keys(PRETRAINED_BACKBONES).join(", ")}`);
  return b;
}

/** The backbone module (random weights; forward → [N, numFeatures]). */
export function buildPretrainedBackbone(name: string): TorchvisionResNet | DinoVisionTransformer {
  const b = pretrainedBackbone(name);
  return b.family === "torchvision" ? new TorchvisionResNet(b.arch) : new DinoVisionTransformer(b.arch);
}

/**
 * Recognizes a backbone by its state-dict shapes (keys relative to the backbone, as the publisher
 * writes them): true when `shapes` are exactly this architecture's.
 */
export function matchesPretrained(name: string, shapes: ShapeMap): boolean {
  const b = pretrainedBackbone(name);
  if (b.family === "torchvision") {
    const stem = shapes.get("conv1.weight");
    if (!stem || stem.join(",") !== "64,3,7,7") return false;
    const layout = TORCHVISION_RESNET_LAYOUTS[b.arch]!;
    if (shapes.has("layer1.0.conv3.weight") !== (layout.block === "bottleneck")) return false;
    for (let s = 0; s < 4; s++) {
      let n = 0;
      while (shapes.has(`layer${s + 1}.${n}.conv1.weight`)) n++;
      if (n !== layout.layers[s]) return false;
    }
    return true;
  }
  const cfg = DINOV2_CONFIGS[b.arch]!;
  const cls = shapes.get("cls_token");
  const patch = shapes.get("patch_embed.proj.weight");
  if (!cls || cls[2] !== cfg.embedDim || !patch || patch[2] !== cfg.patchSize) return false;
  let depth = 0;
  while (shapes.has(`blocks.${depth}.attn.qkv.weight`)) depth++;
  return depth === cfg.depth;
}

/** The published state dict's own keys (no prefix), for loading into `buildPretrainedBackbone(name)`. */
export function publisherStateDict(dict: Map<string, RawTensor>): Map<string, RawTensor> {
  // A file saved from a wrapper (model.backbone.… / backbone.…) is accepted too.
  const keys = [...dict.keys()];
  for (const prefix of ["model.backbone.", "backbone."]) {
    if (keys.length && keys.every((k) => k.startsWith(prefix) || k.startsWith(prefix.replace("backbone.", "projection_head.")))) {
      const out = new Map<string, RawTensor>();
      for (const [k, v] of dict) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
      return out;
    }
  }
  return dict;
}

export type { Module };
