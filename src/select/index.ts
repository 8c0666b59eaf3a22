// Selection: Lightly's selection_config over a list of items (images, or object crops later).
// THRESHOLD strategies filter first; the others are combined greedily, one pick at a time, by the
// product of their scores raised to their strengths (computed as a sum of strength·log(score)).
// Semantics and the choices Lightly's docs leave open: src/select/README.md.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import type { SelectionConfig, SelectionInput } from "../config/selection-config.js";
import { numericValues, classRows, classesOf, SelectionInputError } from "./inputs.js";
import { selectDiverseLazy } from "./diversity-lazy.js";
import { typicalityScores } from "./typicality-scores.js";

export { SelectionInputError } from "./inputs.js";

export interface SelectionItems {
  /** N items: images (or object crops later). */
  filenames: string[];
  /** Row-major N×dim, as embedded (not normalised). */
  embeddings?: Float32Array;
  dim?: number;
  /** task → score name → N values. */
  scores?: Record<string, Record<string, ArrayLike<number>>>;
  /** key → N values. */
  metadata?: Record<string, ArrayLike<number | string | null>>;
  /** task → categories and, per item, the category ids of its objects (one for classification). */
  predictions?: Record<string, { categories: string[]; items: { categoryIds: number[]; probabilities?: number[][] }[] }>;
}

export interface SelectionOptions {
  /** L2-normalise embeddings before DIVERSITY / SIMILARITY (worker_config.normalize_embeddings). */
  normalizeEmbeddings?: boolean;
  /** Filenames selected by earlier runs: centres for DIVERSITY and counts for BALANCE; never reselected. */
  datapool?: string[];
  device?: "cpu" | "cuda";
  /** Tags by name (filenames), for SIMILARITY's input.tag_name. */
  tags?: Record<string, string[]>;
  /** worker_config.relevant_filenames_file: only these filenames may be selected (the others still count as data: neighbours, INPUT shares). */
  only?: ReadonlySet<string>;
  /** TYPICALITY above this many items uses the approximate neighbour search (typicality-ivf.ts). */
  typicalityExactMax?: number;
}

export type StopReason =
  | "n_samples" | "stopping_condition_minimum_distance" | "no_candidates_left" | "stopping_condition_max_sum"
  | "stopping_condition_minimum_typicality" | "target_range";

export interface SelectionResult {
  /** Indices into items, in pick order. */
  selected: number[];
  stoppedBy: StopReason;
  /** How many were asked for (n_samples, or floor(proportion_samples × N)). */
  requested: number;
  /** Items that passed every THRESHOLD and are not in the datapool. */
  candidates: number;
  /** Per pick: Euclidean distance to the nearest earlier selection (first DIVERSITY strategy; Infinity with none yet). */
  distances?: number[];
  /** Datapool filenames found among the items (centres), and those that were not. */
  datapoolFound: number;
  datapoolMissing: string[];
  /** Per WEIGHTS strategy with a stopping_condition_max_sum or target_range: the sum reached (index = strategy). */
  sums?: { strategy: number; sum: number; minSum?: number; maxSum?: number; met: boolean }[];
}

// ---- preparing the strategies -------------------------------------------------------------------------

const BALANCE_FLOOR = 1e-6; // keeps an over-represented class selectable when nothing else is left
const CLAMP = 1e30; // log-scores of 0 (or 0^negative) become ∓1e30: still ordered, never NaN

interface Prepared {
  /** 1 = may be picked (passed thresholds, not in the datapool). */
  eligible: Uint8Array;
  /** Σ strength·log(score) of the constant strategies (WEIGHTS, SIMILARITY); null when none. */
  base: Float64Array | null;
  diversity: { strength: number; minDistance?: number }[];
  balance: { strength: number; rows: Float64Array; target: Float64Array }[];
  /** WEIGHTS with stopping_condition_max_sum / target_range: the raw values (NaN → 0) and the limits. */
  sums: { strategy: number; values: Float64Array; stopAt?: number; minSum?: number; maxSum?: number }[];
  /** Items only a TYPICALITY minimum keeps out (for the stop reason). */
  typicalityBlocked: Uint8Array | null;
}

