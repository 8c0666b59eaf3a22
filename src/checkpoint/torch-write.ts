// The writer half of the torch.save format: byte-for-byte what torch 1.13's torch.save writes for
// {"state_dict": OrderedDict(...), **extra} (zip layout, pickle memo numbering, record order).
import { writeFileAtomic } from "./atomic.js";
import { CheckpointError, guard, show } from "./errors.js";
import { PickleWriter } from "./pickle-write.js";
import {
  checkedNumel,
  contiguousStride,
  isDType,
  isRawTensor,
  itemSize,
  rawTensorToContiguousBytes,
  STORAGE_CLASS,
  type DType,
  type RawTensor,
  type TensorToWrite,
} from "./tensor.js";
import { ZipWriter, concatChunks } from "./zip.js";

export type ExtraValue = string | number | bigint | boolean | null | TensorToWrite | RawTensor | readonly string[];

export interface WriteOptions {
  /** Extra top-level entries (metadata). Floats are refused: torch 1.13's weights_only loader cannot read them. */
  extra?: Record<string, ExtraValue>;
  /** Folder inside the zip (torch uses the file's stem in 1.13 and "archive" in 2.x). */
  rootName?: string;
  /** Leave the state-dict entry out of the top level when the state dict is empty (a file of extras only). */
  omitEmptyStateDict?: boolean;
  /** Key of the state dict in the top-level dict; null writes the OrderedDict itself as the top level. */
  stateDictKey?: string | null;
  /** Test hook: write zip64 fields for every record, as archives over 4 GiB need. */
  forceZip64?: boolean;
}

interface PreparedTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
  requiresGrad: boolean;
}

function prepareTensor(t: unknown, what: string): PreparedTensor {
  if (isRawTensor(t)) {
    return { dtype: t.dtype, shape: [...t.shape], data: rawTensorToContiguousBytes(t), requiresGrad: t.requiresGrad };
  }
  if (!t || typeof t !== "object") throw new CheckpointError(`${what}: not a tensor`, "INVALID_ARGUMENT");
  const o = t as Partial<TensorToWrite>;
  if (!isDType(o.dtype)) throw new CheckpointError(`${what}: unsupported dtype ${show(o.dtype)}`, "INVALID_ARGUMENT");
  if (!Array.isArray(o.shape)) throw new CheckpointError(`${what}: shape must be an array`, "INVALID_ARGUMENT");
  if (!(o.data instanceof Uint8Array)) throw new CheckpointError(`${what}: data must be a Uint8Array`, "INVALID_ARGUMENT");
  let numel: number;
  try {
    numel = checkedNumel(o.shape, what);
  } catch (e) {
    throw new CheckpointError((e as Error).message, "INVALID_ARGUMENT");
  }
  if (numel * itemSize(o.dtype) !== o.data.length) {
    throw new CheckpointError(
      `${what}: shape [${o.shape.join(", ")}] of ${o.dtype} needs ${numel * itemSize(o.dtype)} bytes, data has ${o.data.length}`,
      "INVALID_ARGUMENT",
    );
  }
  if (o.requiresGrad !== undefined && typeof o.requiresGrad !== "boolean") {
    throw new CheckpointError(`${what}: requiresGrad must be a boolean`, "INVALID_ARGUMENT");
  }
  return { dtype: o.dtype, shape: [...o.shape], data: o.data, requiresGrad: o.requiresGrad ?? false };
}

function isTensorLike(v: unknown): boolean {
  return isRawTensor(v) || (typeof v === "object" && v !== null && "data" in v && "dtype" in v && "shape" in v);
}

