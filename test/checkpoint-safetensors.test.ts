// safetensors: our writer checked by an independent Python reader (struct + json; the safetensors
// package is not installed), Python-written files read by us, and strict validation of bad headers.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  CheckpointError,
  encodeSafetensors,
  encodeTorchFile,
  loadStateDictFile,
  rawTensorToContiguousBytes,
  readSafetensors,
  saveSafetensors,
  type DType,
  type TensorToWrite,
} from "../src/checkpoint/index.js";
import { hasTorch, makeTempDir, NO_TORCH_REASON, PY_PRELUDE, runPython } from "./helpers/ckpt-python.js";
import { sha256 } from "./helpers/ckpt-build.js";

// The oracle is required: without /usr/bin/python3 + torch these tests fail (scripts/setup.sh installs it).
assert.ok(hasTorch(), NO_TORCH_REASON);

function t(dtype: DType, shape: number[], fill: (i: number) => number): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  const size = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[dtype];
  const data = new Uint8Array(n * size);
  for (let i = 0; i < data.length; i++) data[i] = fill(i) & 0xff;
  return { dtype, shape, data };
}

const TENSORS: Array<[string, TensorToWrite]> = [
  ["model.weight", t("float32", [4, 3], (i) => i * 7)],
  ["model.bias", t("float64", [3], (i) => i)],
  ["half", t("float16", [2, 2], (i) => i * 3)],
  ["brain", t("bfloat16", [5], (i) => i + 1)],
  ["count", t("int64", [], (i) => (i === 0 ? 42 : 0))],
  ["i32", t("int32", [2], (i) => i)],
  ["i16", t("int16", [2], (i) => i)],
  ["i8", t("int8", [3], (i) => 250 + i)],
  ["u8", t("uint8", [1, 1, 3], (i) => i)],
  ["mask", t("bool", [4], (i) => i & 1)],
  ["empty", t("float32", [0, 5], () => 0)],
  ["0", t("float32", [1], () => 9)], // integer-like name: must keep its place (JSON object order trap)
];

function bad(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readSafetensors(bytes, { name: "x.safetensors" }),
    (e: unknown) => e instanceof CheckpointError && e.code !== "INTERNAL" && pattern.test(e.message) && e.message.startsWith("x.safetensors: "),
  );
}