function threshold(v: number, op: string, t: number): boolean {
  switch (op) {
    case "SMALLER": return v < t;
    case "SMALLER_EQUAL": return v <= t;
    case "BIGGER": return v > t;
    default: return v >= t; // BIGGER_EQUAL; NaN (no value) fails every comparison
  }
}

function embeddingRows(items: SelectionItems, i: number): { x: Float32Array; dim: number } {
  const n = items.filenames.length;
  if (!items.embeddings || !items.dim) throw new SelectionInputError(`selection_config.strategies[${i}].input`, "EMBEDDINGS: the items have no embeddings");
  if (items.embeddings.length !== n * items.dim) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `embeddings hold ${items.embeddings.length} values, expected ${n} items × ${items.dim}`);
  return { x: items.embeddings, dim: items.dim };
}

/** Row indices of `names` among the items (unknown names returned separately). */
function indicesOf(items: SelectionItems, names: readonly string[]): { found: number[]; missing: string[] } {
  const pos = new Map<string, number>();
  items.filenames.forEach((f, j) => { if (!pos.has(f)) pos.set(f, j); });
  const found: number[] = [];
  const missing: string[] = [];
  const seen = new Set<number>();
  for (const nm of names) {
    const j = pos.get(nm);
    if (j === undefined) missing.push(nm);
    else if (!seen.has(j)) {
      seen.add(j);
      found.push(j);
    }
  }
  return { found, missing };
}

/** Embeddings as a float32 tensor on the device, L2-normalised when asked. */
function embeddingTensor(items: SelectionItems, opts: SelectionOptions): Tensor {
  const { x, dim } = embeddingRows(items, 0);
  return torch.scope(() => {
    let t = torch.tensor(x, { shape: [items.filenames.length, dim] });
    if (opts.device === "cuda") t = t.to("cuda");
    return opts.normalizeEmbeddings ? torch.F.normalize(t, 2, 1) : t;
  });
}

/** SIMILARITY: 1 / (1 + distance to the nearest query item). */
function similarityScores(x: Tensor, query: number[]): Float64Array {
  return torch.noGrad(() =>
    torch.scope(() => {
      const q = x.indexSelect(0, torch.tensor(query, { dtype: "int64", device: x.device }));
      const sq = x.square().sum(1);
      const d2 = sq.unsqueeze(1).add(q.square().sum(1).unsqueeze(0)).sub(x.mm(q.t()).mul(2)).amin(1).clampMin(0);
      return Float64Array.from(d2.sqrt().add(1).reciprocal().to("float64").cpu().toArray());
    }),
  );
}

