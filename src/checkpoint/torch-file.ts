// PyTorch's zip checkpoint format (torch.save with _use_new_zipfile_serialization, torch 1.6 – 2.x):
// <root>/data.pkl (pickle protocol 2), <root>/data/<key> (one record per storage), <root>/version,
// and in 2.x optional byteorder / .format_version / .storage_alignment / .data/* records.
import { CheckpointError, guard, show } from "./errors.js";
import { PickleGlobal, Placeholder, unpickle, type GlobalHandler } from "./pickle-read.js";
import { withSource, type ByteSource } from "./source.js";
import {
  DTYPES,
  RawStorageImpl,
  RawTensorImpl,
  STORAGE_CLASS,
  checkView,
  isRawStorage,
  isRawTensor,
  itemSize,
  type DType,
  type RawStorage,
  type RawTensor,
} from "./tensor.js";
import { ZipReader } from "./zip.js";

/** "torch.FloatStorage" (and the old "torch.cuda.FloatStorage", untyped storages) → dtype. */
const STORAGE_DTYPE = new Map<string, DType>();
for (const d of DTYPES) {
  STORAGE_DTYPE.set(`torch.${STORAGE_CLASS[d]}`, d);
  STORAGE_DTYPE.set(`torch.cuda.${STORAGE_CLASS[d]}`, d);
}
for (const n of ["torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.storage._UntypedStorage", "torch._UntypedStorage"]) {
  STORAGE_DTYPE.set(n, "uint8");
}

export interface ReadOptions {
  /** Unknown classes become inert Placeholders instead of errors (dangerous names are refused anyway). */
  lenient?: boolean;
  /** Name used in error messages when reading bytes. */
  name?: string;
  /** Largest data.pkl accepted (default 256 MiB). */
  maxPickleBytes?: number;
}

function isTuple(x: unknown): x is readonly unknown[] {
  return Array.isArray(x) && Object.isFrozen(x);
}

function asBool(x: unknown, what: string): boolean {
  if (typeof x !== "boolean") throw new CheckpointError(`${what} must be a bool, got ${typeof x}`, "TENSOR");
  return x;
}

function intTuple(x: unknown, what: string): number[] {
  if (!isTuple(x) && !Array.isArray(x)) throw new CheckpointError(`${what} must be a tuple of ints`, "TENSOR");
  const a = x as readonly unknown[];
  if (a.length > 64) throw new CheckpointError(`${what} has ${a.length} dimensions, too many`, "TENSOR");
  return a.map((v) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      throw new CheckpointError(`${what} contains ${typeof v === "bigint" ? `the huge integer ${v}` : `a ${typeof v}`}, expected ints`, "TENSOR");
    }
    return v;
  });
}

function rebuildTensor(args: readonly unknown[], lenient: boolean, fn: string): RawTensor {
  const [storage, offset, size, stride, requiresGrad, hooks] = args;
  if (!isRawStorage(storage)) throw new CheckpointError(`${fn}: first argument is not a storage`, "TENSOR");
  const what = `tensor on storage ${storage.key}`;
  const shape = intTuple(size, `${what}: size`);
  const strides = intTuple(stride, `${what}: stride`);
  checkView(shape, strides, offset, storage.numel, what);
  const rg = args.length > 4 ? asBool(requiresGrad, `${what}: requires_grad`) : false;
  if (args.length > 5 && !lenient && !(hooks instanceof Map)) {
    throw new CheckpointError(`${what}: backward hooks must be an OrderedDict`, "TENSOR");
  }
  return new RawTensorImpl(storage.dtype, shape, strides, offset as number, storage, rg);
}

