// Reading real PyTorch output: the lightly fixtures and files torch.save writes during setup.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  CheckpointError,
  Placeholder,
  isRawStorage,
  loadStateDictFile,
  pickleAttributes,
  rawTensorToContiguousBytes,
  readTorchFile,
  type RawStorage,
  type RawTensor,
} from "../src/checkpoint/index.js";
import { PickleWriter } from "../src/checkpoint/pickle-write.js";
import { hasTorch, makeTempDir, NO_TORCH_REASON, PY_PRELUDE, runPython } from "./helpers/ckpt-python.js";
import { ascii, buildZip, sha256 } from "./helpers/ckpt-build.js";

const FIXTURES = "/work/shared/fixtures/lightly";
// The oracle is required: without /usr/bin/python3 + torch these tests fail (scripts/setup.sh installs it).
assert.ok(hasTorch(), NO_TORCH_REASON);

interface TInfo {
  dtype: string;
  shape: number[];
  stride: number[];
  offset: number;
  sha256: string;
  requires_grad: boolean;
  storage_ptr: number;
  nbytes: number;
}

function checkTensor(name: string, t: RawTensor, want: TInfo): void {
  assert.equal(t.dtype, want.dtype, `${name} dtype`);
  assert.deepEqual(t.shape, want.shape, `${name} shape`);
  assert.deepEqual(t.stride, want.stride, `${name} stride`);
  assert.equal(t.storageOffset, want.offset, `${name} offset`);
  assert.equal(t.requiresGrad, want.requires_grad, `${name} requires_grad`);
  const bytes = rawTensorToContiguousBytes(t);
  assert.equal(bytes.length, want.nbytes, `${name} nbytes`);
  assert.equal(sha256(bytes), want.sha256, `${name} values`);
}

describe("lightly fixtures (torch 1.13 output)", () => {
  const manifest = fs.existsSync(FIXTURES) ? JSON.parse(fs.readFileSync(path.join(FIXTURES, "manifest.json"), "utf8")) : { cases: [] };
  let expected: Record<string, Array<[string, TInfo]>> = {};
  before(() => {
    expected = runPython(
      PY_PRELUDE +
        String.raw`
res = {}
for f in INPUT:
    sd = torch.load(f, weights_only=True)["state_dict"]
    res[f] = [[k, tinfo(v)] for k, v in sd.items()]
out(res)
`,
      manifest.cases.map((c: { checkpoint: string }) => path.join(FIXTURES, c.checkpoint)),
    );
  });
  for (const c of manifest.cases as Array<{ name: string; checkpoint: string; num_keys: number }>) {
    test(c.name, () => {
      const file = path.join(FIXTURES, c.checkpoint);
      const sd = loadStateDictFile(file);
      assert.equal(sd.size, c.num_keys);
      const want = expected[file]!;
      assert.deepEqual([...sd.keys()], want.map(([k]) => k), "key order");
      for (const [k, info] of want) checkTensor(k, sd.get(k)!, info);
      let nbt = 0;
      for (const [k, t] of sd) {
        if (k.endsWith("num_batches_tracked")) {
          nbt++;
          assert.equal(t.dtype, "int64");
          assert.deepEqual(t.shape, []);
        }
      }
      assert.ok(nbt > 0);
      // strict read gives the whole tree: {"state_dict": OrderedDict}
      const top = readTorchFile(file) as Map<string, unknown>;
      assert.ok(top instanceof Map);
      assert.deepEqual([...top.keys()], ["state_dict"]);
    });
  }
});