function prepare(cfg: SelectionConfig, items: SelectionItems, opts: SelectionOptions, pool: number[], getX: () => Tensor): Prepared {
  const n = items.filenames.length;
  const eligible = new Uint8Array(n).fill(1);
  for (const p of pool) eligible[p] = 0;
  if (opts.only) items.filenames.forEach((f, j) => { if (!opts.only!.has(f)) eligible[j] = 0; });
  let base: Float64Array | null = null;
  const addLog = (scores: Float64Array, s: number): void => {
    if (s === 0) return;
    base ??= new Float64Array(n);
    for (let j = 0; j < n; j++) base[j] += Math.max(-CLAMP, Math.min(CLAMP, s * Math.log(scores[j])));
  };
  const out: Prepared = { eligible, base: null, diversity: [], balance: [], sums: [], typicalityBlocked: null };
  const blocked: number[][] = [];
  cfg.strategies.forEach(({ input, strategy }, i) => {
    switch (strategy.type) {
      case "THRESHOLD": {
        const v = numericValues(input, items, i);
        for (let j = 0; j < n; j++) if (!threshold(v[j], strategy.operation, strategy.threshold)) eligible[j] = 0;
        break;
      }
      case "WEIGHTS": {
        const v = numericValues(input, items, i);
        let max = 0;
        for (let j = 0; j < n; j++) {
          if (v[j] < 0 || v[j] === Infinity) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `WEIGHTS needs values ≥ 0 (finite); ${items.filenames[j]} has ${v[j]}`);
          if (v[j] > max) max = v[j];
        }
        // Normalised to a maximum of 1 (as Lightly documents); no value (NaN) weighs 0.
        addLog(Float64Array.from(v, (w) => (Number.isNaN(w) ? 0 : max > 0 ? w / max : 1)), strategy.strength);
        const range = strategy.target_range;
        if (strategy.stopping_condition_max_sum !== undefined || range?.min_sum !== undefined || range?.max_sum !== undefined) {
          out.sums.push({ strategy: i, values: Float64Array.from(v, (w) => (Number.isNaN(w) ? 0 : w)), stopAt: strategy.stopping_condition_max_sum, minSum: range?.min_sum, maxSum: range?.max_sum });
        }
        break;
      }
      case "TYPICALITY": {
        embeddingRows(items, i);
        const t = typicalityScores(getX(), strategy.num_nearest_neighbors, opts.typicalityExactMax);
        addLog(t, strategy.strength);
        const min = strategy.stopping_condition_minimum_typicality;
        if (min !== undefined) {
          const below: number[] = [];
          for (let j = 0; j < n; j++) if (t[j] < min) below.push(j);
          blocked.push(below);
        }
        break;
      }
      case "SIMILARITY": {
        const inp = input as Extract<SelectionInput, { type: "EMBEDDINGS" }>;
        const names = inp.filenames ?? opts.tags?.[inp.tag_name!];
        if (!names) throw new SelectionInputError(`selection_config.strategies[${i}].input.tag_name`, `no tag "${inp.tag_name}" (tags: ${Object.keys(opts.tags ?? {}).join(", ") || "none"})`);
        embeddingRows(items, i);
        const { found } = indicesOf(items, names);
        if (!found.length) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `none of the ${names.length} query filenames is among the items`);
        addLog(similarityScores(getX(), found), strategy.strength);
        break;
      }
      case "DIVERSITY":
        embeddingRows(items, i);
        if (strategy.strength !== 0 || strategy.stopping_condition_minimum_distance !== undefined) {
          out.diversity.push({ strength: strategy.strength, minDistance: strategy.stopping_condition_minimum_distance });
        }
        break;
      case "BALANCE": {
        if (strategy.strength === 0) break;
        const given = strategy.distribution === "TARGET" ? strategy.target! : null;
        const classes = given ? Object.keys(given) : classesOf(input, items, i);
        const rows = classRows(input, items, classes, i);
        const C = classes.length;
        const target = new Float64Array(C + 1);
        if (given) classes.forEach((c, k) => (target[k] = given[c]));
        else if (strategy.distribution === "UNIFORM") target.fill(C ? 1 / C : 0, 0, C);
        else {
          // INPUT: each class's share among all items (fractional for detections), the data's own distribution.
          for (let j = 0; j < n; j++) for (let k = 0; k < C; k++) target[k] += rows[j * (C + 1) + k];
          const tot = target.reduce((a, b) => a + b, 0);
          if (tot > 0) for (let k = 0; k < C; k++) target[k] /= tot;
        }
        target[C] = Math.max(0, 1 - target.subarray(0, C).reduce((a, b) => a + b, 0));
        out.balance.push({ strength: strategy.strength, rows, target });
        break;
      }
    }
  });
  out.base = base;
  if (blocked.length) {
    // Below a TYPICALITY minimum: never selected (as the minimum distance does for DIVERSITY).
    out.typicalityBlocked = new Uint8Array(n);
    for (const b of blocked) for (const j of b) if (eligible[j]) {
      eligible[j] = 0;
      out.typicalityBlocked[j] = 1;
    }
  }
  return out;
}

// ---- the greedy loop ----------------------------------------------------------------------------------