function withHeader(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe("safetensors with python", () => {
  let dir = "";
  let py: any;
  before(() => {
    dir = makeTempDir();
    saveSafetensors(path.join(dir, "ours.safetensors"), TENSORS, { format: "pt", note: "é ✓" });
    py = runPython(
      PY_PRELUDE +
        String.raw`
d = INPUT["dir"]
# independent reader of our file
raw = open(os.path.join(d, "ours.safetensors"), "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header_text = raw[8:8 + n].decode("utf-8")
header = json.loads(header_text, object_pairs_hook=collections.OrderedDict)
data = raw[8 + n:]
sizes = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
read = {"aligned": (8 + n) % 8 == 0, "names": [k for k in header if k != "__metadata__"], "metadata": header.get("__metadata__"), "tensors": {}}
end = 0
for k, v in header.items():
    if k == "__metadata__": continue
    b, e = v["data_offsets"]
    numel = 1
    for s in v["shape"]: numel *= s
    assert e - b == numel * sizes[v["dtype"]], k
    assert b == end, k
    end = e
    read["tensors"][k] = {"dtype": v["dtype"], "shape": v["shape"], "sha256": hashlib.sha256(data[b:e]).hexdigest()}
assert end == len(data)
# a file written by python, like the reference writer (sorted by dtype size then name, padded header)
tensors = collections.OrderedDict()
torch.manual_seed(1)
tensors["conv.weight"] = torch.randn(4, 3, 3, 3)
tensors["bn.num_batches_tracked"] = torch.tensor(7)
tensors["bf"] = torch.randn(6).bfloat16()
tensors["flags"] = torch.tensor([True, False])
names = {torch.float32: "F32", torch.int64: "I64", torch.bfloat16: "BF16", torch.bool: "BOOL"}
order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
hdr = {"__metadata__": {"format": "pt"}}
blob = b""
for k in order:
    v = tensors[k]
    bts = tbytes(v)
    hdr[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [len(blob), len(blob) + len(bts)]}
    blob += bts
hj = json.dumps(hdr).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
with open(os.path.join(d, "py.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + blob)
out({"read": read, "written": {k: tinfo(tensors[k]) for k in order}})
`,
      { dir },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("python reads our file: names in order, dtypes, shapes, bytes, metadata, alignment", () => {
    const r = py.read;
    assert.equal(r.aligned, true);
    assert.deepEqual(r.names, TENSORS.map(([k]) => k));
    assert.deepEqual(r.metadata, { format: "pt", note: "é ✓" });
    const codes: Record<string, string> = { float32: "F32", float64: "F64", float16: "F16", bfloat16: "BF16", int64: "I64", int32: "I32", int16: "I16", int8: "I8", uint8: "U8", bool: "BOOL" };
    for (const [k, v] of TENSORS) {
      assert.equal(r.tensors[k].dtype, codes[v.dtype]);
      assert.deepEqual(r.tensors[k].shape, v.shape);
      assert.equal(r.tensors[k].sha256, sha256(v.data));
    }
  });

  test("we read python's file", () => {
    const { tensors, metadata } = readSafetensors(path.join(dir, "py.safetensors"));
    assert.deepEqual(metadata, { format: "pt" });
    assert.deepEqual([...tensors.keys()], Object.keys(py.written));
    for (const [k, info] of Object.entries<any>(py.written)) {
      const g = tensors.get(k)!;
      assert.equal(g.dtype, info.dtype);
      assert.deepEqual(g.shape, info.shape);
      assert.equal(sha256(rawTensorToContiguousBytes(g)), info.sha256);
    }
  });
});

describe("safetensors without python", () => {
  test("round trip keeps order, dtypes, shapes, bytes and metadata", () => {
    const bytes = encodeSafetensors(new Map(TENSORS), { a: "1" });
    const { tensors, metadata } = readSafetensors(bytes);
    assert.deepEqual(metadata, { a: "1" });
    assert.deepEqual([...tensors.keys()], TENSORS.map(([k]) => k));
    for (const [k, v] of TENSORS) {
      const g = tensors.get(k)!;
      assert.equal(g.dtype, v.dtype);
      assert.deepEqual(g.shape, v.shape);
      assert.deepEqual(rawTensorToContiguousBytes(g), v.data);
    }
    assert.deepEqual(readSafetensors(encodeSafetensors([])).tensors.size, 0);
  });

  test("torch checkpoints convert to safetensors and back", () => {
    const sd = new Map(TENSORS.slice(0, 4));
    const st = readSafetensors(encodeSafetensors(loadStateDictFile(encodeTorchFileLike(sd))));
    for (const [k, v] of sd) assert.deepEqual(rawTensorToContiguousBytes(st.tensors.get(k)!), v.data);
  });

  test("strict validation of malformed files", () => {
    const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
    bad(new Uint8Array(3), /only 3 bytes/);
    bad(withHeader({ a: ok }, new Uint8Array(8)).subarray(0, 20), /exceeds the file|truncated/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    bad(huge, /header length/);
    bad(withHeader("not json", new Uint8Array(0)), /must start with|JSON/);
    bad(withHeader("{\"a\": ", new Uint8Array(0)), /not valid JSON/);
    bad(withHeader("[1,2]"), /must start with '\{'/);
    bad(withHeader({ a: { ...ok, dtype: "C64" } }, new Uint8Array(8)), /unsupported dtype "C64"/);
    bad(withHeader({ a: { ...ok, shape: [3] } }, new Uint8Array(8)), /needs 12 bytes, data_offsets cover 8/);
    bad(withHeader({ a: { ...ok, shape: [-1] } }, new Uint8Array(8)), /invalid dimension -1/);
    bad(withHeader({ a: { ...ok, shape: [2 ** 40, 2 ** 40] } }, new Uint8Array(8)), /overflows/);
    bad(withHeader({ a: { ...ok, data_offsets: [0, 16] } }, new Uint8Array(8)), /outside/);
    bad(withHeader({ a: { ...ok, data_offsets: [8, 0] } }, new Uint8Array(8)), /outside/);
    bad(withHeader({ a: { ...ok, data_offsets: [0, 1e10] } }, new Uint8Array(8)), /outside/);
    bad(withHeader({ a: ok, b: ok }, new Uint8Array(8)), /hole or overlap/);
    bad(withHeader({ a: { ...ok, data_offsets: [4, 12] } }, new Uint8Array(12)), /hole or overlap/);
    bad(withHeader({ a: ok }, new Uint8Array(12)), /data section is 12 bytes but the tensors cover 8/);
    bad(withHeader({ __metadata__: { a: 1 } }), /__metadata__\.a must be a string/);
    bad(withHeader({ a: "x" }), /must be an object/);
  });

  test("writer refuses bad input", () => {
    assert.throws(() => encodeSafetensors([["__metadata__", TENSORS[0]![1]]]), /cannot be a tensor name/);
    assert.throws(() => encodeSafetensors([["a", TENSORS[0]![1]], ["a", TENSORS[0]![1]]]), /duplicate/);
    assert.throws(() => encodeSafetensors([["a", { dtype: "float32", shape: [3], data: new Uint8Array(4) }]]), /needs 12 bytes/);
    assert.throws(() => encodeSafetensors([], { a: 1 as unknown as string }), /must be a string/);
  });
});

function encodeTorchFileLike(sd: Map<string, TensorToWrite>): Uint8Array {
  return encodeTorchFile(sd);
}