function tensorGlobals(lenient: boolean): Map<string, GlobalHandler> {
  const g = new Map<string, GlobalHandler>();
  g.set("collections.OrderedDict", {
    reduce: (args) => {
      const m = new Map<unknown, unknown>();
      if (args.length === 0) return m;
      // Python 2 pickled OrderedDict as OrderedDict([[k, v], ...])
      if (args.length === 1 && Array.isArray(args[0])) {
        for (const kv of args[0] as unknown[]) {
          if (!Array.isArray(kv) || kv.length !== 2) throw new CheckpointError("OrderedDict items must be pairs", "PICKLE");
          m.set(kv[0], kv[1]);
        }
        return m;
      }
      throw new CheckpointError("unexpected OrderedDict arguments", "PICKLE");
    },
  });
  g.set("torch._utils._rebuild_tensor_v2", {
    reduce: (args) => {
      if (args.length !== 6 && args.length !== 7) {
        throw new CheckpointError(`_rebuild_tensor_v2 expects 6 or 7 arguments, got ${args.length}`, "TENSOR");
      }
      return rebuildTensor(args, lenient, "_rebuild_tensor_v2");
    },
  });
  g.set("torch._utils._rebuild_tensor", {
    reduce: (args) => {
      if (args.length !== 4) throw new CheckpointError(`_rebuild_tensor expects 4 arguments, got ${args.length}`, "TENSOR");
      return rebuildTensor(args, lenient, "_rebuild_tensor");
    },
  });
  const param = (args: readonly unknown[], min: number, max: number, fn: string): RawTensor => {
    if (args.length < min || args.length > max) throw new CheckpointError(`${fn}: unexpected ${args.length} arguments`, "TENSOR");
    const t = args[0];
    if (!isRawTensor(t)) throw new CheckpointError(`${fn}: data is not a tensor`, "TENSOR");
    const rg = args.length > 1 ? asBool(args[1], `${fn}: requires_grad`) : true;
    return new RawTensorImpl(t.dtype, t.shape, t.stride, t.storageOffset, t.storage, rg);
  };
  g.set("torch._utils._rebuild_parameter", { reduce: (a) => param(a, 3, 3, "_rebuild_parameter") });
  g.set("torch._utils._rebuild_parameter_with_state", { reduce: (a) => param(a, 4, 4, "_rebuild_parameter_with_state") });
  g.set("torch.nn.parameter.Parameter", {
    newobj: (a) => param(a, 1, 2, "Parameter"),
    reduce: (a) => param(a, 1, 2, "Parameter"),
  });
  // torch 2.x wraps tensors that carry Python attributes: _rebuild_from_type_v2(func, type, args, state).
  // The attributes (state) are dropped; in lenient mode a subclass type is read as a plain tensor.
  g.set("torch._tensor._rebuild_from_type_v2", {
    reduce: (a) => {
      const [func, type, fargs] = a;
      if (a.length !== 4 || !(func instanceof PickleGlobal) || !isTuple(fargs)) {
        throw new CheckpointError("_rebuild_from_type_v2 expects (func, type, args, state)", "TENSOR");
      }
      const okType = type instanceof PickleGlobal ? ["torch.Tensor", "torch.nn.parameter.Parameter"].includes(type.fullName) : lenient && type instanceof Placeholder;
      if (!okType) throw new CheckpointError(`_rebuild_from_type_v2: unsupported tensor type ${type instanceof PickleGlobal || type instanceof Placeholder ? `${type.module}.${type.name}` : typeof type}`, "UNSUPPORTED");
      const inner = func.fullName.startsWith("torch._utils._rebuild_") ? g.get(func.fullName)?.reduce : undefined;
      if (!inner) throw new CheckpointError(`_rebuild_from_type_v2: ${func.fullName} is not a tensor rebuilder`, "TENSOR");
      const t = inner(fargs);
      if (!isRawTensor(t)) throw new CheckpointError("_rebuild_from_type_v2 did not produce a tensor", "TENSOR");
      if (type instanceof PickleGlobal && type.name === "Parameter") return new RawTensorImpl(t.dtype, t.shape, t.stride, t.storageOffset, t.storage, t.requiresGrad);
      return t;
    },
  });
  g.set("torch.Tensor", {});
  g.set("torch.Size", {
    reduce: (a) => {
      if (a.length !== 1) throw new CheckpointError("torch.Size expects one argument", "PICKLE");
      return Object.freeze(intTuple(a[0], "torch.Size"));
    },
  });
  // Protocol 2 pickles bytes as _codecs.encode(str, "latin1").
  g.set("_codecs.encode", {
    reduce: (a) => {
      const [s, enc] = a;
      if (a.length !== 2 || typeof s !== "string" || typeof enc !== "string") throw new CheckpointError("_codecs.encode expects (str, encoding)", "PICKLE");
      const e = enc.toLowerCase().replace(/[-_]/g, "");
      if (e === "latin1" || e === "iso88591") {
        const out = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) {
          const c = s.charCodeAt(i);
          if (c > 255) throw new CheckpointError("_codecs.encode: character outside latin-1", "PICKLE");
          out[i] = c;
        }
        return out;
      }
      if (e === "utf8") return new TextEncoder().encode(s);
      throw new CheckpointError(`_codecs.encode: unsupported encoding ${show(enc)}`, "PICKLE");
    },
  });
  g.set("builtins.bytes", {
    reduce: (a) => {
      if (a.length !== 0) throw new CheckpointError("bytes() with arguments is not supported", "PICKLE");
      return new Uint8Array(0);
    },
  });
  // Storage classes only ever appear inside persistent ids; dtype objects are inert values.
  for (const name of STORAGE_DTYPE.keys()) g.set(name, {});
  for (const d of ["float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool", "half", "float", "double", "long", "int", "short"]) {
    g.set(`torch.${d}`, {});
  }
  return g;
}

interface Archive {
  zip: ZipReader;
  root: string;
}