/** Exact Euclidean distance (float64) from row j to its nearest row among `centres`. */
function exactMinDistance(x: Float32Array, dim: number, j: number, centres: Iterable<number>): number {
  let best = Infinity;
  for (const c of centres) {
    let s = 0;
    for (let k = 0; k < dim; k++) {
      const d = x[j * dim + k] - x[c * dim + k];
      s += d * d;
    }
    if (s < best) best = s;
  }
  return Math.sqrt(best);
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
    let r: { selected: number[]; stoppedBy: StopReason; distances?: number[] };
    if (prep.diversity.length === 1 && prep.diversity[0].strength > 0 && !prep.base && !prep.balance.length && !prep.sums.length) {
      // Only DIVERSITY (strength > 0) and thresholds: farthest-point sampling with its fast kernel.
      r = diversityOnly(getX(), prep, pool, want);
    } else if (!prep.diversity.length && !prep.balance.length) {
      // Constant scores only (WEIGHTS, SIMILARITY, TYPICALITY): the greedy order is one sort.
      r = constantOrder(prep, n, want);
    } else {
      r = greedy(prep, items, pool, want, prep.diversity.length ? getX() : null);
    }
    if (r.stoppedBy === "no_candidates_left" && prep.typicalityBlocked?.some((b) => b === 1)) r.stoppedBy = "stopping_condition_minimum_typicality";
    return { ...r, ...common, ...(prep.sums.length ? { sums: sumReport(prep, r.selected) } : {}) };
  } finally {
    (x as Tensor | null)?.dispose();
  }
}

function sumReport(prep: Prepared, selected: number[]): NonNullable<SelectionResult["sums"]> {
  return prep.sums.map((t) => {
    const sum = selected.reduce((a, j) => a + t.values[j], 0);
    return { strategy: t.strategy, sum, minSum: t.minSum, maxSum: t.maxSum, met: (t.minSum === undefined || sum >= t.minSum) && (t.maxSum === undefined || sum <= t.maxSum) };
  });
}

