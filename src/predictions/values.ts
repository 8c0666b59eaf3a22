// Predictions as selection inputs (SelectionItems.scores / .predictions of src/select), per image or
// per object crop, and the crop boxes the crop cache cuts.
//
// Crop items are named `<image>#<index>`: the image's relative filename, "#", and the prediction's
// index in the image's prediction file (so a crop names its source box even when other boxes of the
// file were skipped).
//
// Scores per item (task → name → value; NaN where an item has no value):
//   score                         crops: the detection's score; images: the highest score of its objects
//   uncertainty_least_confidence  1 − max p
//   uncertainty_margin            1 − (p₁ − p₂), the two largest probabilities
//   uncertainty_entropy           −Σ p·ln p / ln C (normalised to [0, 1])
// from each object's `probabilities`; an image takes its most uncertain object. (Lightly's scorers
// are not reproduced formula for formula: these are the standard definitions, stated here.)
import type { SelectionItems } from "../select/index.js";
import type { CropBox } from "../data/index.js";
import { CROP_SEPARATOR } from "../data/index.js";
import type { Prediction, TaskPredictions } from "./read.js";

export const SCORE_NAMES = ["score", "uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"] as const;

/** The boxes to cut, per image, for the crop cache. */
export function cropBoxes(tp: TaskPredictions): Map<string, CropBox[]> {
  const out = new Map<string, CropBox[]>();
  for (const [image, preds] of tp.images) {
    const boxes = preds.filter((p) => p.bbox).map((p) => ({ index: p.index, bbox: p.bbox! }));
    if (boxes.length) out.set(image, boxes);
  }
  return out;
}

/** "<image>#<index>" → { image, index }; null for a name without a crop suffix. */
export function parseCropName(name: string): { image: string; index: number } | null {
  const at = name.lastIndexOf(CROP_SEPARATOR);
  if (at < 0 || !/^\d+$/.test(name.slice(at + 1))) return null;
  return { image: name.slice(0, at), index: Number(name.slice(at + 1)) };
}

function uncertainty(p: readonly number[]): [number, number, number] {
  const s = [...p].sort((a, b) => b - a);
  const c = p.length;
  let h = 0;
  for (const x of p) if (x > 0) h -= x * Math.log(x);
  return [1 - s[0]!, 1 - (s[0]! - (s[1] ?? 0)), c > 1 ? h / Math.log(c) : 0];
}

type Values = Pick<Required<SelectionItems>, "scores" | "predictions">;

function valuesOf(tp: TaskPredictions, groups: (Prediction[] | null)[]): Values {
  const n = groups.length;
  const cols = Object.fromEntries(SCORE_NAMES.map((k) => [k, new Float64Array(n).fill(NaN)])) as Record<(typeof SCORE_NAMES)[number], Float64Array>;
  const items = groups.map((preds, j) => {
    const ps = preds ?? [];
    const scores = ps.map((p) => p.score).filter((s): s is number => s !== null);
    if (scores.length) cols.score[j] = Math.max(...scores);
    for (const p of ps) {
      if (!p.probabilities) continue;
      const [lc, mg, en] = uncertainty(p.probabilities);
      // the most uncertain object decides (for a crop there is one)
      if (!(cols.uncertainty_least_confidence[j]! >= lc)) cols.uncertainty_least_confidence[j] = lc;
      if (!(cols.uncertainty_margin[j]! >= mg)) cols.uncertainty_margin[j] = mg;
      if (!(cols.uncertainty_entropy[j]! >= en)) cols.uncertainty_entropy[j] = en;
    }
    const probs = ps.map((p) => p.probabilities);
    return { categoryIds: ps.map((p) => p.categoryIndex), ...(probs.length && probs.every((q) => q) ? { probabilities: probs as number[][] } : {}) };
  });
  return {
    scores: { [tp.task]: cols },
    predictions: { [tp.task]: { categories: tp.schema.categories.map((c) => c.name), items } },
  };
}

/** Per image (in `filenames` order): all of its objects. Images without predictions have none. */
export function imageSelectionValues(tp: TaskPredictions, filenames: readonly string[]): Values {
  return valuesOf(tp, filenames.map((f) => tp.images.get(f) ?? null));
}

/** One crop's source: image, box, category and score (for outputs and reports). */
export interface CropInfo {
  filename: string;
  image: string;
  index: number;
  bbox: [number, number, number, number];
  category: string;
  score: number | null;
}

/** Per crop (in `cropFilenames` order, e.g. a crop cache's filenames): its own object. */
export function cropSelectionValues(tp: TaskPredictions, cropFilenames: readonly string[]): Values & { crops: CropInfo[] } {
  const crops: CropInfo[] = [];
  const groups = cropFilenames.map((name) => {
    const c = parseCropName(name);
    const p = c ? tp.images.get(c.image)?.find((q) => q.index === c.index) : undefined;
    if (!c || !p || !p.bbox) throw new Error(`${name}: not a crop of task "${tp.task}" (expected <image>#<index> of a prediction with a box)`);
    crops.push({ filename: name, image: c.image, index: c.index, bbox: p.bbox, category: tp.schema.categories[p.categoryIndex]!.name, score: p.score });
    return [p];
  });
  return { ...valuesOf(tp, groups), crops };
}
