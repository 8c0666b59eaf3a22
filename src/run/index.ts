// `winnow run`: the whole job on one machine (states, run folder, runs index, checkpoint reuse, report).
export { run, runPaths, RunError, type RunOptions, type RunResult, type RunPaths } from "./run.js";
export { RUN_STATES, END_STATES, isEndState, type RunState } from "./states.js";
export {
  winnowHome, runsIndexDir, listRunRecords, readRunRecord, saveRunRecord, newRunId, RunNotFoundError, RUN_RECORD_FORMAT,
  type RunRecord, type StageTiming,
} from "./store.js";
export { resolveCheckpoint, downloadCheckpoint, checkpointOfRun, datapoolRuns, CheckpointSourceError, redactUrl, type ResolvedCheckpoint } from "./checkpoint-source.js";
export { readEmbeddingsCsv, type EmbeddingsCsv } from "./embeddings-csv.js";
export { writeReport, readReport, REPORT_FORMAT, type RunReport } from "./report.js";
export { inspectCheckpoint, formatInspection, type CheckpointInspection } from "./inspect.js";
