// Hand-assembles (possibly hostile) torch checkpoints in TypeScript, so malformed cases need no Python.
import { createHash } from "node:crypto";
import { PickleWriter } from "../../src/checkpoint/pickle-write.js";
import { ZipWriter, concatChunks } from "../../src/checkpoint/zip.js";

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A zip laid out like torch.save's, with arbitrary records. */
export function buildZip(records: Array<[string, Uint8Array]>, opts: { forceZip64?: boolean } = {}): Uint8Array {
  const z = new ZipWriter({ forceZip64: opts.forceZip64 });
  for (const [n, d] of records) z.add(n, d);
  return concatChunks(z.finish());
}

export function ascii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Raw pickle bytes from a list of byte values / strings (strings are written as ASCII). */
export function rawPickle(...parts: Array<number | string | Uint8Array>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") for (const c of ascii(p)) out.push(c);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

export interface HostileTensor {
  storageClass?: string;
  key?: string;
  numel: number | bigint;
  offset?: number;
  size: Array<number | bigint>;
  stride: Array<number | bigint>;
}

/**
 * data.pkl for {"t": tensor} with arbitrary (unchecked) storage numel / size / stride, written
 * with the low-level pickle emitter so nothing is validated.
 */
export function tensorPickle(t: HostileTensor): Uint8Array {
  const w = new PickleWriter();
  w.proto(2).emptyDict();
  w.put();
  w.str("t");
  w.global("torch._utils", "_rebuild_tensor_v2");
  w.mark().mark();
  w.str("storage");
  w.global("torch", t.storageClass ?? "FloatStorage");
  w.str(t.key ?? "0");
  w.str("cpu");
  w.int(t.numel);
  w.tupleEnd(5);
  w.persid();
  w.int(t.offset ?? 0);
  w.mark();
  for (const s of t.size) w.int(s);
  w.tupleEnd(4); // always MARK..TUPLE so any length works
  w.mark();
  for (const s of t.stride) w.int(s);
  w.tupleEnd(4);
  w.bool(false);
  w.global("collections", "OrderedDict").emptyTuple().reduce();
  w.tupleEnd(6);
  w.reduce();
  w.setitem();
  w.stop();
  return w.bytes();
}

/** A torch checkpoint whose single tensor is described by `t`, with `recordBytes` bytes of storage. */
export function hostileTensorFile(t: HostileTensor, recordBytes: number, extra: Array<[string, Uint8Array]> = []): Uint8Array {
  return buildZip([
    ["archive/data.pkl", tensorPickle(t)],
    [`archive/data/${t.key ?? "0"}`, new Uint8Array(recordBytes)],
    ...extra,
    ["archive/version", ascii("3\n")],
  ]);
}

/** Overwrites bytes in place (returns a copy). */
export function patch(b: Uint8Array, at: number, bytes: ArrayLike<number>): Uint8Array {
  const c = b.slice();
  c.set(bytes, at);
  return c;
}

export function findBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
