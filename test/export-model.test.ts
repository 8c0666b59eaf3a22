// Export: ONNX files written by our own protobuf encoder run in onnxruntime-node (CPU) and give
// Winnow's outputs (backbone and whole model, BatchNorm folded or as nodes, two batch sizes and
// input sizes through the same file: dynamic axes); torch and safetensors exports load into plain
// PyTorch (the lightly-architecture model of test/helpers/py/lightly_like.py) and give the same
// outputs. Sources are lightly's own checkpoints (trained 3 steps, so BatchNorm statistics are not
// their initial values): resnet-18 width 0.25 and resnet-50 width 0.125.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import * as torch from "../src/torch/index.js";
import * as M from "../src/models/index.js";
import { exportModel, loadExportSource } from "../src/export/index.js";
import { Oracle } from "./helpers/oracle.js";

torch.setNumThreads(2);
const DIR = "/work/shared/fixtures/lightly";
const PYDIR = resolve("test/helpers/py");
const tmp = mkdtempSync(join(tmpdir(), "winnow-export-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const CASES = ["resnet-18-w0.25-f32-o128-headBN", "resnet-50-w0.125-f32-o128-headPlain"];
const INPUTS = [
  { file: "input-4x3x32x32.f32", shape: [4, 3, 32, 32] },
  { file: "input-2x3x64x64.f32", shape: [2, 3, 64, 64] },
];
const inputData = INPUTS.map((i) => new Float32Array(new Uint8Array(readFileSync(join(DIR, i.file))).buffer));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Winnow's own outputs for every input: [embed, projection]. */
function winnowOutputs(model: M.SimCLR): { embed: Float32Array; proj: Float32Array }[] {
  model.eval();
  return INPUTS.map((inp, k) => torch.noGrad(() => torch.scope(() => {
    const x = torch.tensor(inputData[k]!, { shape: inp.shape });
    return { embed: model.embed(x).data() as Float32Array, proj: model.forward(x).data() as Float32Array };
  })));
}

async function runOnnx(bytes: Uint8Array, k: number): Promise<{ name: string; data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds = { [session.inputNames[0]!]: new ort.Tensor("float32", inputData[k]!, INPUTS[k]!.shape) };
    const out = await session.run(feeds);
    const name = session.outputNames[0]!;
    const t = out[name]!;
    return { name, data: t.data as Float32Array, dims: t.dims };
  } finally {
    await session.release();
  }
}

for (const name of CASES) {
  for (const part of ["backbone", "model"] as const) {
    for (const fold of [true, false]) {
      test(`${name}: ONNX ${part}${fold ? " (BatchNorm folded)" : " (BatchNormalization nodes)"} in onnxruntime matches Winnow`, async () => {
        const base = torch.liveTensors();
        const ckpt = join(DIR, `${name}.ckpt`);
        const r = exportModel(ckpt, { format: "onnx", part, foldBatchNorm: fold, out: join(tmp, `${name}-${part}-${fold}.onnx`) });
        assert.deepEqual(readFileSync(r.path!), Buffer.from(r.bytes));
        const { model } = loadExportSource(ckpt);
        const mine = winnowOutputs(model);
        model.dispose();
        let worst = 0;
        for (let k = 0; k < INPUTS.length; k++) {
          const o = await runOnnx(r.bytes, k);
          assert.equal(o.name, part === "model" ? "projection" : "embedding");
          assert.deepEqual([...o.dims], [INPUTS[k]!.shape[0], r.outputDim]);
          const ref = part === "model" ? mine[k]!.proj : mine[k]!.embed;
          worst = Math.max(worst, maxAbs(o.data, ref));
        }
        console.log(`  ${name} ${part} fold=${fold}: ${r.tensors} initializers, ${r.bytes.length} bytes, max |onnxruntime − winnow| = ${worst.toExponential(2)}`);
        assert.ok(worst < 1e-4, `max abs error ${worst}`);
        assert.equal(torch.liveTensors(), base);
      });
    }
  }
}

test("ONNX export refuses a module it cannot express, naming it", () => {
  const model = M.buildModel({ name: "resnet-9", width: 0.125, numFtrs: 8, outDim: 8 }) as M.SimCLR;
  try {
    const r = M.resnetGenerator("resnet-9", 0.125);
    assert.throws(() => exportModel(r as unknown as M.SimCLR, { format: "onnx" }), /expected a SimCLR model.*ResNet/);
    r.dispose();
    assert.throws(() => exportModel(model, { format: "onnx", opset: 9 }), /opset 9 is not supported/);
    assert.throws(() => exportModel(model, { format: "zip" as "onnx" }), /format must be one of torch, safetensors, onnx, got "zip"/);
  } finally {
    model.dispose();
  }
});

test("torch and safetensors exports load into plain PyTorch and give Winnow's outputs", async () => {
  const base = torch.liveTensors();
  const oracle = new Oracle();
  const expected: { file: string; kind: string; part: string; mine: { embed: Float32Array; proj: Float32Array }[]; keys: number }[] = [];
  for (const name of CASES) {
    const ckpt = join(DIR, `${name}.ckpt`);
    const { model, config } = loadExportSource(ckpt);
    const mine = winnowOutputs(model);
    for (const format of ["torch", "safetensors"] as const) {
      for (const part of ["model", "backbone"] as const) {
        const file = join(tmp, `${name}-${part}.${format === "torch" ? "ckpt" : "safetensors"}`);
        // From the model in memory for one format, from the checkpoint file for the other.
        const r = exportModel(format === "torch" ? model : ckpt, { format, part, out: file });
        expected.push({ file, kind: format, part, mine, keys: r.tensors });
        const cfg = { name: config.name, width: config.width, numFtrs: config.numFtrs, outDim: config.outDim, bn: config.projectionHeadBatchNorm };
        const x32 = torch.tensor(inputData[0]!, { shape: INPUTS[0]!.shape });
        const x64 = torch.tensor(inputData[1]!, { shape: INPUTS[1]!.shape });
        oracle.add(`${name}-${format}-${part}`, { x32, x64 }, String.raw`
import sys, json, struct
sys.path.insert(0, ${JSON.stringify(PYDIR)})
from lightly_like import SimCLRModel
c = json.loads(${JSON.stringify(JSON.stringify(cfg))})
m = SimCLRModel(c["name"], c["width"], c["numFtrs"], c["outDim"], c["bn"])
path = ${JSON.stringify(file)}
if ${JSON.stringify(format)} == "torch":
    ck = torch.load(path, weights_only=True)
    sd = {k[len("model."):]: v for k, v in ck["state_dict"].items()}
    assert all(k.startswith("model.") for k in ck["state_dict"])
else:
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__")
    assert json.loads(meta["winnow.model"])["name"] == c["name"], meta
    DT = {"F32": torch.float32, "I64": torch.int64}
    sd = {}
    for k, v in head.items():
        b, e = v["data_offsets"]
        sd[k] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=DT[v["dtype"]]).reshape(v["shape"])
missing = m.load_state_dict(sd, strict=${JSON.stringify(part)} == "model")
O["n"] = len(sd)
if ${JSON.stringify(part)} == "backbone":
    assert all(k.startswith("projection_head.") for k in missing.missing_keys) and not missing.unexpected_keys
m.eval()
with torch.no_grad():
    O["e32"] = m.embed(I["x32"]); O["e64"] = m.embed(I["x64"])
    O["z32"] = m(I["x32"]); O["z64"] = m(I["x64"])
`);
        x32.dispose();
        x64.dispose();
      }
    }
    model.dispose();
  }
  const res = await oracle.run();
  for (const e of expected) {
    const r = res.get(`${e.file.split("/").pop()!.replace(/-(model|backbone)\.(ckpt|safetensors)$/, "")}-${e.kind}-${e.part}`)!;
    assert.equal(r.num("n"), e.keys);
    let worst = Math.max(maxAbs(r.tensor("e32").values(), e.mine[0]!.embed), maxAbs(r.tensor("e64").values(), e.mine[1]!.embed));
    if (e.part === "model") worst = Math.max(worst, maxAbs(r.tensor("z32").values(), e.mine[0]!.proj), maxAbs(r.tensor("z64").values(), e.mine[1]!.proj));
    console.log(`  ${e.file.split("/").pop()} (${e.kind}, ${e.keys} tensors): max |pytorch − winnow| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `${e.file}: ${worst}`);
  }
  assert.equal(torch.liveTensors(), base);
});

test("an exported backbone re-exports (backbone only); asking it for the whole model fails clearly", () => {
  const src = join(DIR, `${CASES[0]}.ckpt`);
  const bb = join(tmp, "bb-only.safetensors");
  exportModel(src, { format: "safetensors", part: "backbone", out: bb });
  const again = exportModel(bb, { format: "torch", part: "backbone" });
  const direct = exportModel(src, { format: "torch", part: "backbone" });
  assert.deepEqual(Buffer.from(again.bytes), Buffer.from(direct.bytes));
  assert.throws(() => exportModel(bb, { format: "onnx", part: "model" }), /holds a backbone only \(no projection head\)/);
  writeFileSync(join(tmp, "junk.ckpt"), "not a checkpoint");
  assert.throws(() => exportModel(join(tmp, "junk.ckpt"), { format: "onnx" }));
});
