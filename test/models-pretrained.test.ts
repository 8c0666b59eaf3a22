// Pretrained backbones (torchvision/resnet*, dinov2/vit*): random weights saved by real PyTorch in
// the publisher's key layout (test/helpers/py/pretrained_ref.py: torchvision's own models; DINOv2 as
// a plain-PyTorch model written from the published architecture, its keys checked there against the
// official list) load strictly and reproduce PyTorch's outputs; SimCLR over them saves checkpoints
// that loadCheckpoint reads back; ONNX export runs in onnxruntime-node; the weights lookup.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import * as torch from "../src/torch/index.js";
import * as nn from "../src/nn/index.js";
import * as M from "../src/models/index.js";
import { loadStateDictFile } from "../src/checkpoint/index.js";
import { buildPretrainedBackbone, PRETRAINED_BACKBONES } from "../src/models/pretrained.js";
import { resolveWeightsFile, weightsFolders } from "../src/models/weights/resolve.js";
import { exportModel } from "../src/export/index.js";
import { ntXentLoss } from "../src/ssl/index.js";
import { PYTHON } from "./helpers/oracle.js";

torch.setNumThreads(2);
const HERE = new URL(".", import.meta.url).pathname;
let dir: string;
let meta: Record<string, { in: number[]; out: number[]; logits?: number[]; square?: number[] }> & { shapes: Record<string, Record<string, number[]>> };