/** Running sums of WEIGHTS inputs: the stop at stopping_condition_max_sum, target_range's bounds. */
class Sums {
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

/**
 * Constant scores: the greedy argmax (lowest index on ties) of a score that never changes is the
 * items sorted by score; a target_range max_sum only ever removes items (values are ≥ 0), so
 * skipping them in that order is the same as masking them pick by pick.
 */
function constantOrder(prep: Prepared, n: number, want: number): { selected: number[]; stoppedBy: StopReason } {
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

/** Only DIVERSITY (and thresholds): the lazy batched farthest-point kernel (same picks as the dense one). */
function diversityOnly(x: Tensor, prep: Prepared, pool: number[], want: number): { selected: number[]; stoppedBy: StopReason; distances: number[] } {
  const r = selectDiverseLazy(x, want, { alreadySelected: pool, eligible: prep.eligible, minDistance: prep.diversity[0].minDistance });
  // A pick at (near) zero distance may be an exact duplicate of a selected sample: Lightly never
  // selects duplicates, so the selection ends at the first one (checked exactly on the host).
  let end = r.indices.length;
  let rows: Float32Array | null = null;
  for (let k = 0; k < r.indices.length; k++) {
    rows ??= hostRows(x);
    if (r.distances[k] > 1e-3 * rms(rows, x.shape[1])) continue;
    if (exactMinDistance(rows, x.shape[1], r.indices[k], [...pool, ...r.indices.slice(0, k)]) === 0) {
      end = k;
      break;
    }
  }
  const stoppedBy: StopReason = end < r.indices.length ? "no_candidates_left" : (r.stopped ?? "n_samples");
  return { selected: r.indices.slice(0, end), stoppedBy, distances: r.distances.slice(0, end) };
}

/** The (possibly normalised) embeddings as float32 on the host. */
function hostRows(x: Tensor): Float32Array {
  return torch.scope(() => x.cpu().contiguous().data() as Float32Array);
}

const rmsCache = new WeakMap<Float32Array, number>();
function rms(x: Float32Array, dim: number): number {
  let v = rmsCache.get(x);
  if (v === undefined) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    v = Math.sqrt(s / Math.max(1, x.length / dim));
    rmsCache.set(x, v);
  }
  return v;
}

/**
 * The general loop: per pick, total = base + Σ_div s·log(d) + Σ_bal s·log(balance score), ineligible
 * items at -inf; argmax (first index on ties); one value read back per pick.
 */
function greedy(prep: Prepared, items: SelectionItems, pool: number[], want: number, x: Tensor | null) {
  const n = items.filenames.length;
  const selected: number[] = [];
  const distances: number[] = [];
  let stoppedBy: StopReason = "n_samples";
  const dim = items.dim ?? 0;
  const rows = x ? hostRows(x) : null;
  torch.noGrad(() =>
    torch.scope(() => {
      const device = x?.device ?? "cpu";
      const f64 = (a: Float64Array | Uint8Array): Tensor => torch.tensor(Float64Array.from(a), { device });
      const pen = f64(Float64Array.from(prep.eligible, (e) => (e ? 0 : -Infinity)));
      const base = prep.base ? f64(prep.base) : torch.zeros([n], { dtype: "float64", device });
      const sq = x ? x.square().sum(1) : null;
      // One running nearest-centre squared distance, shared by every DIVERSITY strategy (same embeddings).
      const minD = x ? torch.full([n], Infinity, { device }) : null;
      let centres = 0;
      const addCentre = (j: number): void => {
        if (!x || !minD || !sq) return;
        torch.scope(() => {
          const iv = torch.tensor([j], { dtype: "int64", device });
          minD.minimum_(sq.addmv(x, x.indexSelect(0, iv).view(-1), 1, -2).add_(sq.indexSelect(0, iv)).clampMin(0));
        });
        centres++;
      };
      const bal = prep.balance.map((b) => ({
        ...b,
        P: torch.tensor(b.rows, { device, shape: [n, b.target.length] }),
        t: torch.tensor(b.target, { device }),
        counts: torch.zeros([b.target.length], { dtype: "float64", device }),
        m: 0,
      }));
      const count = (j: number): void => {
        for (const b of bal) {
          const row = b.rows.subarray(j * b.target.length, (j + 1) * b.target.length);
          b.counts.add_(torch.tensor(row, { device }));
          b.m += row.reduce((a, v) => a + v, 0);
        }
      };
      for (const p of pool) {
        addCentre(p);
        count(p);
      }
      const minDist = Math.max(0, ...prep.diversity.map((d) => d.minDistance ?? 0));
      const sums = new Sums(prep.sums);
      const vals = prep.sums.map((t) => (t.maxSum !== undefined ? { t: f64(t.values), max: t.maxSum } : null));
      while (selected.length < want || sums.belowMin()) {
        const picked = torch.scope(() => {
          let total = base.clone();
          if (centres > 0 && minD) {
            const logd = minD.to("float64").clampMin(0).log().mul(0.5);
            for (const d of prep.diversity) if (d.strength !== 0) total = total.add(logd.mul(d.strength));
          }
          for (const b of bal) {
            const deficit = b.t.sub(b.counts.div(b.m + 1)).clampMin(0);
            total = total.add(b.P.matmul(deficit).add(BALANCE_FLOOR).log().mul(b.strength));
          }
          total = total.clamp(-CLAMP, CLAMP);
          total = total.maskedFill(total.isnan(), -CLAMP).add(pen);
          if (centres > 0 && minD && minDist > 0) total = total.maskedFill(minD.lt(minDist * minDist), -Infinity);
          vals.forEach((v, k) => {
            if (v) total = total.maskedFill(v.t.add(sums.sum[k]).gt(v.max), -Infinity);
          });
          const j = total.argmax(0);
          return [j.item(), total.indexSelect(0, j.view(1)).item()] as [number, number];
        });
        const [j, v] = picked;
        if (v === -Infinity) {
          // Nothing selectable: the distance stop when candidates were left but all too close.
          const left = torch.scope(() => pen.eq(0).sum().item());
          stoppedBy = left > 0 && minDist > 0 ? "stopping_condition_minimum_distance" : left > 0 && sums.hasMax ? "target_range" : "no_candidates_left";
          break;
        }
        pen.indexFill_(0, torch.tensor([j], { dtype: "int64", device }), -Infinity);
        let dist = Infinity;
        if (rows && minD) {
          dist = centres > 0 ? Math.sqrt(Math.max(0, torch.scope(() => minD.indexSelect(0, torch.tensor([j], { dtype: "int64", device })).item()))) : Infinity;
          // Exact duplicates of a selected sample are never selected (Lightly drops them).
          if (dist <= 1e-3 * rms(rows, dim) && exactMinDistance(rows, dim, j, [...pool, ...selected]) === 0) continue;
        }
        selected.push(j);
        distances.push(dist);
        addCentre(j);
        count(j);
        if (sums.add(j)) {
          stoppedBy = "stopping_condition_max_sum";
          break;
        }
      }
      return null;
    }),
  );
  return { selected, stoppedBy, ...(x ? { distances } : {}) };
}