/** Builds the zip chunks of a torch.save-compatible checkpoint. */
function buildTorchChunks(
  stateDict: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  opts: WriteOptions,
): Uint8Array[] {
  const entries: Array<[string, unknown]> =
    stateDict instanceof Map ? [...stateDict.entries()] : Array.isArray(stateDict) ? stateDict : (() => {
      throw new CheckpointError("state dict must be a Map or an array of [name, tensor] pairs", "INVALID_ARGUMENT");
    })();
  const seen = new Set<string>();
  const sd: Array<[string, PreparedTensor]> = entries.map((e, i) => {
    if (!Array.isArray(e) || typeof e[0] !== "string") throw new CheckpointError(`state dict entry ${i} is not a [name, tensor] pair`, "INVALID_ARGUMENT");
    if (seen.has(e[0])) throw new CheckpointError(`duplicate state dict key ${e[0]}`, "INVALID_ARGUMENT");
    seen.add(e[0]);
    return [e[0], prepareTensor(e[1], `state dict entry ${JSON.stringify(e[0])}`)];
  });
  const sdKey = opts.stateDictKey === undefined ? "state_dict" : opts.stateDictKey;
  const extra = Object.entries(opts.extra ?? {});
  if (sdKey === null && extra.length) throw new CheckpointError("extra entries need a stateDictKey (the top level is the state dict)", "INVALID_ARGUMENT");
  if (sdKey !== null && typeof sdKey !== "string") throw new CheckpointError("stateDictKey must be a string or null", "INVALID_ARGUMENT");
  for (const [k, v] of extra) {
    if (k === sdKey) throw new CheckpointError(`extra key ${JSON.stringify(k)} collides with the state dict key`, "INVALID_ARGUMENT");
    if (typeof v === "number" && !Number.isSafeInteger(v)) {
      throw new CheckpointError(`extra ${JSON.stringify(k)} = ${v}: only integers are allowed (torch 1.13 weights_only cannot read floats); store it as a string`, "INVALID_ARGUMENT");
    }
    const strList = Array.isArray(v) && v.every((s) => typeof s === "string");
    if (!(v === null || strList || ["string", "number", "bigint", "boolean"].includes(typeof v) || isTensorLike(v))) {
      throw new CheckpointError(`extra ${JSON.stringify(k)}: unsupported value type ${typeof v}`, "INVALID_ARGUMENT");
    }
  }
  const preparedExtra: Array<[string, unknown]> = extra.map(([k, v]) => [k, isTensorLike(v) ? prepareTensor(v, `extra ${JSON.stringify(k)}`) : v]);

  const root = opts.rootName ?? "archive";
  if (!root || root.includes("/") || root.includes("\\")) throw new CheckpointError(`invalid root name ${JSON.stringify(root)}`, "INVALID_ARGUMENT");

  // Storages are identified by the bytes they cover: the same buffer region with the same dtype is
  // written once, like torch does for tensors sharing a storage.
  const storageKeys = new Map<ArrayBufferLike, Array<{ off: number; len: number; dtype: DType; key: string }>>();
  const records: Array<{ key: string; data: Uint8Array }> = [];
  const storageKeyOf = (t: PreparedTensor): { key: string; isNew: boolean } => {
    const list = storageKeys.get(t.data.buffer) ?? [];
    storageKeys.set(t.data.buffer, list);
    const hit = list.find((s) => s.off === t.data.byteOffset && s.len === t.data.byteLength && s.dtype === t.dtype);
    if (hit) return { key: hit.key, isNew: false };
    const key = String(records.length);
    list.push({ off: t.data.byteOffset, len: t.data.byteLength, dtype: t.dtype, key });
    records.push({ key, data: t.data });
    return { key, isNew: true };
  };

  const w = new PickleWriter();
  const keyMemo = new Map<string, number>();
  let storageStrMemo = -1;
  let cpuMemo = -1;
  const writeTensor = (t: PreparedTensor): void => {
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.mark();
    // persistent id ('storage', torch.XStorage, key, 'cpu', numel)
    w.mark();
    if (storageStrMemo < 0) storageStrMemo = w.str("storage");
    else w.get(storageStrMemo);
    w.global("torch", STORAGE_CLASS[t.dtype]);
    const { key, isNew } = storageKeyOf(t);
    if (isNew) keyMemo.set(key, w.str(key));
    else w.get(keyMemo.get(key)!);
    if (cpuMemo < 0) cpuMemo = w.str("cpu");
    else w.get(cpuMemo);
    w.int(t.data.length / itemSize(t.dtype));
    w.tupleEnd(5);
    w.persid();
    w.int(0); // storage offset
    w.intTuple(t.shape);
    w.intTuple(contiguousStride(t.shape));
    w.bool(t.requiresGrad);
    w.global("collections", "OrderedDict").emptyTuple().reduce(); // backward hooks
    w.tupleEnd(6);
    w.reduce();
  };
  const writeStateDict = (): void => {
    w.global("collections", "OrderedDict").emptyTuple().reduce();
    w.items(sd, ([k, t]) => {
      w.str(k);
      writeTensor(t);
    });
  };

  w.proto(2);
  if (sdKey === null) writeStateDict();
  else {
    w.emptyDict();
    w.put();
    const top: Array<[string, unknown]> = [...(sd.length === 0 && opts.omitEmptyStateDict ? [] : [[sdKey, undefined] as [string, unknown]]), ...preparedExtra];
    w.items(top, ([k, v]) => {
      w.str(k);
      if (k === sdKey && v === undefined) writeStateDict();
      else if (v === null) w.none();
      else if (typeof v === "string") w.str(v);
      else if (Array.isArray(v)) {
        // a list of str: EMPTY_LIST, then MARK … APPENDS (as CPython pickles it)
        w.byte(0x5d).put();
        if (v.length) {
          w.mark();
          for (const s of v as string[]) w.str(s);
          w.byte(0x65);
        }
      } else if (typeof v === "boolean") w.bool(v);
      else if (typeof v === "number" || typeof v === "bigint") w.int(v);
      else writeTensor(v as PreparedTensor);
    });
  }
  w.stop();

  const zw = new ZipWriter({ forceZip64: opts.forceZip64 });
  zw.add(`${root}/data.pkl`, w.bytes());
  // torch writes storage records in the string order of their keys (0, 1, 10, 100, 11, ...)
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const r of sorted) zw.add(`${root}/data/${r.key}`, r.data);
  zw.add(`${root}/version`, new TextEncoder().encode("3\n"));
  return zw.finish();
}

/**
 * Encodes what torch.save({stateDictKey: OrderedDict(stateDict), ...extra}) writes (torch 1.13 layout),
 * loadable with torch.load(weights_only=True).
 */
export function encodeTorchFile(
  stateDict: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  opts: WriteOptions = {},
): Uint8Array {
  return guard(undefined, () => concatChunks(buildTorchChunks(stateDict, opts)));
}

export function saveTorchFile(
  file: string,
  stateDict: Map<string, TensorToWrite | RawTensor> | Array<[string, TensorToWrite | RawTensor]>,
  opts: WriteOptions = {},
): void {
  guard(file, () => writeFileAtomic(file, buildTorchChunks(stateDict, opts)));
}
