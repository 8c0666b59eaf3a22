// A Gloo process group (PyTorch's c10d, bound in native/src/distributed.cc): rendezvous over a
// TCPStore on rank 0, collectives over Gloo's TCP transport. Every collective blocks this thread
// until it completes on all ranks, or throws a DistributedError within the group's timeout (a
// peer that exited, crashed or stopped answering) — never a silent hang.
import { native, type Handle } from "../torch/native.js";
import { cat, Tensor } from "../torch/index.js";
import { WinnowError } from "../util/errors.js";
import { resolveRendezvous, type RendezvousOptions } from "./env.js";

export type ReduceOp = "sum" | "product" | "min" | "max";
const REDUCE_CODE: Record<ReduceOp, number> = { sum: 0, product: 2, min: 3, max: 4 }; // c10d::ReduceOp

/** torch.distributed's default_pg_timeout (30 minutes). */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export class DistributedError extends WinnowError<"distributed"> {
  constructor(message: string, cause?: unknown) {
    super("distributed", message, { cause });
  }
}

/** Where Gloo binds on this machine: a network interface (or several), an address, or c10d's default. */
export type GlooDevice = { interface: string } | { hostname: string } | "default";

export interface InitOptions extends RendezvousOptions {
  backend?: "gloo";
  /** Bound on the rendezvous and on every collective (torch's `timeout`). */
  timeoutMs?: number;
  /** Default: GLOO_SOCKET_IFNAME's interfaces when set (as torch), loopback when the master is local, else c10d's default. */
  device?: GlooDevice;
  /** Gloo's worker threads per group (c10d's default: 2). */
  threads?: number;
  env?: NodeJS.ProcessEnv;
}

const isLoopback = (addr: string): boolean => addr === "localhost" || addr === "::1" || /^127\./.test(addr);

function chooseDevice(o: InitOptions, masterAddr: string, env: NodeJS.ProcessEnv): [string, string] {
  const d = o.device ?? (env.GLOO_SOCKET_IFNAME ? { interface: env.GLOO_SOCKET_IFNAME } : isLoopback(masterAddr) ? { hostname: "127.0.0.1" } : "default");
  if (d === "default") return ["default", ""];
  return "interface" in d ? ["interface", d.interface] : ["hostname", d.hostname];
}

export class ProcessGroup {
  readonly backend = "gloo";
  private _h: Handle | null;
  // The first failure: after one, the ranks no longer agree on where they are in the sequence of
  // collectives, so every later call is refused with it rather than sent.
  private failed: DistributedError | null = null;

  /** @internal use initProcessGroup */
  constructor(
    h: Handle,
    readonly rank: number,
    readonly worldSize: number,
    readonly timeoutMs: number,
  ) {
    this._h = h;
  }

  /** @internal */
  get h(): Handle {
    if (this._h === null) throw new DistributedError("process group used after destroy()");
    return this._h;
  }

  get isDestroyed(): boolean {
    return this._h === null;
  }

  /** Runs one collective; turns c10d's failure into an error that says where and what to check. */
  private run<T>(what: string, fn: () => T): T {
    if (this.failed && this._h !== null) {
      throw new DistributedError(`${what} refused on rank ${this.rank}: this process group failed earlier (${this.failed.message})`, this.failed);
    }
    try {
      return fn();
    } catch (e) {
      if (e instanceof DistributedError) throw e;
      const msg = (e instanceof Error ? e.message : String(e)).trim().replace(/[.!]+$/, "");
      this.failed = new DistributedError(
        `${what} failed on rank ${this.rank} of ${this.worldSize} (timeout ${this.timeoutMs} ms): ${msg}. ` +
          "Another rank probably exited, crashed or stopped taking part; its own log says why.",
        e,
      );
      throw this.failed;
    }
  }

  private static needContiguous(what: string, t: Tensor): void {
    if (!t.isContiguous()) throw new DistributedError(`${what}: the tensor must be contiguous (it is reduced in place)`);
  }

