// Engine-free tensor descriptions shared by the torch and safetensors readers/writers.
import { CheckpointError, show } from "./errors.js";

export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

export const DTYPES: readonly DType[] = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"];

const ITEMSIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** torch's typed storage class per dtype (what torch.save puts in persistent ids). */
export const STORAGE_CLASS: Record<DType, string> = {
  float32: "FloatStorage",
  float64: "DoubleStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int64: "LongStorage",
  int32: "IntStorage",
  int16: "ShortStorage",
  int8: "CharStorage",
  uint8: "ByteStorage",
  bool: "BoolStorage",
};

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(ITEMSIZE, x);
}

export function itemSize(d: DType): number {
  return ITEMSIZE[d];
}

/** One storage record: the little-endian bytes of the whole storage, shared by every view of it. */
export interface RawStorage {
  key: string;
  dtype: DType;
  numel: number;
  bytes: Uint8Array;
  device: string;
}

/** A tensor as a checkpoint holds it: a strided view (in elements) of a storage. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  stride: number[];
  storageOffset: number;
  storage: RawStorage;
  requiresGrad: boolean;
}

/** Input to the writers: a contiguous little-endian buffer. */
export interface TensorToWrite {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
  requiresGrad?: boolean;
}

export function isRawTensor(x: unknown): x is RawTensor {
  return x instanceof RawTensorImpl;
}

/** Concrete class so `isRawTensor` cannot be fooled by look-alike objects built from pickle data. */
export class RawTensorImpl implements RawTensor {
  constructor(
    public dtype: DType,
    public shape: number[],
    public stride: number[],
    public storageOffset: number,
    public storage: RawStorage,
    public requiresGrad: boolean,
  ) {}
}

export class RawStorageImpl implements RawStorage {
  constructor(
    public key: string,
    public dtype: DType,
    public numel: number,
    public bytes: Uint8Array,
    public device: string,
  ) {}
}

export function isRawStorage(x: unknown): x is RawStorage {
  return x instanceof RawStorageImpl;
}

/** Largest buffer Node can allocate; anything bigger is refused before allocation. */
export const MAX_BYTES = Math.min(2 ** 32, Number.MAX_SAFE_INTEGER);

/** Product of dims, or an error when a dim is not a non-negative safe integer or the product overflows. */
export function checkedNumel(shape: readonly unknown[], what: string): number {
  let n = 1n;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(`${what}: invalid dimension ${show(d)} in shape of ${shape.length} dims`, "TENSOR");
    }
    n *= BigInt(d);
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(`${what}: shape [${shape.join(", ")}] has ${n} elements, which overflows`, "TENSOR");
  }
  return Number(n);
}

/** Row-major strides as torch computes them (size-0/1 dims count as 1). */
export function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

/**
 * Validates that a strided view fits its storage; returns its element count.
 * Uses BigInt so absurd sizes/strides cannot overflow into a false "fits".
 */
export function checkView(shape: readonly unknown[], stride: readonly unknown[], offset: unknown, storageNumel: number, what: string): number {
  if (shape.length !== stride.length) {
    throw new CheckpointError(`${what}: shape has ${shape.length} dims but stride has ${stride.length}`, "TENSOR");
  }
  if (shape.length > 64) throw new CheckpointError(`${what}: ${shape.length} dimensions is too many`, "TENSOR");
  const numel = checkedNumel(shape, what);
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    throw new CheckpointError(`${what}: invalid storage offset ${show(offset)}`, "TENSOR");
  }
  for (const s of stride) {
    if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 0) {
      throw new CheckpointError(`${what}: invalid stride ${show(s)}`, "TENSOR");
    }
  }
  if (numel === 0) {
    if (offset > storageNumel) {
      throw new CheckpointError(`${what}: storage offset ${offset} is beyond the storage's ${storageNumel} elements`, "TENSOR");
    }
    return 0;
  }
  let last = BigInt(offset);
  for (let i = 0; i < shape.length; i++) last += BigInt((shape[i] as number) - 1) * BigInt(stride[i] as number);
  if (last >= BigInt(storageNumel)) {
    throw new CheckpointError(
      `${what}: view (offset ${offset}, shape [${shape.join(", ")}], stride [${stride.join(", ")}]) needs ${last + 1n} elements but its storage has only ${storageNumel}`,
      "TENSOR",
    );
  }
  return numel;
}

