// Winnow's public TypeScript API (what users import; the CLI is built on the same modules).
export * as torch from "./torch/index.js";
export * as nn from "./nn/index.js";
// Models: the documentation's loadCheckpoint returns the embedding model (ResNet features, no projection conv/head).
export {
  loadCheckpoint, buildEmbeddingModel, ResNetEmbedding, type LoadCheckpointOptions,
  buildModel, loadModelCheckpoint, saveCheckpoint, SimCLR, type ModelConfig,
} from "./models/index.js";
// Export to PyTorch checkpoint / safetensors / ONNX.
export { exportModel, type ExportOptions, type ExportResult, type ExportFormat, type ExportPart } from "./export/index.js";
