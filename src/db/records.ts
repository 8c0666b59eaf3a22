// The records the API returns, named as Lightly's API names them (DockerRunData, DockerRunScheduledData,
// DockerWorkerRegistryEntryData…: snake_case fields, millisecond timestamps), plus the enums.

/** Lightly's DockerRunState values, in pipeline order, then the end states. */
export const RUN_STATES = [
  "INITIALIZING", "LOADING_DATASET", "LOADING_METADATA", "CHECKING_CORRUPTNESS", "INITIALIZING_OBJECT_CROPS",
  "COMPUTING_METADATA", "TRAINING", "EMBEDDING", "EMBEDDING_OBJECT_CROPS", "PRETAGGING",
  "COMPUTING_ACTIVE_LEARNING_SCORES", "SAMPLING", "GENERATING_REPORT", "UPLOADING_DATASET", "UPLOADING_ARTIFACTS",
  "COMPLETED", "ABORTED", "FAILED", "CRASHED",
] as const;
export type RunState = (typeof RUN_STATES)[number];
export const RUN_END_STATES: ReadonlySet<RunState> = new Set(["COMPLETED", "ABORTED", "FAILED", "CRASHED"]);

export const SCHEDULED_STATES = ["OPEN", "LOCKED", "DONE", "CANCELED"] as const;
export type ScheduledState = (typeof SCHEDULED_STATES)[number];

/** Lightly's DockerRunScheduledPriority; the rank orders the queue. */
export const PRIORITIES = ["LOW", "MID", "HIGH", "CRITICAL"] as const;
export type Priority = (typeof PRIORITIES)[number];
export const priorityRank = (p: Priority): number => PRIORITIES.indexOf(p);

/** Lightly's DockerRunArtifactType values Winnow writes, plus its own outputs. */
export const ARTIFACT_TYPES = [
  "CHECKPOINT", "LOG", "REPORT_JSON", "REPORT_PDF", "REPORT_HTML", "EMBEDDINGS", "SELECTED_FILENAMES",
  /** The dataset's datapool after a use_datapool run: earlier selections plus this run's. */
  "DATAPOOL_FILENAMES",
  "CORRUPTNESS_CHECK_INFORMATION", "CONFIG",
  /** Per-image metadata columns the UI's embedding map colours by (src/run/map-metadata.ts). */
  "MAP_METADATA",
  "OTHER",
] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

export interface DatasetData {
  id: string;
  name: string;
  datasource: string;
  created_at: number;
}

export interface WorkerData {
  id: string;
  name: string;
  labels: string[];
  created_at: number;
  last_heartbeat: number;
}

export interface ConfigData {
  id: string;
  worker_config: Record<string, unknown>;
  selection_config: Record<string, unknown> | null;
  lightly_config: Record<string, unknown>;
  created_at: number;
}

export interface ScheduledRunData {
  id: string;
  dataset_id: string;
  config_id: string;
  priority: Priority;
  runs_on: string[];
  state: ScheduledState;
  worker_id: string | null;
  run_id: string | null;
  cancel_requested: boolean;
  created_at: number;
  last_modified_at: number;
}

export interface ArtifactData {
  id: string;
  run_id: string;
  file_name: string;
  type: ArtifactType;
  size: number;
  sha256: string;
  created_at: number;
}

export interface RunProgress {
  /** 0..1 over the whole run where known. */
  fraction?: number;
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  loss?: number;
  [k: string]: unknown;
}

export interface RunData {
  id: string;
  dataset_id: string;
  scheduled_id: string;
  config_id: string;
  worker_id: string;
  state: RunState;
  message: string;
  progress: RunProgress | null;
  /** Where the run's starting checkpoint came from (`run:<id>`, a URL, `datapool:<run id>`), if any. */
  checkpoint_source: string | null;
  artifacts: ArtifactData[];
  created_at: number;
  last_modified_at: number;
  ended_at: number | null;
}

/** A tag: a name for a COMPLETED run's selection, unique in its dataset (src/db/tags.ts). */
export interface TagData {
  name: string;
  run_id: string;
  dataset_id: string;
  /** false for the tag named after the run itself (no row). */
  user_given: boolean;
  created_at: number;
}

// ---- views of the web UI (ui-api.ts) --------------------------------------------------------------

/** A run as the runs overview lists it. */
export interface RunSummary {
  id: string;
  dataset_id: string;
  dataset_name: string | null;
  scheduled_id: string;
  state: RunState;
  message: string;
  progress: RunData["progress"];
  created_at: number;
  ended_at: number | null;
  last_modified_at: number;
  duration_ms: number;
  training: boolean;
  checkpoint: boolean;
  worker_id: string;
  /** The worker's registered name (null once the worker is deleted). */
  worker_name: string | null;
  /** Images the run selected (lines of its SELECTED_FILENAMES; null before it has one). */
  selected_count: number | null;
  /** Where its starting checkpoint came from (`run:<id>`, a URL, …). */
  checkpoint_source: string | null;
}

/** A worker as the workers page lists it. */
export interface WorkerSummary extends WorkerData {
  /** Heartbeat within the server's dead-worker timeout. */
  live: boolean;
  /** GPUs the worker advertises (its highest gpus:N label; src/config/gpu-labels.ts). */
  gpus: number;
  current_run: { id: string; state: RunState; progress: RunProgress | null } | null;
}

/** An OPEN scheduled run as the runs overview lists it (queued, no run yet). */
export interface QueuedRunSummary extends ScheduledRunData {
  dataset_name: string | null;
  /** Live workers whose labels include every label of runs_on. */
  matching_live_workers: number;
}

export interface EmbeddingMap {
  method: "pca";
  n: number;
  d: number;
  /** Fraction of the variance each of the two axes explains (of the fitted rows). */
  explained: [number, number];
  filenames: string[];
  /** Row-major [n, 2], 4 significant digits. */
  xy: number[];
  /** Row indices of this run's selection and of earlier datapool samples. */
  selected: number[];
  datapool: number[];
}
