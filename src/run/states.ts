// Run states as the Lightly worker reports them, in the order a run passes through them.
export const RUN_STATES = [
  "INITIALIZING", "LOADING_DATASET", "CHECKING_CORRUPTNESS", "TRAINING", "EMBEDDING", "SAMPLING",
  "SAVING_RESULTS", "GENERATING_REPORT", "COMPLETED", "FAILED", "ABORTED",
] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States a run ends in. */
export const END_STATES: ReadonlySet<RunState> = new Set(["COMPLETED", "FAILED", "ABORTED"]);

export const isEndState = (s: RunState): boolean => END_STATES.has(s);
