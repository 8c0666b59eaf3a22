// WEIGHTS strategies with stopping_condition_max_sum or target_range: the running sums of their raw
// values over the selection, and the report of the sums reached.
import type { Prepared } from "./prepare.js";
import type { SelectionResult } from "./types.js";

/** Running sums of WEIGHTS inputs: the stop at stopping_condition_max_sum, target_range's bounds. */
export class Sums {
  readonly sum: number[];
  constructor(readonly t: Prepared["sums"]) {
    this.sum = t.map(() => 0);
  }
  /** Item j would take a sum past its max_sum. */
  exceeds(j: number): boolean {
    return this.t.some((t, k) => t.maxSum !== undefined && this.sum[k] + t.values[j] > t.maxSum);
  }
  /** Adds item j; true when a stopping_condition_max_sum is reached. */
  add(j: number): boolean {
    let stop = false;
    this.t.forEach((t, k) => {
      this.sum[k] += t.values[j];
      if (t.stopAt !== undefined && this.sum[k] >= t.stopAt) stop = true;
    });
    return stop;
  }
  /** Some target_range min_sum is not reached yet (selection goes on past n_samples). */
  belowMin(): boolean {
    return this.t.some((t, k) => t.minSum !== undefined && this.sum[k] < t.minSum);
  }
  get hasMax(): boolean {
    return this.t.some((t) => t.maxSum !== undefined);
  }
}

/** Per summed WEIGHTS strategy: the sum the selection reached and whether its target_range is met. */
export function sumReport(prep: Prepared, selected: number[]): NonNullable<SelectionResult["sums"]> {
  return prep.sums.map((t) => {
    const sum = selected.reduce((a, j) => a + t.values[j], 0);
    return { strategy: t.strategy, sum, minSum: t.minSum, maxSum: t.maxSum, met: (t.minSum === undefined || sum >= t.minSum) && (t.maxSum === undefined || sum <= t.maxSum) };
  });
}
