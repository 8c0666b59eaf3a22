// Our writer checked by real PyTorch: torch.load(weights_only=True) on torch 1.13, zipfile CRCs,
// 64-byte alignment, and byte-for-byte equality with what torch.save writes for the same dict.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  CheckpointError,
  encodeTorchFile,
  loadStateDictFile,
  rawTensorToContiguousBytes,
  readTorchFile,
  saveTorchFile,
  type DType,
  type RawTensor,
  type TensorToWrite,
} from "../src/checkpoint/index.js";
import { hasTorch, makeTempDir, NO_TORCH_REASON, PY_PRELUDE, runPython } from "./helpers/ckpt-python.js";
import { sha256 } from "./helpers/ckpt-build.js";

// The oracle is required: without /usr/bin/python3 + torch these tests fail (scripts/setup.sh installs it).
assert.ok(hasTorch(), NO_TORCH_REASON);

/** Deterministic pseudo-random bytes; float dtypes get finite values so equality checks are exact. */
function makeTensor(dtype: DType, shape: number[], seed: number, requiresGrad = false): TensorToWrite {
  const numel = shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0 || 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let data: Uint8Array;
  switch (dtype) {
    case "float32": data = new Uint8Array(Float32Array.from({ length: numel }, () => rnd() * 4 - 2).buffer); break;
    case "float64": data = new Uint8Array(Float64Array.from({ length: numel }, () => rnd() * 4 - 2).buffer); break;
    case "int64": data = new Uint8Array(BigInt64Array.from({ length: numel }, () => BigInt(Math.floor(rnd() * 2 ** 40)) - 2n ** 39n).buffer); break;
    case "int32": data = new Uint8Array(Int32Array.from({ length: numel }, () => Math.floor(rnd() * 2 ** 32) - 2 ** 31).buffer); break;
    case "int16": data = new Uint8Array(Int16Array.from({ length: numel }, () => Math.floor(rnd() * 65536) - 32768).buffer); break;
    case "int8": case "uint8": data = Uint8Array.from({ length: numel }, () => Math.floor(rnd() * 256)); break;
    case "bool": data = Uint8Array.from({ length: numel }, () => (rnd() < 0.5 ? 1 : 0)); break;
    case "float16": case "bfloat16": {
      // random 16-bit patterns with the exponent kept away from all-ones (no NaN/Inf)
      const u = Uint16Array.from({ length: numel }, () => {
        const v = Math.floor(rnd() * 65536);
        return dtype === "float16" ? v & 0xbbff : v & 0xbf7f;
      });
      data = new Uint8Array(u.buffer);
      break;
    }
  }
  return { dtype, shape, data, requiresGrad };
}

const ALL: DType[] = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"];

function buildStateDict(): Array<[string, TensorToWrite]> {
  const sd: Array<[string, TensorToWrite]> = [];
  ALL.forEach((d, i) => sd.push([`layer.${d}.weight`, makeTensor(d, [3, 4], 100 + i)]));
  sd.push(["conv.weight", makeTensor("float32", [8, 3, 3, 3], 7)]); // 4 dims: MARK..TUPLE path
  sd.push(["bn.num_batches_tracked", makeTensor("int64", [], 9)]); // 0-dim
  sd.push(["empty", makeTensor("float32", [0, 3], 10)]);
  sd.push(["vector", makeTensor("float32", [1000], 11, true)]);
  sd.push(["big", makeTensor("float32", [70000], 12)]); // sizes past BININT2
  const shared = makeTensor("float32", [6], 13);
  sd.push(["shared.a", shared]);
  sd.push(["shared.b", { dtype: "float32", shape: [2, 3], data: shared.data }]); // same storage object
  return sd;
}

const EXTRA = {
  epoch: 3,
  global_step: 2 ** 40,
  negative: -7,
  huge: 2n ** 70n,
  tag: "résumé ✓",
  flag: true,
  nothing: null,
  lr: "0.1",
  prototypes: makeTensor("float16", [2, 2], 77),
};

