// safetensors: u64-LE header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__"},
// then the tensor bytes. The reader applies the reference implementation's checks (offsets contiguous,
// no holes or overlaps, sizes matching shapes) before touching any tensor data.
import { CheckpointError, guard, show } from "./errors.js";
import { withSource, type ByteSource } from "./source.js";
import { RawStorageImpl, RawTensorImpl, checkedNumel, contiguousStride, isDType, isRawTensor, itemSize, rawTensorToContiguousBytes, type DType, type RawTensor, type TensorToWrite } from "./tensor.js";
import { writeFileAtomic } from "./atomic.js";
import { concatChunks } from "./zip.js";

const TO_ST: Record<DType, string> = {
  float32: "F32", float64: "F64", float16: "F16", bfloat16: "BF16", int64: "I64", int32: "I32", int16: "I16", int8: "I8", uint8: "U8", bool: "BOOL",
};
const FROM_ST = new Map<string, DType>(Object.entries(TO_ST).map(([d, s]) => [s, d as DType]));

/** The reference implementation refuses headers over 100 MB. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsContents {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

function readSt(src: ByteSource): SafetensorsContents {
  if (src.size < 8) throw new CheckpointError(`not a safetensors file (only ${src.size} bytes)`, "FORMAT");
  const n64 = new DataView(src.read(0, 8, "safetensors header length").slice().buffer).getBigUint64(0, true);
  if (n64 > BigInt(src.size - 8)) throw new CheckpointError(`header length ${n64} exceeds the file (${src.size} bytes): truncated or not safetensors`, "FORMAT");
  const n = Number(n64);
  if (n > MAX_HEADER) throw new CheckpointError(`header of ${n} bytes exceeds the ${MAX_HEADER}-byte limit`, "LIMIT");
  if (n < 2) throw new CheckpointError("safetensors header is empty", "FORMAT");
  const hb = src.read(8, n, "safetensors header");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(hb);
  } catch {
    throw new CheckpointError("safetensors header is not valid UTF-8", "FORMAT");
  }
  if (text[0] !== "{") throw new CheckpointError("safetensors header must start with '{'", "FORMAT");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`safetensors header is not valid JSON: ${(e as Error).message}`, "FORMAT");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new CheckpointError("safetensors header must be a JSON object", "FORMAT");
  const dataStart = 8 + n;
  const dataLen = src.size - dataStart;
  let metadata: Record<string, string> = {};
  const infos: Array<{ name: string; dtype: DType; shape: number[]; b: number; e: number; order: number }> = [];
  let order = 0;
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new CheckpointError("__metadata__ must be an object", "FORMAT");
      const m = Object.entries(v as Record<string, unknown>);
      for (const [k, x] of m) if (typeof x !== "string") throw new CheckpointError(`__metadata__.${k} must be a string`, "FORMAT");
      metadata = Object.fromEntries(m) as Record<string, string>;
      continue;
    }
    const what = `tensor ${show(name)}`;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new CheckpointError(`${what}: entry must be an object`, "FORMAT");
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof info.dtype === "string" ? FROM_ST.get(info.dtype) : undefined;
    if (!dtype) throw new CheckpointError(`${what}: unsupported dtype ${show(info.dtype)}`, "UNSUPPORTED");
    if (!Array.isArray(info.shape)) throw new CheckpointError(`${what}: shape must be an array`, "FORMAT");
    if (info.shape.length > 64) throw new CheckpointError(`${what}: too many dimensions`, "TENSOR");
    const numel = checkedNumel(info.shape, what);
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0)) {
      throw new CheckpointError(`${what}: data_offsets must be two non-negative integers`, "FORMAT");
    }
    const [b, e] = off as [number, number];
    if (b > e || e > dataLen) throw new CheckpointError(`${what}: data_offsets [${b}, ${e}] are outside the ${dataLen}-byte data section`, "FORMAT");
    if (e - b !== numel * itemSize(dtype)) {
      throw new CheckpointError(`${what}: shape [${info.shape.join(", ")}] of ${dtype} needs ${numel * itemSize(dtype)} bytes, data_offsets cover ${e - b}`, "TENSOR");
    }
    infos.push({ name, dtype, shape: info.shape as number[], b, e, order: order++ });
  }
  // Tensors must tile the data section exactly: no holes, no overlaps, nothing after the last one.
  infos.sort((x, y) => x.b - y.b || x.e - y.e || x.order - y.order);
  let cursor = 0;
  for (const t of infos) {
    if (t.b !== cursor) {
      throw new CheckpointError(`tensor ${show(t.name)}: data starts at ${t.b}, expected ${cursor} (hole or overlap in data_offsets)`, "FORMAT");
    }
    cursor = t.e;
  }
  if (cursor !== dataLen) throw new CheckpointError(`data section is ${dataLen} bytes but the tensors cover ${cursor}`, "FORMAT");
  const tensors = new Map<string, RawTensor>();
  for (const t of infos) {
    const bytes = src.read(dataStart + t.b, t.e - t.b, `tensor ${t.name}`);
    const numel = (t.e - t.b) / itemSize(t.dtype);
    const storage = new RawStorageImpl(t.name, t.dtype, numel, bytes, "cpu");
    tensors.set(t.name, new RawTensorImpl(t.dtype, [...t.shape], contiguousStride(t.shape), 0, storage, false));
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file. Tensors come back in data order; Uint8Array input is not copied. */
export function readSafetensors(src: string | Uint8Array, opts: { name?: string } = {}): SafetensorsContents {
  const name = typeof src === "string" ? src : opts.name;
  return guard(name, () => {
    if (typeof src !== "string" && !(src instanceof Uint8Array)) throw new CheckpointError("source must be a path or a Uint8Array", "INVALID_ARGUMENT");
    return withSource(src, readSt);
  });
}

