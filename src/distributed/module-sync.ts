// Keeping replicas of a module equal across ranks, as DistributedDataParallel does: parameters and
// buffers broadcast from rank 0 at start, gradients averaged after each backward. Tensors travel
// in buckets (consecutive tensors of one dtype, up to a byte cap): each bucket is flattened into
// one buffer with cat, sent with one collective, and copied back, so a ResNet's ~60 parameters
// cost a few collectives, not 60.
import { cat, scope, zerosLike, type Tensor } from "../torch/index.js";
import type { ProcessGroup } from "./process-group.js";

/** What replica sync needs of a module (nn's Module has it; this folder sits beside nn, not above it). */
export interface Replica {
  parameters(): Tensor[];
  buffers(): Tensor[];
}

/** DDP's bucket_cap_mb default. */
export const DEFAULT_BUCKET_CAP_MB = 25;

/** Splits into runs of one dtype whose bytes stay under the cap (a tensor larger than the cap is its own bucket). */
export function buckets<T>(items: T[], bytes: (x: T) => number, dtype: (x: T) => string, capBytes: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const x of items) {
    const b = bytes(x);
    if (cur.length && (dtype(cur[0]) !== dtype(x) || size + b > capBytes)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(x);
    size += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

const bytesOf = (t: Tensor): number => t.numel() * t.elementSize();

/** One bucket through a flat buffer: `send` gets the buffer, its slices are copied back into `targets`. */
function throughFlat(sources: Tensor[], targets: (Tensor | null)[], send: (flat: Tensor) => void): void {
  scope(() => {
    const flat = sources.length === 1 ? sources[0].reshape(-1).clone() : cat(sources.map((s) => s.reshape(-1)));
    send(flat);
    let offset = 0;
    sources.forEach((s, i) => {
      const n = s.numel();
      const target = targets[i];
      if (target) target.copy_(flat.narrow(0, offset, n).view(s.shape));
      offset += n;
    });
  });
}

/** Broadcasts every parameter and buffer from `src` (DDP's _sync_module_states at construction). */
export function broadcastModule(pg: ProcessGroup, module: Replica, opts: { src?: number; bucketCapMB?: number } = {}): void {
  const src = opts.src ?? 0;
  const cap = (opts.bucketCapMB ?? DEFAULT_BUCKET_CAP_MB) * 1024 * 1024;
  const tensors = [...module.parameters(), ...module.buffers()];
  scope(() => {
    // Detached views: the copies back must not be recorded by autograd on leaves that need grads.
    const views = tensors.map((t) => t.detach());
    for (const b of buckets(views, bytesOf, (t) => t.dtype, cap)) throughFlat(b, b, (flat) => pg.broadcast(flat, src));
  });
}

/**
 * Averages the gradients of `params` (default: the module's parameters that require grad) over
 * all ranks, in place: each bucket scaled by 1/world size then summed with one allreduce (DDP's
 * default reduction). Every rank must pass the same parameters in the same order. A parameter
 * without a gradient contributes zeros and keeps no gradient (it got none on this rank).
 */
export function allReduceGradients(pg: ProcessGroup, module: Replica | Tensor[], opts: { bucketCapMB?: number } = {}): void {
  const params = Array.isArray(module) ? module : module.parameters().filter((p) => p.requiresGrad);
  const cap = (opts.bucketCapMB ?? DEFAULT_BUCKET_CAP_MB) * 1024 * 1024;
  const world = pg.worldSize;
  scope(() => {
    const grads = params.map((p) => p.grad);
    const sources = params.map((p, i) => grads[i] ?? zerosLike(p));
    const idx = params.map((_, i) => i);
    for (const b of buckets(idx, (i) => bytesOf(sources[i]), (i) => sources[i].dtype, cap)) {
      throughFlat(
        b.map((i) => sources[i]),
        b.map((i) => grads[i]),
        (flat) => {
          // Scaled by 1/world before the sum, as DDP's reducer does (bit-equal results).
          if (world > 1) flat.mul_(1 / world);
          pg.allReduce(flat);
        },
      );
    }
  });
}