const CHECK_PY = PY_PRELUDE + String.raw`
res = {}
for f in INPUT["files"]:
    r = {}
    obj = torch.load(f, weights_only=True)
    sd = obj if INPUT["top_is_sd"].get(f) else obj["state_dict"]
    r["type"] = type(sd).__name__
    r["keys"] = list(sd.keys())
    r["tensors"] = {k: tinfo(v) for k, v in sd.items()}
    if not INPUT["top_is_sd"].get(f):
        r["top_keys"] = list(obj.keys())
        r["extra"] = {k: (tinfo(v) if torch.is_tensor(v) else (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)) for k, v in obj.items() if k != "state_dict"}
    with zipfile.ZipFile(f) as z:
        r["testzip"] = z.testzip()
        r["names"] = [i.filename for i in z.infolist()]
        raw = open(f, "rb").read()
        offs = []
        for i in z.infolist():
            h = i.header_offset
            assert raw[h:h+4] == b"PK\x03\x04"
            n, e = struct.unpack("<HH", raw[h+26:h+30])
            offs.append(h + 30 + n + e)
            assert i.compress_type == 0 and i.flag_bits == (0x0808 if i.file_size else 0x0800)
        r["data_offsets"] = offs
    # torch.save of what torch loaded: must be the same bytes as ours
    if INPUT["resave"].get(f):
        rd = os.path.join(os.path.dirname(f), "resave-" + os.path.basename(f))
        os.makedirs(rd, exist_ok=True)
        p = os.path.join(rd, "archive.pt")
        torch.save(obj, p)
        r["resave_sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    res[f] = r
out(res)
`;

describe("writer checked by torch.load(weights_only=True)", () => {
  let dir = "";
  let res: Record<string, any> = {};
  const files: Record<string, { bytes: Uint8Array; topIsSd: boolean; resave: boolean; sd: Array<[string, TensorToWrite]> }> = {};
  before(() => {
    dir = makeTempDir();
    const sd = buildStateDict();
    const many: Array<[string, TensorToWrite]> = Array.from({ length: 1200 }, (_, i) => [`p${i}`, makeTensor("float32", [2], i)]);
    const add = (name: string, bytes: Uint8Array, o: { topIsSd?: boolean; resave?: boolean; sd: Array<[string, TensorToWrite]> }) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, bytes);
      files[f] = { bytes, topIsSd: o.topIsSd ?? false, resave: o.resave ?? true, sd: o.sd };
    };
    add("with-extra.pt", encodeTorchFile(sd, { extra: EXTRA }), { sd });
    add("plain.pt", encodeTorchFile(new Map(sd)), { sd });
    add("top-level.pt", encodeTorchFile(sd, { stateDictKey: null }), { sd, topIsSd: true });
    add("many.pt", encodeTorchFile(many), { sd: many }); // >1000 items (SETITEMS batches), memo > 255 (LONG_BINPUT)
    add("zip64.pt", encodeTorchFile(sd, { extra: EXTRA, forceZip64: true }), { sd, resave: false });
    saveTorchFile(path.join(dir, "saved.pt"), sd, { rootName: "mymodel" });
    files[path.join(dir, "saved.pt")] = { bytes: new Uint8Array(fs.readFileSync(path.join(dir, "saved.pt"))), topIsSd: false, resave: false, sd };
    res = runPython(CHECK_PY, {
      files: Object.keys(files),
      top_is_sd: Object.fromEntries(Object.entries(files).map(([f, v]) => [f, v.topIsSd])),
      resave: Object.fromEntries(Object.entries(files).map(([f, v]) => [f, v.resave])),
    });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("keys, order, dtypes, shapes, values and requires_grad as torch sees them", () => {
    for (const [f, { sd, topIsSd }] of Object.entries(files)) {
      const r = res[f];
      assert.equal(r.type, "OrderedDict", f);
      assert.deepEqual(r.keys, sd.map(([k]) => k), f);
      for (const [k, t] of sd) {
        const i = r.tensors[k];
        assert.equal(i.dtype, t.dtype, `${f} ${k}`);
        assert.deepEqual(i.shape, t.shape, `${f} ${k}`);
        assert.equal(i.sha256, sha256(t.data), `${f} ${k} values`);
        assert.equal(i.requires_grad, t.requiresGrad ?? false, `${f} ${k}`);
      }
      if (!topIsSd && r.extra && Object.keys(r.extra).length) {
        assert.deepEqual(r.top_keys, ["state_dict", ...Object.keys(EXTRA)]);
        assert.deepEqual(
          { ...r.extra, prototypes: undefined },
          { epoch: "3", global_step: String(2 ** 40), negative: "-7", huge: String(2n ** 70n), tag: "résumé ✓", flag: true, nothing: null, lr: "0.1", prototypes: undefined },
        );
        assert.equal(r.extra.prototypes.sha256, sha256(EXTRA.prototypes.data));
        assert.equal(r.extra.prototypes.dtype, "float16");
      }
    }
  });

  test("tensors given the same buffer share one storage, written once", () => {
    const f = path.join(dir, "plain.pt");
    const r = res[f];
    assert.equal(r.tensors["shared.a"].storage_ptr, r.tensors["shared.b"].storage_ptr);
    assert.notEqual(r.tensors["shared.a"].storage_ptr, r.tensors["vector"].storage_ptr);
    const storages = r.names.filter((n: string) => n.includes("/data/"));
    assert.equal(storages.length, buildStateDict().length - 1);
    // records in torch's string order of keys
    assert.deepEqual(storages, [...storages].sort());
    assert.equal(storages[2], "archive/data/10");
  });

  test("CRCs valid (zipfile.testzip), every record 64-byte aligned, layout like torch", () => {
    for (const f of Object.keys(files)) {
      const r = res[f];
      assert.equal(r.testzip, null, f);
      for (const o of r.data_offsets) assert.equal(o % 64, 0, `${f}: data at ${o}`);
      const root = f.endsWith("saved.pt") ? "mymodel" : "archive";
      assert.equal(r.names[0], `${root}/data.pkl`);
      assert.equal(r.names[r.names.length - 1], `${root}/version`);
    }
  });

  test("byte-for-byte identical to torch.save of the same objects", () => {
    for (const [f, v] of Object.entries(files)) {
      if (!v.resave) continue;
      assert.equal(res[f].resave_sha256, sha256(v.bytes), `${path.basename(f)} differs from torch.save output`);
    }
  });

  test("round trip through our reader (including zip64 records)", () => {
    for (const [f, { sd, topIsSd }] of Object.entries(files)) {
      const got = loadStateDictFile(f);
      assert.deepEqual([...got.keys()], sd.map(([k]) => k));
      for (const [k, t] of sd) {
        const g = got.get(k)!;
        assert.equal(g.dtype, t.dtype);
        assert.deepEqual(g.shape, t.shape);
        assert.equal(g.requiresGrad, t.requiresGrad ?? false);
        assert.deepEqual(rawTensorToContiguousBytes(g), t.data);
      }
      if (!topIsSd && f.includes("extra")) {
        const top = readTorchFile(f) as Map<string, unknown>;
        assert.equal(top.get("epoch"), 3);
        assert.equal(top.get("global_step"), 2 ** 40);
        assert.equal(top.get("huge"), 2n ** 70n);
        assert.equal(top.get("tag"), "résumé ✓");
        assert.equal(top.get("nothing"), null);
        assert.equal((top.get("prototypes") as RawTensor).dtype, "float16");
      }
    }
  });
});

