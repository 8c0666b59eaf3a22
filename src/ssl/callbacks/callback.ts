// Training callbacks, in the spirit of Lightning's Callback: what is not the SimCLR step itself
// (checkpoints, progress, and later a distributed-training callback) hooks into the loop here, so the
// loop stays short and each concern is one file. Hooks run in the order the callbacks are listed.
import type { TrainLoopState } from "../loop-state.js";

/** A step just done (`step` is 0-based within `epoch`). */
export interface BatchEnd {
  epoch: number;
  step: number;
  /** Images in the batch. */
  count: number;
  loss: number;
  /** Milliseconds of the step: views, forward, backward, optimizer step. */
  ms: number;
}

export interface EpochEnd {
  epoch: number;
  /** Mean loss of the epoch's steps. */
  loss: number;
  /** True for the run's last epoch. */
  last: boolean;
}

/** Where an early stop happened: after `step` steps of `epoch`, or after the epoch's end (step null). */
export interface StopAt {
  epoch: number;
  step: number | null;
}

export interface TrainCallback {
  /** Before the first step (also when a resumed run has nothing left to do). */
  onTrainStart?(s: TrainLoopState): void;
  onEpochStart?(s: TrainLoopState): void;
  /**
   * Between backward and the optimizer step, with the gradients in place (Lightning's
   * on_before_optimizer_step): where a data-parallel callback would all-reduce them.
   */
  onBeforeOptimizerStep?(s: TrainLoopState): void;
  onBatchEnd?(s: TrainLoopState, b: BatchEnd): void;
  /** After the epoch's loss is recorded (s.epochLosses), before a stop request is acted on. */
  onEpochEnd?(s: TrainLoopState, e: EpochEnd): void;
  /** A stop request ends training early (s.aborted is set). */
  onStop?(s: TrainLoopState, at: StopAt): void;
  /** A collective failed (another rank died or hung) before `at`: training ends with that error; nothing here may use the group. */
  onPeerFailure?(s: TrainLoopState, at: StopAt & { step: number }): void;
  /** After the last epoch or an early stop; not after an error. */
  onTrainEnd?(s: TrainLoopState): void;
}

/** Calls a hook on every callback that has it, in order. */
export class CallbackList {
  constructor(readonly callbacks: readonly TrainCallback[]) {}

  /** A function for the hook, or undefined when no callback has it (the step then calls nothing). */
  beforeOptimizerStep(s: TrainLoopState): (() => void) | undefined {
    const hooks = this.callbacks.filter((c) => c.onBeforeOptimizerStep);
    return hooks.length ? () => hooks.forEach((c) => c.onBeforeOptimizerStep!(s)) : undefined;
  }

  trainStart(s: TrainLoopState): void {
    for (const c of this.callbacks) c.onTrainStart?.(s);
  }
  epochStart(s: TrainLoopState): void {
    for (const c of this.callbacks) c.onEpochStart?.(s);
  }
  batchEnd(s: TrainLoopState, b: BatchEnd): void {
    for (const c of this.callbacks) c.onBatchEnd?.(s, b);
  }
  epochEnd(s: TrainLoopState, e: EpochEnd): void {
    for (const c of this.callbacks) c.onEpochEnd?.(s, e);
  }
  stop(s: TrainLoopState, at: StopAt): void {
    for (const c of this.callbacks) c.onStop?.(s, at);
  }
  fail(s: TrainLoopState, at: StopAt & { step: number }): void {
    for (const c of this.callbacks) c.onPeerFailure?.(s, at);
  }
  trainEnd(s: TrainLoopState): void {
    for (const c of this.callbacks) c.onTrainEnd?.(s);
  }
}
