// Run states: the one source of both lists. Lightly's DockerRunState values are what the service's API
// reports (src/db/records.ts re-exports them); a local run passes through a subset of them plus
// SAVING_RESULTS, Winnow's own (the worker reports it to the service as SAMPLING).

/** Lightly's DockerRunState values, in pipeline order, then the end states. */
export const LIGHTLY_RUN_STATES = [
  "INITIALIZING", "LOADING_DATASET", "LOADING_METADATA", "CHECKING_CORRUPTNESS", "INITIALIZING_OBJECT_CROPS",
  "COMPUTING_METADATA", "TRAINING", "EMBEDDING", "EMBEDDING_OBJECT_CROPS", "PRETAGGING",
  "COMPUTING_ACTIVE_LEARNING_SCORES", "SAMPLING", "GENERATING_REPORT", "UPLOADING_DATASET", "UPLOADING_ARTIFACTS",
  "COMPLETED", "ABORTED", "FAILED", "CRASHED",
] as const;
export type LightlyRunState = (typeof LIGHTLY_RUN_STATES)[number];

/** The states of a Winnow run (`winnow run`, a worker's job), in the order a run passes through them. */
export const RUN_STATES = [
  "INITIALIZING", "LOADING_DATASET", "CHECKING_CORRUPTNESS", "TRAINING", "EMBEDDING", "SAMPLING",
  "SAVING_RESULTS", "GENERATING_REPORT", "COMPLETED", "FAILED", "ABORTED",
] as const satisfies readonly (LightlyRunState | "SAVING_RESULTS")[];
export type RunState = (typeof RUN_STATES)[number];

/** States a run ends in. */
export const END_STATES: ReadonlySet<RunState> = new Set(["COMPLETED", "FAILED", "ABORTED"]);

export const isEndState = (s: RunState): boolean => END_STATES.has(s);