describe("files written by torch.save", () => {
  let dir = "";
  let info: Record<string, Record<string, TInfo>> = {};
  before(() => {
    dir = makeTempDir();
    info = runPython(
      PY_PRELUDE +
        String.raw`
import argparse
d = INPUT["dir"]
torch.manual_seed(0)
res = {}
x = torch.arange(24, dtype=torch.float32).reshape(4, 6)
base = torch.randn(10, dtype=torch.float64)
mixed = collections.OrderedDict()
mixed["f16"] = torch.randn(3, 5).half()
mixed["bf16"] = torch.randn(2, 3, 4).bfloat16()
mixed["f64"] = torch.randn(7, dtype=torch.float64)
mixed["f32"] = torch.randn(2, 2, 2, 2, 2)
mixed["i32"] = torch.tensor([[-5, 7], [2**31 - 1, -2**31]], dtype=torch.int32)
mixed["i64"] = torch.tensor([2**62, -3, 0], dtype=torch.int64)
mixed["i16"] = torch.tensor([-32768, 5], dtype=torch.int16)
mixed["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
mixed["u8"] = torch.arange(256, dtype=torch.uint8).reshape(16, 16)
mixed["bool"] = torch.tensor([True, False, True])
mixed["transposed"] = x.t()
mixed["offset_view"] = x[2:]
mixed["column"] = x[:, 3]
mixed["strided"] = x[::2, 1::3]
mixed["shared_a"] = base
mixed["shared_b"] = base[3:8].view(5, 1)
mixed["scalar"] = torch.tensor(3.5)
mixed["empty"] = torch.empty(0, 3)
mixed["expanded"] = torch.tensor([1.0, 2.0]).expand(3, 2)
torch.save(mixed, os.path.join(d, "mixed.pt"))
res["mixed"] = {k: tinfo(v) for k, v in mixed.items()}

params = collections.OrderedDict(w=torch.nn.Parameter(torch.randn(3, 2)), frozen=torch.nn.Parameter(torch.randn(2), requires_grad=False))
torch.save(params, os.path.join(d, "params.pt"))
res["params"] = {k: tinfo(v) for k, v in params.items()}

model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
sd = model.state_dict()
torch.save(sd, os.path.join(d, "module.pt"))
res["module"] = {k: tinfo(v) for k, v in sd.items()}

class AttributeDict(dict):
    pass
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(1, 3, 6, 6)).sum().backward()
opt.step()
import numpy as np
ckpt = {
    "epoch": 3,
    "global_step": 30,
    "pytorch-lightning_version": "1.9.0",
    "state_dict": collections.OrderedDict(("model." + k, v) for k, v in sd.items()),
    "hyper_parameters": argparse.Namespace(lr=0.1, name="simclr"),
    "hparams_attr": AttributeDict(batch_size=16, tags=["a", "b"]),
    "loops": collections.defaultdict(list, {"fit_loop": {"epoch_progress": 3}}),
    "np_scalar": np.float64(0.25),
    "optimizer_states": [opt.state_dict()],
    "lr_schedulers": [],
    "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5), "dirpath": "/tmp"}},
    "a_set": {1, 2},
}
torch.save(ckpt, os.path.join(d, "lightning.ckpt"))
res["lightning"] = {k: tinfo(v) for k, v in ckpt["state_dict"].items()}

# protocol 4 exercises FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
torch.save(mixed, os.path.join(d, "proto4.pt"), pickle_protocol=4)
# the pre-1.6 format
torch.save(mixed, os.path.join(d, "legacy.pt"), _use_new_zipfile_serialization=False)
# torch 2.x adds records; emulate them by rewriting the zip with extra entries
with zipfile.ZipFile(os.path.join(d, "mixed.pt")) as zin, zipfile.ZipFile(os.path.join(d, "v2.pt"), "w") as zout:
    for i in zin.infolist():
        zout.writestr(i.filename.replace("mixed/", "archive/"), zin.read(i.filename))
        if i.filename.endswith("data.pkl"):
            zout.writestr("archive/byteorder", "little")
    zout.writestr("archive/.data/version", "3\n")
    zout.writestr("archive/.data/serialization_id", "1234567890")
    zout.writestr("archive/.format_version", "1")
    zout.writestr("archive/.storage_alignment", "64")
out(res)
`,
      { dir },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function checkAll(sd: Map<string, RawTensor>, want: Record<string, TInfo>): void {
    assert.deepEqual([...sd.keys()], Object.keys(want));
    for (const [k, i] of Object.entries(want)) checkTensor(k, sd.get(k)!, i);
  }

  test("every dtype, views, shared storage, 0-dim and empty tensors", () => {
    const sd = loadStateDictFile(path.join(dir, "mixed.pt"));
    checkAll(sd, info.mixed!);
    // sharing is preserved exactly as torch stored it: one storage object, written once
    assert.equal(sd.get("shared_a")!.storage, sd.get("shared_b")!.storage);
    assert.equal(sd.get("transposed")!.storage, sd.get("offset_view")!.storage);
    assert.equal(sd.get("offset_view")!.storageOffset, 12);
    assert.equal(sd.get("scalar")!.storage.numel, 1);
  });

  test("nn.Parameter state dict (_rebuild_parameter) keeps requires_grad", () => {
    const sd = loadStateDictFile(path.join(dir, "params.pt"));
    checkAll(sd, info.params!);
    assert.equal(sd.get("w")!.requiresGrad, true);
    assert.equal(sd.get("frozen")!.requiresGrad, false);
  });

  test("module.state_dict() with _metadata (BUILD on OrderedDict)", () => {
    const top = readTorchFile(path.join(dir, "module.pt")) as Map<string, RawTensor>;
    const meta = pickleAttributes(top) as Map<string, unknown>;
    assert.ok(meta instanceof Map && meta.get("_metadata") instanceof Map);
    checkAll(loadStateDictFile(path.join(dir, "module.pt")), info.module!);
  });

  test("Lightning-like checkpoint: strict read names the class; loadStateDictFile falls back to lenient", () => {
    const file = path.join(dir, "lightning.ckpt");
    assert.throws(
      () => readTorchFile(file),
      (e: unknown) => e instanceof CheckpointError && e.code === "UNKNOWN_GLOBAL" && e.message.includes("argparse.Namespace") && e.message.includes(file),
    );
    assert.throws(() => loadStateDictFile(file, { lenient: false }), /argparse\.Namespace/);
    const sd = loadStateDictFile(file);
    checkAll(sd, info.lightning!);

    const top = readTorchFile(file, { lenient: true }) as Map<string, unknown>;
    assert.equal(top.get("epoch"), 3);
    assert.equal(top.get("pytorch-lightning_version"), "1.9.0");
    const hp = top.get("hyper_parameters") as Placeholder;
    assert.ok(hp instanceof Placeholder);
    assert.equal(`${hp.module}.${hp.name}`, "argparse.Namespace");
    assert.equal(hp.called, true);
    assert.deepEqual([...(hp.state as Map<string, unknown>).entries()], [["lr", 0.1], ["name", "simclr"]]);
    const ad = top.get("hparams_attr") as Placeholder;
    assert.ok(ad instanceof Placeholder && ad.name === "AttributeDict");
    assert.equal(ad.dictItems!.get("batch_size"), 16);
    assert.deepEqual(ad.dictItems!.get("tags"), ["a", "b"]);
    const np = top.get("np_scalar") as Placeholder;
    assert.ok(np instanceof Placeholder && np.name === "scalar");
    // numpy's float64 bytes arrive through _codecs.encode as a Uint8Array, never interpreted
    assert.ok(np.args[1] instanceof Uint8Array);
    assert.equal(new DataView((np.args[1] as Uint8Array).slice().buffer).getFloat64(0, true), 0.25);
    const opt = (top.get("optimizer_states") as unknown[])[0] as Map<string, unknown>;
    const pg = (opt.get("param_groups") as Array<Map<string, unknown>>)[0]!;
    assert.equal(pg.get("lr"), 0.1);
    assert.equal(pg.get("momentum"), 0.9);
    const cb = (top.get("callbacks") as Map<string, Map<string, unknown>>).get("ModelCheckpoint")!;
    assert.deepEqual(cb.get("best_model_score") && (cb.get("best_model_score") as RawTensor).shape, []);
  });

  test("protocol 4 pickles (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)", () => {
    checkAll(loadStateDictFile(path.join(dir, "proto4.pt")), info.mixed!);
  });

  test("torch 2.x records (byteorder, .data/version, serialization_id, ...) are tolerated", () => {
    checkAll(loadStateDictFile(path.join(dir, "v2.pt")), info.mixed!);
  });

  test("the legacy non-zip format (_use_new_zipfile_serialization=False) reads the same tensors", () => {
    checkAll(loadStateDictFile(path.join(dir, "legacy.pt")), info.mixed!);
  });

  test("Uint8Array input: storages are views into the buffer, name used in errors", () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, "mixed.pt")));
    const sd = loadStateDictFile(bytes);
    checkAll(sd, info.mixed!);
    assert.equal(sd.get("f32")!.storage.bytes.buffer, bytes.buffer);
    assert.throws(() => readTorchFile(bytes.subarray(0, 100), { name: "mem.pt" }), /^CheckpointError: mem\.pt: /);
  });
});

