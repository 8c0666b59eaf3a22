// Turns selection_config's strategies into what the greedy loop needs: which items may be picked
// (THRESHOLD, datapool, relevant filenames, a TYPICALITY minimum), the constant part of every item's
// score (Σ strength·log(score) of WEIGHTS, SIMILARITY, TYPICALITY), and the DIVERSITY, BALANCE and
// WEIGHTS-sum settings whose scores change with each pick.
import type { Tensor } from "../torch/index.js";
import type { SelectionConfig, SelectionInput, SelectionStrategy } from "../config/selection-config.js";
import { numericValues, classRows, classesOf, SelectionInputError } from "./inputs.js";
import { embeddingRows, indicesOf } from "./item-rows.js";
import { similarityScores } from "./similarity.js";
import { balanceTarget } from "./balance-target.js";
import { typicalityScores } from "./typicality-scores.js";
import type { SelectionItems, SelectionOptions } from "./types.js";

/** Log-scores of 0 (or 0^negative) become ∓1e30: still ordered, never NaN. */
export const CLAMP = 1e30;

export interface Prepared {
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

type Of<T extends SelectionStrategy["type"]> = Extract<SelectionStrategy, { type: T }>;

/** What the strategies are prepared against, and what they add to. */
interface Preparing {
  items: SelectionItems;
  opts: SelectionOptions;
  getX: () => Tensor;
  out: Prepared;
  /** Per TYPICALITY minimum: the items below it. */
  blocked: number[][];
}

function threshold(v: number, op: string, t: number): boolean {
  switch (op) {
    case "SMALLER": return v < t;
    case "SMALLER_EQUAL": return v <= t;
    case "BIGGER": return v > t;
    default: return v >= t; // BIGGER_EQUAL; NaN (no value) fails every comparison
  }
}

/** base += strength·log(scores), clamped per term (strategies add up in config order). */
function addLog(p: Preparing, scores: Float64Array, s: number): void {
  if (s === 0) return;
  const n = p.items.filenames.length;
  const base = (p.out.base ??= new Float64Array(n));
  for (let j = 0; j < n; j++) base[j] += Math.max(-CLAMP, Math.min(CLAMP, s * Math.log(scores[j])));
}

function addThreshold(p: Preparing, input: SelectionInput, strategy: Of<"THRESHOLD">, i: number): void {
  const v = numericValues(input, p.items, i);
  for (let j = 0; j < p.items.filenames.length; j++) if (!threshold(v[j], strategy.operation, strategy.threshold)) p.out.eligible[j] = 0;
}

function addWeights(p: Preparing, input: SelectionInput, strategy: Of<"WEIGHTS">, i: number): void {
  const v = numericValues(input, p.items, i);
  let max = 0;
  for (let j = 0; j < p.items.filenames.length; j++) {
    if (v[j] < 0 || v[j] === Infinity) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `WEIGHTS needs values ≥ 0 (finite); ${p.items.filenames[j]} has ${v[j]}`);
    if (v[j] > max) max = v[j];
  }
  // Normalised to a maximum of 1 (as Lightly documents); no value (NaN) weighs 0.
  addLog(p, Float64Array.from(v, (w) => (Number.isNaN(w) ? 0 : max > 0 ? w / max : 1)), strategy.strength);
  const range = strategy.target_range;
  if (strategy.stopping_condition_max_sum !== undefined || range?.min_sum !== undefined || range?.max_sum !== undefined) {
    p.out.sums.push({ strategy: i, values: Float64Array.from(v, (w) => (Number.isNaN(w) ? 0 : w)), stopAt: strategy.stopping_condition_max_sum, minSum: range?.min_sum, maxSum: range?.max_sum });
  }
}

function addTypicality(p: Preparing, strategy: Of<"TYPICALITY">, i: number): void {
  embeddingRows(p.items, i);
  const t = typicalityScores(p.getX(), strategy.num_nearest_neighbors, p.opts.typicalityExactMax);
  addLog(p, t, strategy.strength);
  const min = strategy.stopping_condition_minimum_typicality;
  if (min !== undefined) {
    const below: number[] = [];
    for (let j = 0; j < p.items.filenames.length; j++) if (t[j] < min) below.push(j);
    p.blocked.push(below);
  }
}

function addSimilarity(p: Preparing, input: SelectionInput, strategy: Of<"SIMILARITY">, i: number): void {
  const inp = input as Extract<SelectionInput, { type: "EMBEDDINGS" }>;
  const names = inp.filenames ?? p.opts.tags?.[inp.tag_name!];
  if (!names) throw new SelectionInputError(`selection_config.strategies[${i}].input.tag_name`, `no tag "${inp.tag_name}" (tags: ${Object.keys(p.opts.tags ?? {}).join(", ") || "none"})`);
  embeddingRows(p.items, i);
  const { found } = indicesOf(p.items, names);
  if (!found.length) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `none of the ${names.length} query filenames is among the items`);
  addLog(p, similarityScores(p.getX(), found), strategy.strength);
}

function addDiversity(p: Preparing, strategy: Of<"DIVERSITY">, i: number): void {
  embeddingRows(p.items, i);
  if (strategy.strength !== 0 || strategy.stopping_condition_minimum_distance !== undefined) {
    p.out.diversity.push({ strength: strategy.strength, minDistance: strategy.stopping_condition_minimum_distance });
  }
}

function addBalance(p: Preparing, input: SelectionInput, strategy: Of<"BALANCE">, i: number): void {
  if (strategy.strength === 0) return;
  const given = strategy.distribution === "TARGET" ? strategy.target! : null;
  const classes = given ? Object.keys(given) : classesOf(input, p.items, i);
  const rows = classRows(input, p.items, classes, i);
  p.out.balance.push({ strength: strategy.strength, rows, target: balanceTarget(strategy.distribution, classes, rows, p.items.filenames.length, given) });
}

/** Below a TYPICALITY minimum: never selected (as the minimum distance does for DIVERSITY). */
function blockAtypical(out: Prepared, blocked: number[][], n: number): void {
  if (!blocked.length) return;
  out.typicalityBlocked = new Uint8Array(n);
  for (const b of blocked) for (const j of b) if (out.eligible[j]) {
    out.eligible[j] = 0;
    out.typicalityBlocked[j] = 1;
  }
}

export function prepare(cfg: SelectionConfig, items: SelectionItems, opts: SelectionOptions, pool: number[], getX: () => Tensor): Prepared {
  const n = items.filenames.length;
  const eligible = new Uint8Array(n).fill(1);
  for (const j of pool) eligible[j] = 0;
  if (opts.only) items.filenames.forEach((f, j) => { if (!opts.only!.has(f)) eligible[j] = 0; });
  const out: Prepared = { eligible, base: null, diversity: [], balance: [], sums: [], typicalityBlocked: null };
  const p: Preparing = { items, opts, getX, out, blocked: [] };
  cfg.strategies.forEach(({ input, strategy }, i) => {
    switch (strategy.type) {
      case "THRESHOLD": return addThreshold(p, input, strategy, i);
      case "WEIGHTS": return addWeights(p, input, strategy, i);
      case "TYPICALITY": return addTypicality(p, strategy, i);
      case "SIMILARITY": return addSimilarity(p, input, strategy, i);
      case "DIVERSITY": return addDiversity(p, strategy, i);
      case "BALANCE": return addBalance(p, input, strategy, i);
    }
  });
  blockAtypical(out, p.blocked, n);
  return out;
}