function openArchive(src: ByteSource): Archive {
  if (src.size >= 4) {
    const head = src.read(0, Math.min(src.size, 8), "file header");
    if (head[0] === 0x80 && head[1]! <= 5) {
      throw new CheckpointError(
        "this is a legacy (pre-1.6, non-zip) torch.save file, which is not supported; re-save it with torch >= 1.6",
        "UNSUPPORTED",
      );
    }
    if (!(head[0] === 0x50 && head[1] === 0x4b)) {
      throw new CheckpointError("not a PyTorch checkpoint: the file is not a zip archive", "FORMAT");
    }
  }
  const zip = new ZipReader(src);
  if (zip.entries.length === 0) throw new CheckpointError("the zip archive is empty", "FORMAT");
  const first = zip.entries[0]!.name;
  const slash = first.indexOf("/");
  if (slash <= 0) throw new CheckpointError("not a PyTorch checkpoint: the first zip entry is not inside a folder", "FORMAT");
  return { zip, root: first.slice(0, slash) };
}

function readSmallText(a: Archive, rel: string, max: number): string | undefined {
  const e = a.zip.get(`${a.root}/${rel}`);
  if (!e) return undefined;
  if (e.size > max) throw new CheckpointError(`record ${e.name} is ${e.size} bytes, expected at most ${max}`, "FORMAT");
  return new TextDecoder().decode(a.zip.read(e));
}

function readArchive(src: ByteSource, opts: ReadOptions): unknown {
  const a = openArchive(src);
  const lenient = opts.lenient ?? false;
  const byteorder = readSmallText(a, "byteorder", 64);
  if (byteorder !== undefined) {
    const b = byteorder.trim();
    if (b === "big") {
      throw new CheckpointError("big-endian checkpoint (byteorder record says \"big\") is not supported: re-save it on a little-endian machine", "UNSUPPORTED");
    }
    if (b !== "little") throw new CheckpointError(`unknown byteorder record ${JSON.stringify(b.slice(0, 32))}`, "FORMAT");
  }
  const version = readSmallText(a, ".data/version", 64) ?? readSmallText(a, "version", 64);
  if (version !== undefined && !/^\s*\d{1,6}\s*$/.test(version)) {
    throw new CheckpointError(`unreadable version record ${JSON.stringify(version.slice(0, 32))}`, "FORMAT");
  }
  const pklEntry = a.zip.get(`${a.root}/data.pkl`);
  if (!pklEntry) throw new CheckpointError(`not a PyTorch checkpoint: ${a.root}/data.pkl is missing`, "FORMAT");
  const maxPkl = opts.maxPickleBytes ?? 256 * 1024 * 1024;
  if (pklEntry.size > maxPkl) throw new CheckpointError(`data.pkl is ${pklEntry.size} bytes, more than the ${maxPkl}-byte limit`, "LIMIT");
  const pkl = a.zip.read(pklEntry);

  const storages = new Map<string, RawStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!isTuple(pid) || pid.length !== 5) {
      throw new CheckpointError(`persistent id must be a 5-tuple ('storage', type, key, location, numel)`, "PICKLE");
    }
    const [tag, type, key, location, numel] = pid;
    const tagStr = tag instanceof Uint8Array ? new TextDecoder().decode(tag) : tag;
    if (tagStr !== "storage") throw new CheckpointError(`only storages may be persistent ids, got ${show(tagStr)}`, "PICKLE");
    let dtype: DType | undefined;
    if (type instanceof PickleGlobal) dtype = STORAGE_DTYPE.get(type.fullName);
    if (!dtype) {
      const n = type instanceof PickleGlobal || type instanceof Placeholder ? `${type.module}.${type.name}` : typeof type;
      throw new CheckpointError(`unsupported storage type ${n}`, "UNSUPPORTED");
    }
    if (typeof key !== "string" || key.length === 0 || key.length > 256) throw new CheckpointError("storage key must be a short string", "PICKLE");
    if (typeof location !== "string" || location.length > 64) throw new CheckpointError(`storage ${key}: location must be a short string`, "PICKLE");
    if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
      throw new CheckpointError(`storage ${key}: invalid element count ${show(numel)}`, "TENSOR");
    }
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== dtype || cached.numel !== numel) {
        throw new CheckpointError(`storage ${key} is referenced as ${dtype}[${numel}] and as ${cached.dtype}[${cached.numel}]`, "TENSOR");
      }
      return cached;
    }
    const e = a.zip.get(`${a.root}/data/${key}`);
    if (!e) throw new CheckpointError(`storage record ${a.root}/data/${key} is missing`, "FORMAT");
    const expected = numel * itemSize(dtype);
    // Checked before reading, so an absurd numel never turns into an allocation.
    if (e.size !== expected) {
      throw new CheckpointError(
        `storage ${key}: the pickle claims ${numel} ${dtype} elements (${expected} bytes) but record ${e.name} holds ${e.size} bytes`,
        "TENSOR",
      );
    }
    const s = new RawStorageImpl(key, dtype, numel, a.zip.read(e), location);
    storages.set(key, s);
    return s;
  };
  try {
    return unpickle(pkl, { globals: tensorGlobals(lenient), lenient, persistentLoad });
  } catch (err) {
    if (err instanceof CheckpointError && !err.message.startsWith(`${pklEntry.name}: `)) {
      throw new CheckpointError(`${pklEntry.name}: ${err.message}`, err.code, { cause: err.cause });
    }
    throw err;
  }
}

