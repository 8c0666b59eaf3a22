// Turns each strategy's input (scores, metadata, predictions, random) into one value per item, with
// errors that name the strategy (selection_config.strategies[i].input...) and the offending item.
import type { SelectionInput } from "../config/selection-config.js";
import type { SelectionItems } from "./types.js";
import { WinnowError } from "../util/errors.js";

/** An input that does not fit its strategy; `path` (= `where`) is the config field, e.g. selection_config.strategies[0].input. */
export class SelectionInputError extends WinnowError {
  constructor(readonly path: string, message: string) {
    super("invalid_input", `${path}: ${message}`, { where: path });
  }
}

const at = (i: number): string => `selection_config.strategies[${i}].input`;
const list = (o: object | undefined): string => (o && Object.keys(o).length ? Object.keys(o).join(", ") : "none");

/** Uniform values in [0, 1) from (seed, index): the same item gets the same value in every run. */
export function randomValues(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // splitmix32-style mixing of seed and index; counter-based, so no state to carry.
    let h = (Math.imul(j, 0x9e3779b9) ^ Math.imul(seed >>> 0, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
    h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
    h = (h ^ (h >>> 15)) >>> 0;
    out[j] = h / 2 ** 32;
  }
  return out;
}

function checkLength(values: ArrayLike<unknown>, n: number, path: string): void {
  if (values.length !== n) throw new SelectionInputError(path, `has ${values.length} values for ${n} items`);
}

/** A number per item (NaN where the item has none) for WEIGHTS and THRESHOLD. */
export function numericValues(input: SelectionInput, items: SelectionItems, i: number): Float64Array {
  const n = items.filenames.length;
  switch (input.type) {
    case "RANDOM":
      return randomValues(input.random_seed, n);
    case "SCORES": {
      const task = items.scores?.[input.task];
      if (!task) throw new SelectionInputError(`${at(i)}.task`, `no scores for task "${input.task}" (tasks with scores: ${list(items.scores)})`);
      const v = task[input.score];
      if (!v) throw new SelectionInputError(`${at(i)}.score`, `task "${input.task}" has no score "${input.score}" (its scores: ${list(task)})`);
      checkLength(v, n, `${at(i)}.score`);
      return Float64Array.from(v, (x) => (x === null || x === undefined ? NaN : Number(x)));
    }
    case "METADATA": {
      const v = items.metadata?.[input.key];
      if (!v) throw new SelectionInputError(`${at(i)}.key`, `no metadata "${input.key}" (keys: ${list(items.metadata)})`);
      checkLength(v, n, `${at(i)}.key`);
      const out = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const x = v[j];
        if (x === null || x === undefined) out[j] = NaN;
        else if (typeof x === "number") out[j] = x;
        else throw new SelectionInputError(`${at(i)}.key`, `metadata "${input.key}" of ${items.filenames[j]} is ${JSON.stringify(x)}, not a number (WEIGHTS and THRESHOLD need numeric metadata; BALANCE takes categorical)`);
      }
      return out;
    }
    case "PREDICTIONS": {
      const pred = items.predictions?.[input.task];
      if (!pred) throw new SelectionInputError(`${at(i)}.task`, `no predictions for task "${input.task}" (tasks with predictions: ${list(items.predictions)})`);
      checkLength(pred.items, n, `${at(i)}.task`);
      const keep = categoryFilter(input, pred.categories, i);
      return Float64Array.from(pred.items, (it) => (keep ? it.categoryIds.filter((c) => keep.has(c)).length : it.categoryIds.length));
    }
    default:
      throw new SelectionInputError(`${at(i)}.type`, `${input.type} gives no number per item`);
  }
}

