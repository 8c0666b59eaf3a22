// Constant scores only (WEIGHTS, SIMILARITY, TYPICALITY): the greedy argmax (lowest index on ties) of a
// score that never changes is the items sorted by score; a target_range max_sum only ever removes
// items (values are ≥ 0), so skipping them in that order is the same as masking them pick by pick.
import { CLAMP, type Prepared } from "./prepare.js";
import { Sums } from "./sums.js";
import type { StopReason } from "./types.js";

export function constantOrder(prep: Prepared, n: number, want: number): { selected: number[]; stoppedBy: StopReason } {
  const total = new Float64Array(n);
  const order: number[] = [];
  for (let j = 0; j < n; j++) {
    if (!prep.eligible[j]) continue;
    const v = prep.base ? Math.max(-CLAMP, Math.min(CLAMP, prep.base[j])) : 0;
    total[j] = Number.isNaN(v) ? -CLAMP : v;
    order.push(j);
  }
  order.sort((a, b) => total[b] - total[a] || a - b);
  const sums = new Sums(prep.sums);
  const selected: number[] = [];
  let skipped = false;
  for (const j of order) {
    if (selected.length >= want && !sums.belowMin()) return { selected, stoppedBy: "n_samples" };
    if (sums.exceeds(j)) {
      skipped = true;
      continue;
    }
    selected.push(j);
    if (sums.add(j)) return { selected, stoppedBy: "stopping_condition_max_sum" };
  }
  if (selected.length >= want && !sums.belowMin()) return { selected, stoppedBy: "n_samples" };
  return { selected, stoppedBy: skipped ? "target_range" : "no_candidates_left" };
}
