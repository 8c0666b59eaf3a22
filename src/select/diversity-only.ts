// Only DIVERSITY (strength > 0) and thresholds: the lazy batched farthest-point kernel (the same picks
// as the dense one), cut at the first exact duplicate of a selected sample.
import type { Tensor } from "../torch/index.js";
import { selectDiverseLazy } from "./diversity-lazy.js";
import { isExactDuplicate } from "./duplicates.js";
import { hostRows } from "./item-rows.js";
import type { Prepared } from "./prepare.js";
import type { StopReason } from "./types.js";

export function diversityOnly(x: Tensor, prep: Prepared, pool: number[], want: number): { selected: number[]; stoppedBy: StopReason; distances: number[] } {
  const r = selectDiverseLazy(x, want, { alreadySelected: pool, eligible: prep.eligible, minDistance: prep.diversity[0].minDistance });
  // Lightly never selects duplicates, so the selection ends at the first one.
  let end = r.indices.length;
  let rows: Float32Array | null = null;
  for (let k = 0; k < r.indices.length; k++) {
    rows ??= hostRows(x);
    if (isExactDuplicate(rows, x.shape[1], r.indices[k], r.distances[k], () => [...pool, ...r.indices.slice(0, k)])) {
      end = k;
      break;
    }
  }
  const stoppedBy: StopReason = end < r.indices.length ? "no_candidates_left" : (r.stopped ?? "n_samples");
  return { selected: r.indices.slice(0, end), stoppedBy, distances: r.distances.slice(0, end) };
}