function checkSrc(src: unknown): void {
  if (typeof src !== "string" && !(src instanceof Uint8Array)) {
    throw new CheckpointError("source must be a path or a Uint8Array", "INVALID_ARGUMENT");
  }
}

/**
 * Reads a torch.save zip checkpoint into a plain object tree (dicts → Map, tuples → frozen arrays,
 * tensors → RawTensor). Safe like torch.load(weights_only=True): nothing in the file is executed.
 * When `src` is a Uint8Array, storage bytes are views into it (no copies).
 */
export function readTorchFile(src: string | Uint8Array, opts: ReadOptions = {}): unknown {
  const name = typeof src === "string" ? src : opts.name;
  return guard(name, () => {
    checkSrc(src);
    return withSource(src, (s) => readArchive(s, opts));
  });
}

function isStateDict(x: unknown): x is Map<unknown, unknown> {
  if (!(x instanceof Map)) return false;
  let tensors = 0;
  for (const [k, v] of x) {
    if (typeof k !== "string") return false;
    if (isRawTensor(v)) tensors++;
    else if (!k.endsWith("_extra_state")) return false;
  }
  return tensors > 0 || x.size === 0;
}

function describeTop(top: unknown): string {
  if (top instanceof Map) {
    const keys = [...top.keys()].slice(0, 10).map(show);
    return `a dict with keys ${keys.join(", ")}${top.size > 10 ? ", …" : ""}`;
  }
  if (top instanceof Placeholder) return `a pickled ${top.module}.${top.name} object (whole-model pickles are not supported; save model.state_dict())`;
  if (isRawTensor(top)) return "a single tensor";
  return Array.isArray(top) ? "a list/tuple" : `a ${typeof top}`;
}

/** Finds the state dict in a checkpoint's object tree (top level, or under a well-known key). */
export function findStateDict(top: unknown): Map<string, RawTensor> {
  let sd: Map<unknown, unknown> | undefined;
  if (top instanceof Map) {
    if (top.size > 0 && isStateDict(top)) sd = top;
    else {
      for (const k of ["state_dict", "model_state_dict", "model", "module", "net", "network"]) {
        const v = top.get(k);
        if (isStateDict(v)) {
          sd = v;
          break;
        }
      }
      if (!sd && top.size === 0) sd = top;
    }
  }
  if (!sd) {
    // Say why the obvious candidate was rejected (e.g. a tensor subclass read as a placeholder).
    const cand = top instanceof Map ? top.get("state_dict") : undefined;
    if (cand instanceof Map) {
      for (const [k, v] of cand) {
        if (typeof k !== "string") throw new CheckpointError(`state_dict has a non-string key (${show(k)})`, "FORMAT");
        if (!isRawTensor(v) && !k.endsWith("_extra_state")) {
          const what = v instanceof Placeholder ? `a ${v.module}.${v.name} object` : show(v);
          throw new CheckpointError(`state_dict entry ${show(k)} is ${what}, not a tensor`, "FORMAT");
        }
      }
    }
    throw new CheckpointError(`no state dict found: the checkpoint holds ${describeTop(top)}`, "FORMAT");
  }
  const out = new Map<string, RawTensor>();
  for (const [k, v] of sd) if (isRawTensor(v)) out.set(k as string, v);
  return out;
}

/**
 * Reads just the state dict (name → RawTensor). Without an explicit `lenient`, a file that fails
 * only because of unknown classes (a Lightning .ckpt's hyper-parameters, say) is re-read leniently;
 * the unknown objects are dropped, never executed.
 */
export function loadStateDictFile(src: string | Uint8Array, opts: { lenient?: boolean; name?: string } = {}): Map<string, RawTensor> {
  const name = typeof src === "string" ? src : opts.name;
  return guard(name, () => {
    checkSrc(src);
    return withSource(src, (s) => {
      let top: unknown;
      if (opts.lenient !== undefined) top = readArchive(s, { lenient: opts.lenient });
      else {
        try {
          top = readArchive(s, { lenient: false });
        } catch (e) {
          if (!(e instanceof CheckpointError) || e.code !== "UNKNOWN_GLOBAL") throw e;
          top = readArchive(s, { lenient: true });
        }
      }
      return findStateDict(top);
    });
  });
}
