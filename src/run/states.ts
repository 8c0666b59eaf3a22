// Run states. The names are Lightly's DockerRunState values (src/db/records.ts, the service's API, holds
// that list); a Winnow run passes through a subset of them plus SAVING_RESULTS, Winnow's own (the worker
// reports it to the service as SAMPLING). The compiler checks this list against that one (type-only
// import: the client's browser bundle keeps db/records.ts alone).
import type { RunState as LightlyRunState } from "../db/records.js";

/** The states of a Winnow run (`winnow run`, a worker's job), in the order a run passes through them. */
export const RUN_STATES = [
  "INITIALIZING", "LOADING_DATASET", "CHECKING_CORRUPTNESS", "TRAINING", "EMBEDDING", "SAMPLING",
  "SAVING_RESULTS", "GENERATING_REPORT", "COMPLETED", "FAILED", "ABORTED",
] as const satisfies readonly (LightlyRunState | "SAVING_RESULTS")[];
export type RunState = (typeof RUN_STATES)[number];

/** States a run ends in. */
export const END_STATES: ReadonlySet<RunState> = new Set(["COMPLETED", "FAILED", "ABORTED"]);

export const isEndState = (s: RunState): boolean => END_STATES.has(s);