/** The category ids `input.category` / `input.categories` keep (null: all); unknown names are errors. */
function categoryFilter(input: SelectionInput, categories: string[], i: number): Set<number> | null {
  if (input.type !== "PREDICTIONS") return null;
  const names = input.categories ?? (input.category !== undefined ? [input.category] : null);
  if (!names) return null;
  const field = input.categories ? "categories" : "category";
  return new Set(names.map((nm) => {
    const c = categories.indexOf(nm);
    if (c < 0) throw new SelectionInputError(`${at(i)}.${field}`, `task "${input.task}" has no category "${nm}" (its categories: ${categories.join(", ")})`);
    return c;
  }));
}

/**
 * The classes BALANCE spreads over when the config gives no target (UNIFORM, INPUT): the
 * input.categories when given, else every class that occurs among the items (sorted).
 */
export function classesOf(input: SelectionInput, items: SelectionItems, i: number): string[] {
  if (input.type === "METADATA") {
    const v = items.metadata?.[input.key];
    if (!v) throw new SelectionInputError(`${at(i)}.key`, `no metadata "${input.key}" (keys: ${list(items.metadata)})`);
    const seen = new Set<string>();
    for (let j = 0; j < v.length; j++) if (v[j] !== null && v[j] !== undefined) seen.add(String(v[j]));
    return [...seen].sort();
  }
  if (input.type === "PREDICTIONS") {
    const pred = items.predictions?.[input.task];
    if (!pred) throw new SelectionInputError(`${at(i)}.task`, `no predictions for task "${input.task}" (tasks with predictions: ${list(items.predictions)})`);
    const keep = categoryFilter(input, pred.categories, i);
    if (input.categories) return [...input.categories];
    const seen = new Set<number>();
    for (const it of pred.items) for (const c of it.categoryIds) if (!keep || keep.has(c)) seen.add(c);
    return pred.categories.filter((_, c) => seen.has(c));
  }
  throw new SelectionInputError(`${at(i)}.type`, `${input.type} gives no classes per item`);
}

/**
 * BALANCE: per item, its share of each target class plus a last column "every other class"
 * (row-major N×(C+1)). A classification item is one class (a one-hot row); a detection item's row is
 * the fraction of its objects per class; an item with no objects or no value has an all-zero row and
 * does not count toward the distribution.
 */
export function classRows(input: SelectionInput, items: SelectionItems, classes: string[], i: number): Float64Array {
  const n = items.filenames.length;
  const C = classes.length;
  const rows = new Float64Array(n * (C + 1));
  const col = new Map(classes.map((c, k) => [c, k]));
  if (input.type === "METADATA") {
    const v = items.metadata?.[input.key];
    if (!v) throw new SelectionInputError(`${at(i)}.key`, `no metadata "${input.key}" (keys: ${list(items.metadata)})`);
    checkLength(v, n, `${at(i)}.key`);
    for (let j = 0; j < n; j++) {
      const x = v[j];
      if (x === null || x === undefined) continue;
      rows[j * (C + 1) + (col.get(String(x)) ?? C)] = 1;
    }
    return rows;
  }
  if (input.type === "PREDICTIONS") {
    const pred = items.predictions?.[input.task];
    if (!pred) throw new SelectionInputError(`${at(i)}.task`, `no predictions for task "${input.task}" (tasks with predictions: ${list(items.predictions)})`);
    checkLength(pred.items, n, `${at(i)}.task`);
    const catCol = pred.categories.map((c) => col.get(c) ?? C);
    // input.categories: objects of the other categories do not count at all.
    const keep = categoryFilter(input, pred.categories, i);
    for (let j = 0; j < n; j++) {
      const all = pred.items[j].categoryIds;
      for (const c of all) if (!(c >= 0 && c < catCol.length)) throw new SelectionInputError(`${at(i)}.task`, `prediction of ${items.filenames[j]} has category id ${c}; task "${input.task}" has ${catCol.length} categories`);
      const ids = keep ? all.filter((c) => keep.has(c)) : all;
      for (const c of ids) rows[j * (C + 1) + catCol[c]] += 1 / ids.length;
    }
    return rows;
  }
  throw new SelectionInputError(`${at(i)}.type`, `${input.type} gives no classes per item`);
}
