// Selection: Lightly's selection_config over a list of items (images, or object crops).
// THRESHOLD strategies filter first; the others are combined greedily, one pick at a time, by the
// product of their scores raised to their strengths (computed as a sum of strength·log(score)).
// Two faster loops give the same picks as the general one where they apply: farthest-point
// sampling for DIVERSITY alone, one sort for constant scores. Semantics: src/select/README.md.
import type { Tensor } from "../torch/index.js";
import type { SelectionConfig } from "../config/selection-config.js";
import { constantOrder } from "./constant-order.js";
import { diversityOnly } from "./diversity-only.js";
import { greedy } from "./greedy.js";
import { embeddingTensor, indicesOf } from "./item-rows.js";
import { prepare, type Prepared } from "./prepare.js";
import { sumReport } from "./sums.js";
import type { SelectionItems, SelectionOptions, SelectionResult, StopReason } from "./types.js";

type Picks = { selected: number[]; stoppedBy: StopReason; distances?: number[] };

function pick(prep: Prepared, items: SelectionItems, pool: number[], want: number, getX: () => Tensor): Picks {
  const n = items.filenames.length;
  if (prep.diversity.length === 1 && prep.diversity[0].strength > 0 && !prep.base && !prep.balance.length && !prep.sums.length) {
    // Only DIVERSITY (strength > 0) and thresholds: farthest-point sampling with its fast kernel.
    return diversityOnly(getX(), prep, pool, want);
  }
  if (!prep.diversity.length && !prep.balance.length) {
    // Constant scores only (WEIGHTS, SIMILARITY, TYPICALITY): the greedy order is one sort.
    return constantOrder(prep, n, want);
  }
  return greedy(prep, n, items.dim ?? 0, pool, want, prep.diversity.length ? getX() : null);
}

export function runSelection(cfg: SelectionConfig, items: SelectionItems, opts: SelectionOptions = {}): SelectionResult {
  const n = items.filenames.length;
  // n_samples -1: no count limit, only the stopping conditions (or running out of samples) end it.
  const requested = cfg.n_samples ?? Math.floor((cfg.proportion_samples ?? 0) * n);
  const want = requested === -1 ? n : requested;
  const { found: pool, missing } = indicesOf(items, opts.datapool ?? []);
  let x: Tensor | null = null;
  const getX = (): Tensor => (x ??= embeddingTensor(items, opts));
  try {
    const prep = prepare(cfg, items, opts, pool, getX);
    const candidates = prep.eligible.reduce((a, b) => a + b, 0);
    const common = { requested, candidates, datapoolFound: pool.length, datapoolMissing: missing };
    const r = pick(prep, items, pool, want, getX);
    if (r.stoppedBy === "no_candidates_left" && prep.typicalityBlocked?.some((b) => b === 1)) r.stoppedBy = "stopping_condition_minimum_typicality";
    return { ...r, ...common, ...(prep.sums.length ? { sums: sumReport(prep, r.selected) } : {}) };
  } finally {
    (x as Tensor | null)?.dispose();
  }
}