before(() => {
  dir = mkdtempSync(join(tmpdir(), "winnow-pretrained-"));
  execFileSync(PYTHON, [join(HERE, "helpers/py/pretrained_ref.py"), dir, "resnet18,resnet50,vits14,resnet34:shapes,resnet101:shapes,vitb14:shapes"], {
    env: { ...process.env, OMP_NUM_THREADS: "2" }, stdio: ["ignore", "inherit", "inherit"],
  });
  meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (file: string): Float32Array => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};
/** max |a − b| / max |b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const CASES = [["resnet18", "torchvision/resnet18"], ["resnet50", "torchvision/resnet50"], ["vits14", "dinov2/vits14"]] as const;

for (const [arch, name] of CASES) {
  test(`${name}: PyTorch's state_dict loads strictly and gives PyTorch's embeddings (1e-5 relative)`, () => {
    const base = torch.liveTensors();
    // loadCheckpoint on the publisher-layout file: architecture recognised from the keys, strict load.
    const model = M.loadCheckpoint(join(dir, `${arch}.pth`));
    assert.equal(model.modelName, name);
    assert.equal(model.training, false);
    assert.equal(model.outputDim, PRETRAINED_BACKBONES[name]!.numFeatures);
    const x = torch.tensor(f32(join(dir, `${arch}.in.f32`)), { shape: meta[arch]!.in });
    const y = torch.noGrad(() => torch.scope(() => model.forward(x).data() as Float32Array));
    const err = relErr(y, f32(join(dir, `${arch}.out.f32`)));
    console.log(`  ${name}: max rel error vs PyTorch ${err.toExponential(2)}`);
    assert.ok(err < 1e-5, `relative error ${err}`);
    if (arch === "resnet18") {
      const logits = torch.noGrad(() => torch.scope(() => (model as ReturnType<typeof buildPretrainedBackbone> & { logits(x: torch.Tensor): torch.Tensor }).logits(x).narrow(1, 0, 5).contiguous().data() as Float32Array));
      assert.ok(relErr(logits, meta[arch]!.logits!) < 1e-5, "fc logits");
    }
    if (arch === "vits14") {
      // A square input (4×4 patches) takes another interpolation of the 37×37 grid.
      const sq = torch.noGrad(() => torch.scope(() => model.forward(x.narrow(3, 0, 56).contiguous()).data() as Float32Array));
      assert.ok(relErr(sq, meta[arch]!.square!) < 1e-5, "square input");
      assert.throws(() => torch.noGrad(() => torch.scope(() => model.forward(torch.zeros([1, 3, 50, 56])))), /50×56 px is not a multiple of the patch size 14/);
    }
    x.dispose();
    model.dispose();
    assert.equal(torch.liveTensors(), base);
  });
}

test("the bigger architectures have torchvision's / DINOv2's exact keys and shapes", () => {
  for (const [arch, name] of [["resnet34", "torchvision/resnet34"], ["resnet101", "torchvision/resnet101"], ["vitb14", "dinov2/vitb14"]] as const) {
    const model = buildPretrainedBackbone(name);
    const mine = Object.fromEntries([...model.stateDict()].filter(([k]) => !k.endsWith("num_batches_tracked")).map(([k, t]) => [k, t.shape]));
    const ref = Object.fromEntries(Object.entries(meta.shapes[arch]!).filter(([k]) => !k.endsWith("num_batches_tracked")));
    assert.deepEqual(mine, ref, name);
    assert.ok([...model.stateDict().keys()].filter((k) => k.endsWith("num_batches_tracked")).length === Object.keys(meta.shapes[arch]!).filter((k) => k.endsWith("num_batches_tracked")).length);
    model.dispose();
  }
});

test("SimCLR over a pretrained backbone: publisher weights in, a training step, checkpoint keys model.backbone.<publisher keys>, loadCheckpoint", () => {
  const base = torch.liveTensors();
  const model = M.buildModel({ name: "torchvision/resnet18", outDim: 16, projectionHeadBatchNorm: false }) as M.SimCLR;
  assert.equal(model.config.numFtrs, 512);
  // The publisher's file goes into the backbone (as the trainer and embedImages load it); another architecture's is refused.
  assert.throws(() => M.loadStartingWeights(model, loadStateDictFile(join(dir, "resnet50.pth"))), /shape mismatch|layer1\.0\.conv3/);
  M.loadStartingWeights(model, loadStateDictFile(join(dir, "resnet18.pth")));
  const ref = loadStateDictFile(join(dir, "resnet18.pth")).get("layer4.1.conv2.weight")!;
  assert.deepEqual(model.backbone.stateDict().get("layer4.1.conv2.weight")!.shape, ref.shape);
  const opt = new nn.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  torch.manualSeed(3);
  const loss = torch.scope(() => {
    const x = torch.randn([4, 3, 32, 32]);
    const l = ntXentLoss(model.forward(x), model.forward(x.flip(3)), 0.5);
    opt.zeroGrad();
    l.backward();
    opt.step();
    return l.item();
  });
  assert.ok(Number.isFinite(loss));
  const path = join(dir, "simclr-tv18.ckpt");
  M.saveCheckpoint(model, path);
  const keys = [...loadStateDictFile(path).keys()];
  assert.ok(keys.includes("model.backbone.layer4.1.bn2.running_var") && keys.includes("model.backbone.fc.weight") && keys.includes("model.projection_head.layers.2.weight"));
  const fit = M.inferModelConfig(loadStateDictFile(path));
  assert.deepEqual(fit, { name: "torchvision/resnet18", width: 1, numFtrs: 512, outDim: 16, projectionHeadBatchNorm: false, inputBatchNorm: false, featureConv: false });
  model.eval();
  const x = torch.randn([2, 3, 32, 32]);
  const a = torch.noGrad(() => torch.scope(() => model.embed(x).data() as Float32Array));
  const back = M.loadCheckpoint(path);
  const b = torch.noGrad(() => torch.scope(() => back.forward(x).data() as Float32Array));
  assert.deepEqual(b, a);
  x.dispose();
  back.dispose();
  model.dispose();
  opt.dispose();
  assert.equal(torch.liveTensors(), base);
});

async function onnxOut(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x, shape) });
    return out[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const [arch, name] of [["resnet18", "torchvision/resnet18"], ["vits14", "dinov2/vits14"]] as const) {
  test(`${name}: ONNX export (backbone and whole model) runs in onnxruntime within 1e-4; torch and safetensors exports reload`, async () => {
    const base = torch.liveTensors();
    torch.manualSeed(5);
    const model = M.buildModel({ name, outDim: 8 }) as M.SimCLR;
    M.loadCheckpointInto(model.backbone, loadStateDictFile(join(dir, `${arch}.pth`)));
    model.eval();
    const shape = [2, 3, 56, 56];
    const xs = torch.randn(shape);
    const xData = xs.data() as Float32Array;
    const want = torch.noGrad(() => torch.scope(() => ({ e: model.embed(xs).data() as Float32Array, z: model.forward(xs).data() as Float32Array })));
    for (const part of ["backbone", "model"] as const) {
      const r = exportModel(model, { format: "onnx", part, inputSize: 56 });
      const got = await onnxOut(r.bytes, xData, shape);
      let worst = 0;
      const ref = part === "model" ? want.z : want.e;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      console.log(`  ${name} ONNX ${part}: ${r.bytes.length} bytes, max |onnxruntime − winnow| = ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4, `${part}: ${worst}`);
    }
    for (const format of ["torch", "safetensors"] as const) {
      const out = join(dir, `${arch}-export.${format}`);
      exportModel(model, { format, out });
      const re = exportModel(out, { format: "onnx", part: "model", inputSize: 56 });
      const got = await onnxOut(re.bytes, xData, shape);
      for (let i = 0; i < want.z.length; i++) assert.ok(Math.abs(got[i]! - want.z[i]!) < 1e-4, `${format} re-export`);
    }
    xs.dispose();
    model.dispose();
    assert.equal(torch.liveTensors(), base);
  });
}

test("weights lookup: Winnow's cache first, then torch hub; sha256 prefix checked; a missing file names its URL and both folders", async () => {
  const root = mkdtempSync(join(tmpdir(), "winnow-weights-"));
  const env = { WINNOW_HOME: join(root, "winnow"), TORCH_HOME: join(root, "torch") };
  const f = weightsFolders(env);
  assert.equal(f.winnow, join(root, "winnow", "models"));
  assert.equal(f.torchHub, join(root, "torch", "hub", "checkpoints"));
  const spec = { fileName: "w-2cf24dba.pth", url: "https://example.invalid/w-2cf24dba.pth", sha256Prefix: "2cf24dba" }; // sha256("hello") = 2cf24dba…
  await assert.rejects(resolveWeightsFile(spec, { env }), (e: Error) => e.message.includes(spec.url) && e.message.includes(f.winnow) && e.message.includes(f.torchHub));
  mkdirSync(f.torchHub, { recursive: true });
  writeFileSync(join(f.torchHub, spec.fileName), "hello");
  assert.equal((await resolveWeightsFile(spec, { env })).source, "torch-hub");
  mkdirSync(f.winnow, { recursive: true });
  writeFileSync(join(f.winnow, spec.fileName), "hello");
  const r = await resolveWeightsFile(spec, { env });
  assert.equal(r.source, "winnow-cache");
  assert.ok(r.sha256.startsWith("2cf24dba"));
  writeFileSync(join(f.winnow, spec.fileName), "tampered");
  await assert.rejects(resolveWeightsFile(spec, { env }), /does not match the published sha256 prefix 2cf24dba/);
  rmSync(root, { recursive: true, force: true });
});
