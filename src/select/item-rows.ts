// The items' rows as the strategies need them: embeddings checked against the item count, as a device
// tensor (L2-normalised when asked) or as host floats, and filenames turned into row indices.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import { SelectionInputError } from "./inputs.js";
import type { SelectionItems, SelectionOptions } from "./types.js";

/** The embeddings and their width; strategy `i` needs them (its index goes into the error). */
export function embeddingRows(items: SelectionItems, i: number): { x: Float32Array; dim: number } {
  const n = items.filenames.length;
  if (!items.embeddings || !items.dim) throw new SelectionInputError(`selection_config.strategies[${i}].input`, "EMBEDDINGS: the items have no embeddings");
  if (items.embeddings.length !== n * items.dim) throw new SelectionInputError(`selection_config.strategies[${i}].input`, `embeddings hold ${items.embeddings.length} values, expected ${n} items × ${items.dim}`);
  return { x: items.embeddings, dim: items.dim };
}

/** Row indices of `names` among the items (unknown names returned separately). */
export function indicesOf(items: SelectionItems, names: readonly string[]): { found: number[]; missing: string[] } {
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
export function embeddingTensor(items: SelectionItems, opts: SelectionOptions): Tensor {
  const { x, dim } = embeddingRows(items, 0);
  return torch.scope(() => {
    let t = torch.tensor(x, { shape: [items.filenames.length, dim] });
    if (opts.device === "cuda") t = t.to("cuda");
    return opts.normalizeEmbeddings ? torch.F.normalize(t, 2, 1) : t;
  });
}

/** The (possibly normalised) embeddings as float32 on the host. */
export function hostRows(x: Tensor): Float32Array {
  return torch.scope(() => x.cpu().contiguous().data() as Float32Array);
}
