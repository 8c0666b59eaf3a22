// `torch`: the TypeScript tensor API over libtorch. PyTorch's names, camelCase.
import { native, type Handle } from "./native.js";
import { Tensor, type Device, type Scalar } from "./tensor.js";
import { type DType, dtypeCode, dtypeOfArray, type TypedArray, isFloating, ELEMENT_SIZE } from "./dtype.js";
import { scope, keep, scopeDepth } from "./scope.js";
import * as functional from "./functional.js";

export { Tensor, scope, keep, scopeDepth, functional, functional as F };
export type { Device, Scalar, DType, TypedArray };
export { isFloating, ELEMENT_SIZE };
export { parseDevice, normalizeDevice, sameDevice, isCuda, type ParsedDevice } from "./device.js";

export interface Options {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

const dt = (o?: Options): number | undefined => (o?.dtype ? dtypeCode(o.dtype) : undefined);
function made(h: Handle, o?: Options): Tensor {
  const t = new Tensor(h);
  if (o?.requiresGrad) t.requiresGrad_(true);
  return t;
}

// ---- creation -----------------------------------------------------------------------------
export const empty = (shape: number[], o?: Options): Tensor => made(native.empty(shape, dt(o), o?.device), o);
export const zeros = (shape: number[], o?: Options): Tensor => made(native.zeros(shape, dt(o), o?.device), o);
export const ones = (shape: number[], o?: Options): Tensor => made(native.ones(shape, dt(o), o?.device), o);
export const full = (shape: number[], value: Scalar, o?: Options): Tensor => made(native.full(shape, value, dt(o), o?.device), o);
export function arange(start: number, end?: number, step = 1, o?: Options): Tensor {
  if (end === undefined) [start, end] = [0, start];
  // PyTorch infers int64 for integral arguments.
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = o?.dtype ?? (integral ? "int64" : "float32");
  return made(native.arange(start, end, step, dtypeCode(dtype), o?.device), o);
}
export const linspace = (start: number, end: number, steps: number, o?: Options): Tensor =>
  made(native.linspace(start, end, steps, dt(o), o?.device), o);
export const eye = (n: number, m = n, o?: Options): Tensor => made(native.eye(n, m, dt(o), o?.device), o);
export const rand = (shape: number[], o?: Options): Tensor => made(native.rand(shape, dt(o), o?.device), o);
export const randn = (shape: number[], o?: Options): Tensor => made(native.randn(shape, dt(o), o?.device), o);
export const randint = (low: number, high: number, shape: number[], o?: Options): Tensor =>
  made(native.randint(low, high, shape, dtypeCode(o?.dtype ?? "int64"), o?.device), o);
export const randperm = (n: number, o?: Options): Tensor => made(native.randperm(n, dtypeCode(o?.dtype ?? "int64"), o?.device), o);
export const emptyLike = (t: Tensor): Tensor => new Tensor(native.emptyLike(t.h));
export const zerosLike = (t: Tensor): Tensor => new Tensor(native.zerosLike(t.h));
export const onesLike = (t: Tensor): Tensor => new Tensor(native.onesLike(t.h));
export const fullLike = (t: Tensor, v: Scalar): Tensor => new Tensor(native.fullLike(t.h, v));
export const randLike = (t: Tensor): Tensor => new Tensor(native.randLike(t.h));
export const randnLike = (t: Tensor): Tensor => new Tensor(native.randnLike(t.h));

type Nested = number | boolean | Nested[];
function shapeOf(v: Nested): number[] {
  const s: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    s.push(cur.length);
    cur = cur[0];
  }
  return s;
}

/**
 * A tensor from values: a typed array (with `shape`, default 1-d) or nested number arrays.
 * Plain numbers become float32 unless `dtype` says otherwise (JS cannot tell 1 from 1.0).
 */
export function tensor(values: TypedArray | Nested, o: Options & { shape?: number[] } = {}): Tensor {
  let arr: TypedArray;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(values)) {
    arr = values as TypedArray;
    dtype = o.dtype ?? dtypeOfArray(arr);
    shape = o.shape ?? [arr.length];
  } else {
    shape = o.shape ?? shapeOf(values);
    const flat = (Array.isArray(values) ? (values as unknown[]).flat(Infinity) : [values]) as (number | boolean)[];
    dtype = o.dtype ?? (typeof flat[0] === "boolean" ? "bool" : "float32");
    arr = typedFor(dtype, flat);
  }
  let t = new Tensor(native.fromBuffer(arr, shape, dtypeCode(dtype)));
  if (o.device && o.device !== "cpu") {
    const moved = t.to(o.device);
    t.dispose();
    t = moved;
  }
  if (o.requiresGrad) t.requiresGrad_(true);
  return t;
}