describe("writer without python", () => {
  test("re-encoding what we read reproduces the file (views are made contiguous)", () => {
    const sd: Array<[string, TensorToWrite]> = [["a", makeTensor("bfloat16", [5, 2], 1)], ["b", makeTensor("int8", [3], 2)]];
    const bytes = encodeTorchFile(sd);
    const back = loadStateDictFile(bytes);
    assert.deepEqual(encodeTorchFile(back), bytes);
  });

  test("floats and other unsupported values are refused", () => {
    const sd = [["w", makeTensor("float32", [1], 1)]] as Array<[string, TensorToWrite]>;
    assert.throws(() => encodeTorchFile(sd, { extra: { lr: 0.1 } }), (e: unknown) => e instanceof CheckpointError && /integers/.test(e.message));
    assert.throws(() => encodeTorchFile(sd, { extra: { x: {} as never } }), CheckpointError);
    assert.throws(() => encodeTorchFile(sd, { extra: { state_dict: 1 } }), /collides/);
    assert.throws(() => encodeTorchFile([["w", { dtype: "float32", shape: [2], data: new Uint8Array(4) }]]), /needs 8 bytes/);
    assert.throws(() => encodeTorchFile([["w", { dtype: "complex64" as DType, shape: [1], data: new Uint8Array(8) }]]), /dtype/);
    assert.throws(() => encodeTorchFile([["w", sd[0]![1]], ["w", sd[0]![1]]]), /duplicate/);
    assert.throws(() => encodeTorchFile(sd, { stateDictKey: null, extra: { a: 1 } }), /extra/);
  });

  test("saveTorchFile is atomic: no temp files left, target replaced whole", () => {
    const dir = makeTempDir();
    try {
      const f = path.join(dir, "ck.pt");
      fs.writeFileSync(f, "old");
      saveTorchFile(f, [["w", makeTensor("float32", [4], 3)]]);
      assert.deepEqual(fs.readdirSync(dir), ["ck.pt"]);
      assert.equal(loadStateDictFile(f).get("w")!.shape[0], 4);
      assert.throws(() => saveTorchFile(path.join(dir, "missing-dir", "x.pt"), [["w", makeTensor("float32", [4], 3)]]), (e: unknown) => e instanceof CheckpointError && e.code === "IO");
      assert.deepEqual(fs.readdirSync(dir), ["ck.pt"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
