// PyTorch's zip checkpoint format (torch.save with _use_new_zipfile_serialization, torch 1.6 – 2.x):
// <root>/data.pkl (pickle protocol 2), <root>/data/<key> (one record per storage), <root>/version,
// and in 2.x optional byteorder / .format_version / .storage_alignment / .data/* records.
// Files in the legacy non-zip format are handed to torch-legacy.ts.
import { CheckpointError, guard, show } from "./errors.js";
import { PickleGlobal, Placeholder, unpickle } from "./pickle-read.js";
import { STORAGE_DTYPE, isTuple, tensorGlobals } from "./torch-globals.js";
import { looksLegacy, readLegacy } from "./torch-legacy.js";
import { withSource, type ByteSource } from "./source.js";
import { RawStorageImpl, isRawTensor, itemSize, type DType, type RawStorage, type RawTensor } from "./tensor.js";
import { ZipReader } from "./zip.js";

export interface ReadOptions {
  /** Unknown classes become inert Placeholders instead of errors (dangerous names are refused anyway). */
  lenient?: boolean;
  /** Name used in error messages when reading bytes. */
  name?: string;
  /** Largest data.pkl accepted (default 256 MiB). */
  maxPickleBytes?: number;
}

interface Archive {
  zip: ZipReader;
  root: string;
}

function openArchive(src: ByteSource): Archive {
  if (src.size >= 4) {
    const head = src.read(0, Math.min(src.size, 8), "file header");
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

/** Either torch.save format: legacy (a pickle first) or zip. */
function readArchive(src: ByteSource, opts: ReadOptions): unknown {
  if (src.size >= 2 && looksLegacy(src.read(0, 2, "file header"))) {
    return readLegacy(src, { lenient: opts.lenient ?? false, maxPickleBytes: opts.maxPickleBytes ?? 256 * 1024 * 1024 });
  }
  return readZipArchive(src, opts);
}

function readZipArchive(src: ByteSource, opts: ReadOptions): unknown {
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
