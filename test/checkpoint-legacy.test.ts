// PyTorch's legacy (non-zip) torch.save format and lightly's historic key layouts, built with real
// PyTorch (/usr/bin/python3, torch 1.13): every layout in both formats loads and gives the outputs
// PyTorch's model gives from the same file; hostile or broken legacy files fail with a
// CheckpointError and run nothing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import * as torch from "../src/torch/index.js";
import * as M from "../src/models/index.js";
import { startingCheckpoint } from "../src/models/start-weights.js";
import { CheckpointError, loadStateDictFile, readTorchFile } from "../src/checkpoint/index.js";
import { runTorch, toTensor, hasTorchPython } from "./helpers/nn-pyref.js";
import { findBytes, patch } from "./helpers/ckpt-build.js";
import { tempDir } from "./helpers/data-images.js";

torch.setNumThreads(1);
assert.ok(hasTorchPython(), "/usr/bin/python3 with torch is required (the oracle)");
const DIR = tempDir("winnow-legacy-");
after(() => fs.rmSync(DIR, { recursive: true, force: true }));
const SENTINEL = `/tmp/pwned-legacy-${randomBytes(6).toString("hex")}`;

const LAYOUTS = ["lightly2020", "features-bare", "no-layers", "model-prefix", "bare"] as const;
const CFG: M.ModelConfig = { name: "resnet-9", width: 0.125, numFtrs: 16, outDim: 24, projectionHeadBatchNorm: false, inputBatchNorm: true, featureConv: true };

torch.manualSeed(5);
const X = torch.keep(torch.randn([2, 3, 16, 16]));
const py = runTorch(String.raw`
import collections, pickle
from lightly_like import SimCLRModel
D = JIN["dir"]
torch.manual_seed(0)
m = SimCLRModel("resnet-9", 0.125, 16, 24, batch_norm=False)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
sd = m.state_dict()
def ren(f):
    return collections.OrderedDict((f(k), v) for k, v in sd.items())
old = lambda k: k.replace("backbone.", "features.", 1).replace("projection_head.layers.", "projection_head.")
layouts = {
    # lightly 2020 (Lightning module): model. prefix, features, heads without layers
    "lightly2020": {"state_dict": ren(lambda k: "model." + old(k))},
    "features-bare": ren(lambda k: k.replace("backbone.", "features.", 1)),
    "no-layers": ren(lambda k: k.replace("projection_head.layers.", "projection_head.")),
    "model-prefix": {"state_dict": ren(lambda k: "model." + k)},
    "bare": ren(lambda k: k),
}
def undo(k):
    # what lightly's loader does: drop model., features -> backbone, and (here) put layers back
    k = k[len("model."):] if k.startswith("model.") else k
    k = k.replace("features.", "backbone.", 1)
    if k.startswith("projection_head.") and ".layers." not in k:
        k = k.replace("projection_head.", "projection_head.layers.", 1)
    return k
x = IN["x"]
for name, obj in layouts.items():
    for fmt, z in (("zip", True), ("legacy", False)):
        p = os.path.join(D, name + "-" + fmt + ".pth")
        torch.save(obj, p, _use_new_zipfile_serialization=z)
        # PyTorch's model built from the file
        got = torch.load(p)
        got = got["state_dict"] if "state_dict" in got else got
        r = SimCLRModel("resnet-9", 0.125, 16, 24, batch_norm=False)
        r.load_state_dict({undo(k): v for k, v in got.items()}, strict=True)
        r.eval()
        with torch.no_grad():
            out(name + "-" + fmt + "-emb", r.embed(x)); out(name + "-" + fmt + "-proj", r(x))
# a 2020-style single Linear head (lightly's loader drops heads without "layers")
lin = collections.OrderedDict((old(k), v) for k, v in sd.items() if k.startswith("backbone."))
lin["projection_head.weight"] = torch.randn(128, 16); lin["projection_head.bias"] = torch.randn(128)
torch.save({"state_dict": collections.OrderedDict(("model." + k, v) for k, v in lin.items())}, os.path.join(D, "linear-head-legacy.pth"), _use_new_zipfile_serialization=False)
m.eval()
with torch.no_grad():
    out("linear-emb", m.embed(x))
# small files for the hostile cases, and one whose pickles exceed the first 1 MiB read
w = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32))
torch.save(w, os.path.join(D, "small-legacy.pth"), _use_new_zipfile_serialization=False)
many = collections.OrderedDict(("layer%05d.a_long_parameter_name_that_pads_the_pickle.weight" % i, torch.full((1,), float(i))) for i in range(9000))
torch.save(many, os.path.join(D, "many-legacy.pth"), _use_new_zipfile_serialization=False)
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + JIN["sentinel"],))
torch.save({"state_dict": w, "x": Evil()}, os.path.join(D, "evil-legacy.pth"), _use_new_zipfile_serialization=False)
jout("ok", True)
`, { x: X }, { dir: DIR, sentinel: SENTINEL }, { threads: 1 });

const maxAbs = (a: torch.Tensor, b: torch.Tensor): number => torch.scope(() => a.sub(b).abs().max().item());

for (const layout of LAYOUTS) {
  for (const fmt of ["zip", "legacy"] as const) {
    test(`${layout} (${fmt}): loads, settings inferred, outputs equal PyTorch's model from the same file (1e-5)`, () => {
      const base = torch.liveTensors();
      const file = path.join(DIR, `${layout}-${fmt}.pth`);
      const { model, config } = M.loadModelCheckpoint(file);
      assert.deepEqual(config, CFG);
      model.eval();
      const m = model as M.SimCLR;
      torch.noGrad(() => torch.scope(() => {
        const e = maxAbs(m.embed(X), toTensor(py.tensors[`${layout}-${fmt}-emb`]!));
        const z = maxAbs(m.forward(X), toTensor(py.tensors[`${layout}-${fmt}-proj`]!));
        assert.ok(e <= 1e-5 && z <= 1e-5, `embedding err ${e}, projection err ${z}`);
      }));
      model.dispose();
      assert.equal(torch.liveTensors(), base);
    });
  }
}