describe("torch 2.x constructs (hand-assembled, torch 1.13 cannot write them)", () => {
  // {"a": _rebuild_tensor_v2(..., metadata) , "p": _rebuild_parameter_with_state(...),
  //  "s": _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, (...), {"foo": "bar"}), "u": UntypedStorage}
  function build(): Uint8Array {
    const w = new PickleWriter();
    const storage = (cls: [string, string], numel: number, key = "0") => {
      w.mark();
      w.str("storage");
      w.global(cls[0], cls[1]);
      w.str(key);
      w.str("cpu");
      w.int(numel);
      w.tupleEnd(5).persid();
    };
    const tensorArgs = (extra: () => void) => {
      w.mark();
      storage(["torch", "FloatStorage"], 4);
      w.int(1).intTuple([3]).intTuple([1]).bool(true);
      w.global("collections", "OrderedDict").emptyTuple().reduce();
      extra();
      w.tupleEnd(7);
    };
    w.proto(2).emptyDict();
    w.put();
    w.mark();
    w.str("a");
    w.global("torch._utils", "_rebuild_tensor_v2");
    tensorArgs(() => w.emptyDict().put());
    w.reduce();
    w.str("p");
    w.global("torch._utils", "_rebuild_parameter_with_state");
    w.mark();
    w.global("torch._utils", "_rebuild_tensor_v2");
    tensorArgs(() => w.none());
    w.reduce();
    w.bool(false);
    w.global("collections", "OrderedDict").emptyTuple().reduce();
    w.emptyDict().put();
    w.tupleEnd(4).reduce();
    w.str("s");
    w.global("torch._tensor", "_rebuild_from_type_v2");
    w.mark();
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.global("torch", "Tensor");
    tensorArgs(() => w.none());
    w.emptyDict().put();
    w.str("foo");
    w.str("bar");
    w.setitem();
    w.tupleEnd(4).reduce();
    w.str("u");
    storage(["torch.storage", "UntypedStorage"], 16, "1");
    w.setitems().stop();
    return buildZip([["archive/data.pkl", w.bytes()], ["archive/byteorder", ascii("little")], ["archive/data/0", new Uint8Array(new Float32Array([0, 1, 2, 3]).buffer)], ["archive/data/1", new Uint8Array(16)], ["archive/.data/version", ascii("3\n")]]);
  }
  test("7-argument _rebuild_tensor_v2, _rebuild_parameter_with_state, _rebuild_from_type_v2, UntypedStorage", () => {
    const top = readTorchFile(build()) as Map<string, unknown>;
    const a = top.get("a") as RawTensor;
    assert.deepEqual([a.dtype, a.shape, a.storageOffset, a.requiresGrad], ["float32", [3], 1, true]);
    assert.deepEqual([...new Float32Array(rawTensorToContiguousBytes(a).slice().buffer)], [1, 2, 3]);
    assert.equal((top.get("p") as RawTensor).requiresGrad, false);
    assert.deepEqual((top.get("s") as RawTensor).shape, [3]);
    const u = top.get("u") as RawStorage;
    assert.ok(isRawStorage(u));
    assert.equal(u.dtype, "uint8");
    assert.equal(u.numel, 16);
  });
});
