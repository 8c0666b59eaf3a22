// Unit-level checks of the pieces: strided copies against a naive reference, CRC-32, pickle
// integers, and the zip writer's layout. No Python needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "../src/checkpoint/index.js";
import { crc32Js } from "../src/checkpoint/crc32.js";
import { rawTensorToContiguousBytes } from "../src/checkpoint/index.js";
import { RawStorageImpl, RawTensorImpl, type DType } from "../src/checkpoint/tensor.js";
import { PickleWriter } from "../src/checkpoint/pickle-write.js";
import { unpickle, isDangerousGlobal } from "../src/checkpoint/pickle-read.js";
import { ZipReader } from "../src/checkpoint/zip.js";
import { MemorySource } from "../src/checkpoint/source.js";
import { buildZip } from "./helpers/ckpt-build.js";

function naive(t: RawTensorImpl, isz: number): Uint8Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * isz);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let e = t.storageOffset;
    for (let d = 0; d < idx.length; d++) e += idx[d]! * t.stride[d]!;
    out.set(t.storage.bytes.subarray(e * isz, e * isz + isz), n * isz);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

test("strided copies equal a naive gather (all item sizes, aligned and unaligned storages)", () => {
  let s = 1;
  const rnd = (n: number) => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n;
  const dts: Array<[DType, number]> = [["float64", 8], ["int64", 8], ["float32", 4], ["bfloat16", 2], ["int8", 1], ["bool", 1]];
  for (let it = 0; it < 2000; it++) {
    const [dt, isz] = dts[rnd(dts.length)]!;
    const nd = 1 + rnd(4);
    const shape = Array.from({ length: nd }, () => rnd(5));
    const stride = Array.from({ length: nd }, () => rnd(6));
    const off = rnd(5);
    let need = off;
    for (let d = 0; d < nd; d++) need += Math.max(shape[d]! - 1, 0) * stride[d]!;
    const numel = need + 1 + rnd(3);
    const buf = Uint8Array.from({ length: numel * isz + 3 }, () => rnd(256));
    const shift = rnd(2) ? 0 : 1 + rnd(2);
    const bytes = buf.subarray(shift, shift + numel * isz);
    const t = new RawTensorImpl(dt, shape, stride, off, new RawStorageImpl("0", dt, numel, bytes, "cpu"), false);
    assert.deepEqual(rawTensorToContiguousBytes(t), naive(t, isz), `${dt} shape ${shape} stride ${stride} offset ${off} shift ${shift}`);
  }
});

test("crc32 matches the table implementation and known values", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const b = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff);
  assert.equal(crc32(b), crc32Js(b));
  assert.equal(crc32(b.subarray(500)), crc32Js(b.subarray(500)));
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test("pickle integers round-trip at every encoding boundary", () => {
  const values: Array<number | bigint> = [0, 1, 255, 256, 65535, 65536, -1, -128, -129, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, 2n ** 53n, -(2n ** 53n), 2n ** 63n, -(2n ** 63n), 2n ** 100n, -(2n ** 100n) + 7n, 127n * 2n ** 56n];
  for (const v of values) {
    const w = new PickleWriter();
    w.proto(2).int(v).stop();
    const got = unpickle(w.bytes(), { globals: new Map(), lenient: false });
    const want = typeof v === "bigint" && v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
    assert.equal(got, want, String(v));
  }
  assert.throws(() => new PickleWriter().int(0.5), /only integers/);
});

test("denylist covers aliases and dunder names, not ordinary classes", () => {
  for (const [m, n] of [["os", "system"], ["posix", "system"], ["__builtin__", "eval"], ["builtins", "getattr"], ["subprocess", "run"], ["os.path", "join"], ["torch.hub", "load"], ["collections", "__class__"]]) {
    assert.equal(isDangerousGlobal(m!, n!), true, `${m}.${n}`);
  }
  for (const [m, n] of [["argparse", "Namespace"], ["collections", "defaultdict"], ["numpy.core.multiarray", "scalar"], ["pathlib", "PosixPath"], ["torch", "FloatStorage"]]) {
    assert.equal(isDangerousGlobal(m!, n!), false, `${m}.${n}`);
  }
});

test("zip writer: 64-byte aligned data, entries readable, empty records without descriptor", () => {
  const recs: Array<[string, Uint8Array]> = [["r/a", new Uint8Array(5).fill(1)], ["r/empty", new Uint8Array(0)], ["r/name-of-another-length", new Uint8Array(70).fill(2)]];
  for (const forceZip64 of [false, true]) {
    const z = buildZip(recs, { forceZip64 });
    const r = new ZipReader(new MemorySource(z));
    assert.deepEqual(r.entries.map((e) => e.name), recs.map(([n]) => n));
    for (const [n, d] of recs) {
      const e = r.get(n)!;
      assert.deepEqual(r.read(e), d);
      assert.equal(e.flags, d.length ? 0x0808 : 0x0800);
      const h = new DataView(z.buffer, z.byteOffset + e.localHeaderOffset);
      const start = e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
      assert.equal(start % 64, 0);
    }
  }
});