test("a head lightly's loader would drop (single Linear, 2020): backbone loaded, head from the seed, with a note", () => {
  const base = torch.liveTensors();
  const out = path.join(DIR, "start.ckpt");
  const r = startingCheckpoint(path.join(DIR, "linear-head-legacy.pth"), CFG, 1, out);
  assert.equal(r.path, out);
  assert.match(r.note!, /backbone loaded; its projection head \(projection_head\.layers\.weight, projection_head\.layers\.bias\) does not fit/);
  const model = M.buildModel(CFG) as M.SimCLR;
  M.loadCheckpointInto(model, out);
  model.eval();
  torch.noGrad(() => torch.scope(() => assert.ok(maxAbs(model.embed(X), toTensor(py.tensors["linear-emb"]!)) <= 1e-5)));
  model.dispose();
  // a file that fits is used as it is
  assert.deepEqual(startingCheckpoint(path.join(DIR, "lightly2020-legacy.pth"), CFG, 1, out), { path: path.join(DIR, "lightly2020-legacy.pth"), note: null });
  // a backbone that does not fit fails with the settings that would fit
  assert.throws(() => startingCheckpoint(path.join(DIR, "lightly2020-legacy.pth"), { ...CFG, width: 0.25 }, 1, out), /fits lightly_config\.model = \{ name: "resnet-9", width: 0\.125, num_ftrs: 16/);
  assert.equal(torch.liveTensors(), base);
});

test("legacy pickles longer than the first 1 MiB read (9,000 tensors) load; the pickle limit holds", () => {
  const file = path.join(DIR, "many-legacy.pth");
  assert.ok(fs.statSync(file).size - 9000 * 12 > 1.2 * 2 ** 20, "the pickles must outgrow the first read");
  const sd = loadStateDictFile(file);
  assert.equal(sd.size, 9000);
  const t = sd.get("layer08999.a_long_parameter_name_that_pads_the_pickle.weight")!;
  assert.equal(new Float32Array(t.storage.bytes.slice().buffer)[0], 8999);
  assert.throws(() => readTorchFile(file, { maxPickleBytes: 4096 }), (e: unknown) => e instanceof CheckpointError && e.code === "LIMIT" && /4096-byte limit/.test(e.message));
});

/** Asserts a CheckpointError (never INTERNAL) with `code` whose message matches. */
function fails(src: Uint8Array | string, re: RegExp, code: string): void {
  for (const lenient of [false, true]) {
    let err: unknown;
    try {
      readTorchFile(src, { lenient, name: "bad.pth" });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${String(err)}`);
    assert.match(err.message, re);
    assert.equal(err.code, code, err.message);
  }
}

test("hostile legacy files: code in the pickle is refused and nothing runs", () => {
  fails(path.join(DIR, "evil-legacy.pth"), /refusing dangerous global (posix|os)\.system/, "UNSAFE_GLOBAL");
  assert.equal(fs.existsSync(SENTINEL), false);
});

test("broken legacy files: magic, byte order, counts, sizes, truncation", () => {
  const good = new Uint8Array(fs.readFileSync(path.join(DIR, "small-legacy.pth")));
  assert.deepEqual([...loadStateDictFile(good).keys()], ["w"]);
  // the magic number (a LONG1 of 10 bytes right after the protocol header)
  fails(patch(good, 4, [0x00]), /not torch\.save's legacy format/, "FORMAT");
  // sys info says big-endian
  const le = findBytes(good, new TextEncoder().encode("little_endian"));
  const t = good.indexOf(0x88, le);
  fails(patch(good, t, [0x89]), /big-endian legacy checkpoint/, "UNSUPPORTED");
  // the storage's element count in the pickle: 6 → 7 (data disagrees), → 255 (cannot fit in the file)
  const cpu = findBytes(good, new TextEncoder().encode("cpu"));
  const k = good.indexOf(0x4b, cpu);
  assert.equal(good[k + 1], 6);
  fails(patch(good, k + 1, [7]), /claims 7 float32 elements but the data record holds 6/, "TENSOR");
  fails(patch(good, k + 1, [255]), /255 float32 elements cannot fit in a \d+-byte file/, "TENSOR");
  // the int64 count before the data, and a file cut short
  const countAt = good.length - 24 - 8;
  fails(patch(good, countAt, [5]), /data record holds 5/, "TENSOR");
  fails(good.subarray(0, good.length - 3), /truncated or corrupt/, "FORMAT");
  fails(good.subarray(0, 30), /truncated/, "PICKLE");
});

test("fuzz: 1,000 random byte mutations of a legacy file load or fail with a CheckpointError (never INTERNAL)", () => {
  const good = new Uint8Array(fs.readFileSync(path.join(DIR, "small-legacy.pth")));
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  let failed = 0;
  for (let i = 0; i < 1000; i++) {
    const b = good.slice();
    for (let k = 0, n = 1 + rnd(4); k < n; k++) b[rnd(b.length)] = rnd(256);
    try {
      readTorchFile(b, { lenient: i % 2 === 1 });
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `mutation ${i}: ${String(e)}`);
      assert.notEqual(e.code, "INTERNAL", `mutation ${i}: ${e.message}`);
      failed++;
    }
  }
  assert.ok(failed > 100, `only ${failed} of 1000 mutations failed`);
});