  /** Reduces in place across ranks; a list is one coalesced reduction (a bucket) over tensors of one dtype. */
  allReduce(t: Tensor | Tensor[], op: ReduceOp = "sum"): void {
    const list = Array.isArray(t) ? t : [t];
    for (const x of list) ProcessGroup.needContiguous("allReduce", x);
    if (list.length === 0) return;
    this.run("allReduce", () =>
      list.length === 1
        ? native.pgAllreduce(this.h, list[0].h, REDUCE_CODE[op])
        : native.pgAllreduceCoalesced(this.h, list.map((x) => x.h), REDUCE_CODE[op]),
    );
  }

  /** Copies rank `src`'s tensor into every rank's, in place. */
  broadcast(t: Tensor, src = 0): void {
    ProcessGroup.needContiguous("broadcast", t);
    this.run("broadcast", () => native.pgBroadcast(this.h, t.h, src));
  }

  /** Every rank's tensor (equal shapes), in rank order; new tensors owned by the caller (or scope). */
  allGather(t: Tensor): Tensor[] {
    const input = t.isContiguous() ? t : t.contiguous();
    const outs: Tensor[] = [];
    try {
      for (let r = 0; r < this.worldSize; r++) outs.push(new Tensor(native.emptyLike(input.h)));
      this.run("allGather", () => native.pgAllgather(this.h, outs.map((o) => o.h), input.h));
      return outs;
    } catch (e) {
      for (const o of outs) o.dispose();
      throw e;
    } finally {
      if (input !== t) input.dispose();
    }
  }

  /** Every rank's tensor concatenated along `dim` (one new tensor). */
  allGatherCat(t: Tensor, dim = 0): Tensor {
    const parts = this.allGather(t);
    try {
      return cat(parts, dim);
    } finally {
      for (const p of parts) p.dispose();
    }
  }

  /**
   * lightly's gather_distributed: every rank's tensor concatenated along dim 0, with gradients
   * flowing back (backward sums the gradient over ranks and keeps this rank's rows).
   * Equal first dimensions on every rank.
   */
  gatherWithGrad(t: Tensor): Tensor {
    return this.run("gatherWithGrad", () => new Tensor(native.pgAllgatherWithGrad(this.h, t.h)));
  }

  barrier(): void {
    this.run("barrier", () => native.pgBarrier(this.h));
  }

  /** Frees the group (joins Gloo's threads; rank 0 stops the store). Idempotent. */
  destroy(): void {
    if (this._h === null) return;
    native.pgDestroy(this._h);
    this._h = null;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/**
 * torch.distributed.init_process_group(backend="gloo", init_method="env://"): rank 0 serves the
 * TCPStore on masterAddr:masterPort, every rank joins it and builds the Gloo group. Blocks until
 * all `worldSize` ranks have joined, or throws after `timeoutMs`.
 */
export function initProcessGroup(o: InitOptions = {}): ProcessGroup {
  if (o.backend !== undefined && o.backend !== "gloo") {
    throw new WinnowError("invalid_input", `backend "${o.backend}" is not available (this engine has gloo)`, { where: "backend" });
  }
  if (!native.buildInfo().gloo) {
    throw new DistributedError("initProcessGroup: this engine was built without Gloo (c10d's CPU backend): install libgloo-dev (Debian) and rebuild it (npm run build:native)");
  }
  const env = o.env ?? process.env;
  const rv = resolveRendezvous(o, env);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new WinnowError("invalid_input", `timeoutMs must be a positive integer, got ${timeoutMs}`, { where: "timeoutMs" });
  }
  const [kind, arg] = chooseDevice(o, rv.masterAddr, env);
  let h: Handle;
  try {
    h = native.pgNew(rv.masterAddr, rv.masterPort, rv.rank === 0, rv.rank, rv.worldSize, timeoutMs, kind, arg, o.threads ?? 0);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DistributedError(
      `initProcessGroup: rank ${rv.rank} of ${rv.worldSize} could not join the group at ${rv.masterAddr}:${rv.masterPort} ` +
        `within ${timeoutMs} ms: ${msg.trim()}`,
      e,
    );
  }
  return new ProcessGroup(h, rv.rank, rv.worldSize, timeoutMs);
}

/** Process groups created and not yet destroyed in this process (for leak checks). */
export const liveProcessGroups = (): number => native.pgLiveGroups();
