// PyTorch's legacy (non-zip) torch.save format: what torch < 1.6 wrote by default and what
// `_use_new_zipfile_serialization=False` still writes (Lightly's 2020 model-zoo files). The file is
// five pickles back to back — the magic number, the protocol version 1001, a sys-info dict, the
// object (storages as persistent ids ('storage', type, key, location, numel, view)), the sorted
// list of storage keys — followed by each listed storage as an int64 element count and its raw
// little-endian bytes. Read with the same allowlist unpickler as the zip format: nothing runs.
import { CheckpointError, show } from "./errors.js";
import { PickleGlobal, Placeholder, unpickleAt } from "./pickle-read.js";
import type { ByteSource } from "./source.js";
import { RawStorageImpl, itemSize, type DType, type RawStorage } from "./tensor.js";
import { STORAGE_DTYPE, isTuple, tensorGlobals } from "./torch-globals.js";

/** torch.serialization.MAGIC_NUMBER. */
const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;
const FIRST_HEAD = 1 << 20;

/** True when the first bytes are a pickle (protocol ≤ 5) rather than a zip: the legacy format. */
export function looksLegacy(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x80 && head[1]! <= 5;
}

interface LegacyOptions {
  lenient: boolean;
  maxPickleBytes: number;
}

/** Reads a legacy torch.save file into the same object tree the zip reader returns. */
export function readLegacy(src: ByteSource, opts: LegacyOptions): unknown {
  // The pickles' total length is only known once parsed: parse a prefix, doubling it while the
  // stream runs past its end (never beyond the pickle limit), so a large file is not read whole.
  const cap = Math.min(src.size, opts.maxPickleBytes);
  let n = Math.min(src.size, FIRST_HEAD);
  for (;;) {
    const head = src.read(0, n, "legacy checkpoint header");
    try {
      return parse(src, head, opts);
    } catch (e) {
      const truncated = e instanceof CheckpointError && e.code === "PICKLE" && /truncated|without STOP|exceeds the pickle's size|unterminated/.test(e.message);
      if (!truncated || n >= cap) {
        if (truncated && n < src.size) {
          throw new CheckpointError(`the pickles are longer than the ${opts.maxPickleBytes}-byte limit`, "LIMIT");
        }
        throw e;
      }
      n = Math.min(cap, n * 2);
    }
  }
}

function parse(src: ByteSource, head: Uint8Array, opts: LegacyOptions): unknown {
  const plain = { globals: new Map(), lenient: false };
  const magic = unpickleAt(head, { ...plain, start: 0 });
  if (magic.value !== MAGIC && magic.value !== Number(MAGIC)) {
    throw new CheckpointError(`not a PyTorch checkpoint: a pickle, but not torch.save's legacy format (magic number ${show(magic.value)})`, "FORMAT");
  }
  const proto = unpickleAt(head, { ...plain, start: magic.end });
  if (proto.value !== PROTOCOL_VERSION) {
    throw new CheckpointError(`legacy checkpoint: protocol version ${show(proto.value)}, expected ${PROTOCOL_VERSION}`, "UNSUPPORTED");
  }
  const info = unpickleAt(head, { ...plain, start: proto.end });
  if (!(info.value instanceof Map)) throw new CheckpointError("legacy checkpoint: the sys-info record is not a dict", "FORMAT");
  if (info.value.get("little_endian") === false) {
    throw new CheckpointError("big-endian legacy checkpoint is not supported: re-save it on a little-endian machine", "UNSUPPORTED");
  }

  const storages = new Map<string, RawStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!isTuple(pid) || pid.length < 1) throw new CheckpointError("persistent id must be a tuple", "PICKLE");
    const tag = pid[0] instanceof Uint8Array ? new TextDecoder().decode(pid[0]) : pid[0];
    if (tag === "module") throw new CheckpointError("whole-module pickles (with source code) are not supported; save model.state_dict()", "UNSUPPORTED");
    if (tag !== "storage" || pid.length !== 6) {
      throw new CheckpointError(`persistent id must be ('storage', type, key, location, numel, view), got a ${pid.length}-tuple tagged ${show(tag)}`, "PICKLE");
    }
    const [, type, key, location, numel, view] = pid;
    let dtype: DType | undefined;
    if (type instanceof PickleGlobal) dtype = STORAGE_DTYPE.get(type.fullName);
    if (!dtype) {
      const name = type instanceof PickleGlobal || type instanceof Placeholder ? `${type.module}.${type.name}` : typeof type;
      throw new CheckpointError(`unsupported storage type ${name}`, "UNSUPPORTED");
    }
    if (typeof key !== "string" || key.length === 0 || key.length > 256) throw new CheckpointError("storage key must be a short string", "PICKLE");
    if (typeof location !== "string" || location.length > 64) throw new CheckpointError(`storage ${key}: location must be a short string`, "PICKLE");
    if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
      throw new CheckpointError(`storage ${key}: invalid element count ${show(numel)}`, "TENSOR");
    }
    // Storage views (pre-1.0 torch) are not produced by any torch that saves state dicts we know of.
    if (view !== null) throw new CheckpointError(`storage ${key}: storage views are not supported`, "UNSUPPORTED");
    // Bounded by the file before anything is allocated: every storage's bytes must be in it.
    if (numel * itemSize(dtype) > src.size) {
      throw new CheckpointError(`storage ${key}: ${numel} ${dtype} elements cannot fit in a ${src.size}-byte file`, "TENSOR");
    }
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== dtype || cached.numel !== numel) {
        throw new CheckpointError(`storage ${key} is referenced as ${dtype}[${numel}] and as ${cached.dtype}[${cached.numel}]`, "TENSOR");
      }
      return cached;
    }
    const s = new RawStorageImpl(key, dtype, numel, new Uint8Array(0), location);
    storages.set(key, s);
    return s;
  };
  const main = unpickleAt(head, { globals: tensorGlobals(opts.lenient), lenient: opts.lenient, persistentLoad, start: info.end });
  const keys = unpickleAt(head, { ...plain, start: main.end });
  if (!Array.isArray(keys.value) || keys.value.some((k) => typeof k !== "string")) {
    throw new CheckpointError("legacy checkpoint: the storage key list is not a list of strings", "FORMAT");
  }
  const listed = keys.value as string[];
  const listedSet = new Set(listed);
  if (listedSet.size !== listed.length) throw new CheckpointError("legacy checkpoint: a storage key is listed twice", "FORMAT");
  for (const k of storages.keys()) {
    if (!listedSet.has(k)) throw new CheckpointError(`legacy checkpoint: storage ${k} is used but its data is not in the file`, "FORMAT");
  }
  let off = keys.end;
  for (const k of listed) {
    const s = storages.get(k);
    if (!s) throw new CheckpointError(`legacy checkpoint: storage ${show(k)} is listed but no tensor uses it`, "FORMAT");
    const cb = src.read(off, 8, `storage ${k} size`);
    const count = new DataView(cb.buffer, cb.byteOffset, 8).getBigInt64(0, true);
    if (count !== BigInt(s.numel)) {
      throw new CheckpointError(`storage ${k}: the pickle claims ${s.numel} ${s.dtype} elements but the data record holds ${count}`, "TENSOR");
    }
    const nbytes = s.numel * itemSize(s.dtype);
    s.bytes = src.read(off + 8, nbytes, `storage ${k} data`);
    off += 8 + nbytes;
  }
  return main.value;
}
