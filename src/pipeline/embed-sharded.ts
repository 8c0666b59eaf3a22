// Embedding over the ranks of a process group, gathered in file order on rank 0.
//
// Batches are dealt round-robin: in round k, rank r embeds the file-order batch k·W + r (W ranks).
// One all-gather per round then hands rank 0 batches k·W … k·W + W − 1, which are consecutive in
// file order, so rank 0 streams them to disk as embedImages does on one rank: memory stays at W
// batches, whatever the dataset's size. all_gather needs equal shapes: every rank sends a full
// batch, zero rows where its batch is short or past the end (dropped by rank 0).
//
// The weights come from rank 0 (its checkpoint or in-memory model): its model layout is sent as
// JSON, the other ranks build that model and receive parameters and buffers (broadcastModule),
// so the other ranks need no checkpoint file of their own.
import * as torch from "../torch/index.js";
import { buildModel, type ModelConfig, type SimCLR } from "../models/index.js";
import { broadcastJson, broadcastModule, type ProcessGroup } from "../distributed/index.js";
import { WinnowError } from "../util/errors.js";

export interface Batch {
  /** File-order index of its first row. */
  start: number;
  count: number;
  /** count × d, row-major. */
  values: Float32Array;
}

/** Every rank must embed the same list: the ranks compare their counts before the first batch. */
export function checkSameCount(pg: ProcessGroup, n: number, where: string): void {
  const counts = torch.scope(() => pg.allGather(torch.tensor([n])).map((t) => Number(t.item())));
  if (counts.some((c) => c !== n)) {
    throw new WinnowError("invalid_input", `embedding over ${pg.worldSize} ranks: the ranks see different numbers of images (${counts.join(", ")} by rank); every rank needs the same input folder and config`, { where });
  }
}

/**
 * Rank 0's model on every rank: rank 0 passes its model (returned as is), the others null (a new
 * model, owned by the caller, on `device`).
 */
export function syncEmbedModel(pg: ProcessGroup, model: SimCLR | null, device: string): SimCLR {
  if (pg.rank === 0 && !model) throw new Error("syncEmbedModel: rank 0 must give the model");
  const config = broadcastJson<ModelConfig>(pg, model ? { ...model.config } : undefined);
  if (model) {
    // CPU copies (Gloo here moves CPU tensors; rank 0's model may sit on a GPU), freed by the scope.
    torch.scope(() => {
      const cpu = (ts: torch.Tensor[]): torch.Tensor[] => ts.map((t) => t.detach().to("cpu").contiguous());
      const params = cpu(model.parameters());
      const buffers = cpu(model.buffers());
      broadcastModule(pg, { parameters: () => params, buffers: () => buffers });
    });
    return model;
  }
  const mine = buildModel(config) as SimCLR;
  try {
    broadcastModule(pg, mine);
    mine.to({ device, memoryFormat: "channels_last" }); // as embedImages places its own models
  } catch (e) {
    mine.dispose();
    throw e;
  }
  return mine;
}

/**
 * The batches of `n` rows in file order, computed round-robin over the ranks. Yields on rank 0 only
 * (the other ranks compute and send their share, and get nothing back).
 */
export function* shardedBatches(pg: ProcessGroup, n: number, batchSize: number, d: number, embed: (idx: number[]) => Float32Array): Generator<Batch> {
  const W = pg.worldSize;
  const batches = Math.ceil(n / batchSize);
  for (let round = 0; round * W < batches; round++) {
    const mine = round * W + pg.rank;
    const start = mine * batchSize;
    const count = mine < batches ? Math.min(batchSize, n - start) : 0;
    const padded = new Float32Array(batchSize * d);
    if (count > 0) {
      const values = embed(Array.from({ length: count }, (_, k) => start + k));
      if (values.length !== count * d) throw new Error(`embedImages: the model returned ${values.length / count} values per image, expected ${d}`);
      padded.set(values);
    }
    const gathered = torch.scope(() => pg.allGather(torch.tensor(padded, { shape: [batchSize, d] })).map((t) => t.data() as Float32Array));
    if (pg.rank !== 0) continue;
    for (let r = 0; r < W; r++) {
      const b = round * W + r;
      if (b >= batches) break;
      const s = b * batchSize;
      const c = Math.min(batchSize, n - s);
      yield { start: s, count: c, values: gathered[r]!.subarray(0, c * d) };
    }
  }
}

/** The same batches on one process. */
export function* localBatches(n: number, batchSize: number, d: number, embed: (idx: number[]) => Float32Array): Generator<Batch> {
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const values = embed(Array.from({ length: count }, (_, k) => start + k));
    if (values.length !== count * d) throw new Error(`embedImages: the model returned ${values.length / count} values per image, expected ${d}`);
    yield { start, count, values };
  }
}
