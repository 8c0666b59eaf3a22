// SIMILARITY's score: 1 / (1 + Euclidean distance to the nearest query item), one product for all rows.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";

export function similarityScores(x: Tensor, query: number[]): Float64Array {
  return torch.noGrad(() =>
    torch.scope(() => {
      const q = x.indexSelect(0, torch.tensor(query, { dtype: "int64", device: x.device }));
      const sq = x.square().sum(1);
      const d2 = sq.unsqueeze(1).add(q.square().sum(1).unsqueeze(0)).sub(x.mm(q.t()).mul(2)).amin(1).clampMin(0);
      return Float64Array.from(d2.sqrt().add(1).reciprocal().to("float64").cpu().toArray());
    }),
  );
}