function buildSt(
  tensors: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  metadata: Record<string, string> | undefined,
): Uint8Array[] {
  const entries: Array<[string, unknown]> = tensors instanceof Map ? [...tensors.entries()] : Array.isArray(tensors) ? tensors : [];
  if (!(tensors instanceof Map) && !Array.isArray(tensors)) throw new CheckpointError("tensors must be a Map or an array of pairs", "INVALID_ARGUMENT");
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!metadata || typeof metadata !== "object") throw new CheckpointError("metadata must be an object of strings", "INVALID_ARGUMENT");
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new CheckpointError(`metadata ${JSON.stringify(k)} must be a string`, "INVALID_ARGUMENT");
    }
    parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(Object.entries(metadata)))}`);
  }
  const datas: Uint8Array[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const [i, e] of entries.entries()) {
    if (!Array.isArray(e) || typeof e[0] !== "string") throw new CheckpointError(`entry ${i} is not a [name, tensor] pair`, "INVALID_ARGUMENT");
    const [name, t] = e as [string, unknown];
    const what = `tensor ${JSON.stringify(name)}`;
    if (name === "__metadata__") throw new CheckpointError(`"__metadata__" cannot be a tensor name`, "INVALID_ARGUMENT");
    if (seen.has(name)) throw new CheckpointError(`duplicate tensor name ${JSON.stringify(name)}`, "INVALID_ARGUMENT");
    seen.add(name);
    let dtype: DType;
    let shape: number[];
    let data: Uint8Array;
    if (isRawTensor(t)) {
      dtype = t.dtype;
      shape = [...t.shape];
      data = rawTensorToContiguousBytes(t);
    } else {
      const o = (t ?? {}) as Partial<TensorToWrite>;
      if (!isDType(o.dtype)) throw new CheckpointError(`${what}: unsupported dtype ${show(o.dtype)}`, "INVALID_ARGUMENT");
      if (!Array.isArray(o.shape) || !(o.data instanceof Uint8Array)) throw new CheckpointError(`${what}: needs shape and data`, "INVALID_ARGUMENT");
      const numel = checkedNumel(o.shape, what);
      if (numel * itemSize(o.dtype) !== o.data.length) {
        throw new CheckpointError(`${what}: shape [${o.shape.join(", ")}] of ${o.dtype} needs ${numel * itemSize(o.dtype)} bytes, data has ${o.data.length}`, "INVALID_ARGUMENT");
      }
      dtype = o.dtype;
      shape = [...o.shape];
      data = o.data;
    }
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: TO_ST[dtype], shape, data_offsets: [offset, offset + data.length] })}`);
    datas.push(data);
    offset += data.length;
  }
  let header = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) {
    const h = new Uint8Array(header.length + pad).fill(0x20);
    h.set(header);
    header = h;
  }
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
  return [len, header, ...datas];
}

export function encodeSafetensors(
  tensors: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  return guard(undefined, () => {
    return concatChunks(buildSt(tensors, metadata));
  });
}

/** Atomic write (temp file, fsync, rename). */
export function saveSafetensors(
  file: string,
  tensors: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  metadata?: Record<string, string>,
): void {
  guard(file, () => writeFileAtomic(file, buildSt(tensors, metadata)));
}