export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return shape.some((d) => d === 0);
    expect *= shape[i]!;
  }
  return true;
}

/**
 * Contiguous little-endian bytes of `t`, honouring storageOffset and strides. When the view is
 * already contiguous this is a view into the storage (no copy); otherwise a fresh buffer.
 */
export function rawTensorToContiguousBytes(t: RawTensor): Uint8Array {
  const what = `tensor (storage ${show(t?.storage?.key)})`;
  if (!t || typeof t !== "object" || !t.storage || !(t.storage.bytes instanceof Uint8Array)) {
    throw new CheckpointError("rawTensorToContiguousBytes: not a RawTensor", "INVALID_ARGUMENT");
  }
  if (!isDType(t.dtype) || t.storage.dtype !== t.dtype) {
    throw new CheckpointError(`${what}: dtype ${show(t.dtype)} does not match storage dtype ${show(t.storage.dtype)}`, "TENSOR");
  }
  const isz = itemSize(t.dtype);
  const sn = t.storage.numel;
  if (!Number.isSafeInteger(sn) || sn < 0 || sn * isz !== t.storage.bytes.length) {
    throw new CheckpointError(`${what}: storage claims ${sn} elements but holds ${t.storage.bytes.length} bytes`, "TENSOR");
  }
  if (!Array.isArray(t.shape) || !Array.isArray(t.stride)) throw new CheckpointError(`${what}: shape/stride must be arrays`, "TENSOR");
  const numel = checkView(t.shape, t.stride, t.storageOffset, sn, what);
  if (numel * isz > MAX_BYTES) {
    throw new CheckpointError(`${what}: ${numel} elements (${numel * isz} bytes) exceed the ${MAX_BYTES}-byte buffer limit`, "LIMIT");
  }
  const src = t.storage.bytes;
  if (isContiguous(t.shape, t.stride)) {
    const start = t.storageOffset * isz;
    return src.subarray(start, start + numel * isz);
  }
  const out = new Uint8Array(numel * isz);
  if (numel === 0) return out;
  // Walk the index space with the innermost dim as a run; copy runs wholesale when its stride is 1.
  const nd = t.shape.length;
  const shape = t.shape;
  const stride = t.stride;
  const inner = shape[nd - 1]!;
  const innerStride = stride[nd - 1]!;
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let base = t.storageOffset;
  let o = 0;
  const wordSize = isz === 8 ? 4 : isz;
  type Words = Uint8Array | Uint16Array | Uint32Array;
  let words: { s: Words; d: Words; per: number } | undefined;
  if (src.byteOffset % wordSize === 0) {
    const W = wordSize === 4 ? Uint32Array : wordSize === 2 ? Uint16Array : Uint8Array;
    words = {
      s: new W(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength / wordSize),
      d: new W(out.buffer, 0, out.byteLength / wordSize),
      per: isz / wordSize,
    };
  }
  const runs = numel / inner;
  for (let r = 0; r < runs; r++) {
    if (innerStride === 1) {
      out.set(src.subarray(base * isz, (base + inner) * isz), o);
      o += inner * isz;
    } else if (words) {
      // word-sized copies (8-byte elements as two 32-bit words, so NaN payloads stay bit-exact)
      const { s: sw, d: dw, per } = words;
      let e = base * per;
      let oi = o / (isz / per);
      const step = innerStride * per;
      for (let i = 0; i < inner; i++, e += step) {
        dw[oi++] = sw[e]!;
        if (per === 2) dw[oi++] = sw[e + 1]!;
      }
      o += inner * isz;
    } else {
      let e = base;
      for (let i = 0; i < inner; i++, e += innerStride) {
        const s0 = e * isz;
        for (let b = 0; b < isz; b++) out[o++] = src[s0 + b]!;
      }
    }
    // advance the outer multi-index (odometer)
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
