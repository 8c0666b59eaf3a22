// The pickle allowlist shared by both torch.save formats (zip and legacy): OrderedDict, the tensor
// and parameter rebuilders, storage classes, dtypes, and protocol 2's bytes encoding. Nothing here
// runs code from a file; each handler builds plain data from checked arguments.
import { CheckpointError, show } from "./errors.js";
import { PickleGlobal, Placeholder, type GlobalHandler } from "./pickle-read.js";
import {
  DTYPES,
  RawTensorImpl,
  STORAGE_CLASS,
  checkView,
  isRawStorage,
  isRawTensor,
  type DType,
  type RawTensor,
} from "./tensor.js";

/** "torch.FloatStorage" (and the old "torch.cuda.FloatStorage", untyped storages) → dtype. */
export const STORAGE_DTYPE = new Map<string, DType>();
for (const d of DTYPES) {
  STORAGE_DTYPE.set(`torch.${STORAGE_CLASS[d]}`, d);
  STORAGE_DTYPE.set(`torch.cuda.${STORAGE_CLASS[d]}`, d);
}
for (const n of ["torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.storage._UntypedStorage", "torch._UntypedStorage"]) {
  STORAGE_DTYPE.set(n, "uint8");
}

export function isTuple(x: unknown): x is readonly unknown[] {
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

export function tensorGlobals(lenient: boolean): Map<string, GlobalHandler> {
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

