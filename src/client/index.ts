// The service client: ApiWorkflowClient (Lightly's method names in camelCase) and its typed errors.
export { ApiWorkflowClient, ComputeWorkerRunInfo, type ApiWorkflowClientOptions, type ComputeWorkerConfigs, type ScheduleOptions } from "./api-workflow-client.js";
export { ApiError, ApiValidationError, ApiUnauthorizedError, ApiForbiddenError, ApiNotFoundError, ApiConflictError } from "./errors.js";
export type { TagData } from "../db/tags.js";
export type { ArtifactData, DatasetData, Priority, RunData, RunState, ScheduledRunData, ScheduledState, WorkerData } from "../db/records.js";