function typedFor(dtype: DType, flat: (number | boolean)[]): TypedArray {
  const nums = flat.map((v) => (typeof v === "boolean" ? (v ? 1 : 0) : v));
  switch (dtype) {
    case "float32": return Float32Array.from(nums);
    case "float64": return Float64Array.from(nums);
    case "int32": return Int32Array.from(nums);
    case "int16": return Int16Array.from(nums);
    case "int8": return Int8Array.from(nums);
    case "uint8": case "bool": return Uint8Array.from(nums);
    case "int64": return BigInt64Array.from(nums, (v) => BigInt(Math.trunc(v)));
    default: throw new Error(`tensor(): build ${dtype} tensors from float32 values with .to('${dtype}')`);
  }
}

/** Raw little-endian bytes of a contiguous tensor of `dtype` (used by checkpoint loading). */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType): Tensor {
  return new Tensor(native.fromBuffer(bytes, shape, dtypeCode(dtype)));
}

// ---- joins and free functions ----------------------------------------------------------------
export const cat = (ts: Tensor[], dim = 0): Tensor => new Tensor(native.cat(ts.map((t) => t.h), dim));
export const stack = (ts: Tensor[], dim = 0): Tensor => new Tensor(native.stack(ts.map((t) => t.h), dim));
export const where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => new Tensor(native.where(cond.h, a.h, b.h));
export const matmul = (a: Tensor, b: Tensor): Tensor => a.matmul(b);
export const cdist = (a: Tensor, b: Tensor, p = 2): Tensor => new Tensor(native.cdist(a.h, b.h, p));
export const bernoulli = (p: Tensor): Tensor => new Tensor(native.bernoulli(p.h));
export const multinomial = (p: Tensor, n: number, replacement = false): Tensor => new Tensor(native.multinomial(p.h, n, replacement));
export const addmm = (c: Tensor, a: Tensor, b: Tensor): Tensor => new Tensor(native.addmm(c.h, a.h, b.h));

// ---- autograd mode -------------------------------------------------------------------------
function withGrad<T>(enabled: boolean, fn: () => T): T {
  const prev: boolean = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}
/** Runs fn with gradient recording off (torch.no_grad). Synchronous fn only. */
export const noGrad = <T>(fn: () => T): T => withGrad(false, fn);
export const enableGrad = <T>(fn: () => T): T => withGrad(true, fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();

/** torch.autocast(device, dtype): mixed precision for the ops run inside fn. */
export function autocast<T>(device: "cpu" | "cuda", dtype: DType, fn: () => T): T {
  native.setAutocast(device, true, dtypeCode(dtype));
  try {
    return fn();
  } finally {
    native.setAutocast(device, false, dtypeCode(dtype));
  }
}

// ---- RNG, threads, devices, accounting -------------------------------------------------------
export const manualSeed = (seed: number): void => native.manualSeed(seed);
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();
export const liveTensors = (): number => native.liveTensors();
/** Bytes of live CPU tensors (views counted at their own size). */
export const liveBytes = (): number => native.liveBytes();
/**
 * The addon's caching allocator for large CPU tensors (native/src/cpu_cache.cc): freed blocks of
 * ≥ 256 KiB are kept for reuse instead of going back to the kernel, which otherwise page-faults and
 * zeroes them again on every training step. WINNOW_CPU_CACHE_MB caps the bytes held free (default a
 * quarter of physical memory; 0 turns the cache off, leaving libtorch's allocator).
 */
export interface CpuCacheStats {
  enabled: boolean;
  /** Bytes held free for reuse now. */
  cachedBytes: number;
  capBytes: number;
  /** Large allocations served from the cache / from the system, since the process started. */
  hits: number;
  misses: number;
}
export const cpuCache = {
  stats: (): CpuCacheStats => native.cpuCacheStats(),
  /** Gives every block held free back to the system; returns the bytes released. */
  empty: (): number => native.cpuCacheEmpty(),
};
export const buildInfo = (): { torchVersion: string; cuda: boolean; cxx11Abi: number; parallelInfo: string } => native.buildInfo();

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  /** Waits for queued work on the current CUDA stream (a 1-element copy to the host). */
  synchronize(): void {
    if (!native.cudaIsAvailable()) return;
    const t = new Tensor(native.zeros([1], dtypeCode("float32"), "cuda"));
    try {
      t.item();
    } finally {
      t.dispose();
    }
  },
  setCudnnBenchmark: (on: boolean): void => native.setCudnnBenchmark(on),
  /** TF32 for cuDNN convolutions and cuBLAS matmuls (PyTorch defaults: conv on, matmul off). */
  setAllowTF32: (on: boolean): void => native.setAllowTF32(on),
};
