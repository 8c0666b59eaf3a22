// Small values (a model's layout, a checkpoint path) sent from one rank to all the others over the
// process group: JSON's UTF-8 bytes in a float32 tensor (bytes are exact in float32), length first.
import * as torch from "../torch/index.js";
import type { ProcessGroup } from "./process-group.js";

/** Rank `src`'s value on every rank (the others' `value` is ignored). */
export function broadcastJson<T>(pg: ProcessGroup, value: T | undefined, src = 0): T {
  return torch.scope(() => {
    const bytes = pg.rank === src ? Buffer.from(JSON.stringify(value ?? null), "utf8") : Buffer.alloc(0);
    const len = torch.tensor([bytes.length]);
    pg.broadcast(len, src);
    const n = Number(len.item());
    const payload = pg.rank === src ? torch.tensor(Float32Array.from(bytes)) : torch.zeros([n]);
    pg.broadcast(payload, src);
    const got = Buffer.from(Uint8Array.from(payload.data() as Float32Array));
    return JSON.parse(got.toString("utf8")) as T;
  });
}
