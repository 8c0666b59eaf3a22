// Lightly-compatible models: ResNetGenerator backbones, SimCLR, registries, checkpoint bridge.
import "./builtins.js";

export { BasicBlock, Bottleneck, ResNet, resnetGenerator, RESNET_LAYOUTS, type BlockKind } from "./resnet.js";
export { ProjectionHead, SimCLRProjectionHead, type HeadBlock } from "./heads.js";
export { SimCLR, EmbeddingModel, buildSslBackbone } from "./simclr.js";
export {
  registerBackbone, getBackbone, listBackbones, registerModel, listModels, buildModel, DEFAULT_MODEL_CONFIG,
  type ModelConfig, type BackboneParts, type BackboneEntry, type ModelBuilder, type ShapeMap,
} from "./registry.js";
export {
  rawToTensor, tensorToWrite, saveCheckpoint, loadCheckpointInto, loadModelCheckpoint, readCheckpointStateDict,
  normalizeLightlyKeys, detectHeadVariant, inferModelConfig, tryInferModelConfig, CheckpointMismatchError, formatModelConfig,
  checkpointLayout, type BackboneLayout,
} from "./checkpoint.js";
export {
  PRETRAINED_BACKBONES, isPretrainedBackbone, pretrainedBackbone, buildPretrainedBackbone, type PretrainedBackbone,
} from "./pretrained.js";
export {
  readTrainingCheckpoint, writeTrainingCheckpoint, loadOptimizerMomentum, RESUME_FORMAT, RESUME_KEY, MOMENTUM_PREFIX,
  type ResumeState, type CheckpointContents,
} from "./training-checkpoint.js";
export { loadStartingWeights, isPublisherLayout } from "./pretrained-load.js";
export { TorchvisionResNet } from "./torchvision-resnet.js";
export { DinoVisionTransformer } from "./vit.js";
export { loadCheckpoint, buildEmbeddingModel, ResNetEmbedding, type LoadCheckpointOptions } from "./embedding.js";
