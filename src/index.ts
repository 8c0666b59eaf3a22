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
// `winnow run` as a function: run({ input, config | configFile, overrides, output }) → { record, paths, report }.
export {
  run, RunError, runPaths, listRunRecords, readRunRecord, winnowHome, inspectCheckpoint, RUN_STATES,
  type RunOptions, type RunResult, type RunPaths, type RunRecord, type RunState, type RunReport,
} from "./run/index.js";
// Configs with Lightly's keys and defaults (strict, with "did you mean" errors).
export { parseLightlyConfig, LightlyConfigError, type LightlyConfig } from "./config/lightly-config.js";
export { parseWorkerConfig, WorkerConfigError, type WorkerConfig } from "./config/worker-config.js";
export { parseSelectionConfig, type SelectionConfig } from "./config/selection-config.js";
export { resolveRunConfig, loadRunConfig, readRunConfigFile, RunConfigError, type RunConfig, type RunOverrides } from "./config/run-config.js";
// Pipeline steps and selection, for custom flows.
export { prepareImages, embedImages, readEmbeddings } from "./pipeline/index.js";
export { runSelection, type SelectionItems, type SelectionOptions, type SelectionResult } from "./select/index.js";
// The service client (Lightly's ApiWorkflowClient methods in camelCase) and its typed errors.
export {
  ApiWorkflowClient, ComputeWorkerRunInfo, ApiError, ApiValidationError, ApiUnauthorizedError, ApiForbiddenError,
  ApiNotFoundError, ApiConflictError, type ApiWorkflowClientOptions, type ScheduleOptions, type RunData, type ScheduledRunData,
} from "./client/index.js";
