// loadCheckpoint (the documentation's "Load Model from Checkpoint"): lightly's own checkpoints load
// as the ResNet feature extractor without the 1×1 projection conv and head, and give the features
// PyTorch computes with the recipe reimplemented in plain PyTorch (Sequential of the backbone's
// first 7 children + AdaptiveAvgPool2d(1) + Flatten, weights from model.backbone.0..6).
// docs/embedding-model.md's worked example is examples/finetune.ts, run here as users would run it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import * as torch from "../src/torch/index.js";
import { loadCheckpoint, buildEmbeddingModel, CheckpointMismatchError } from "../src/models/index.js";
import { Oracle } from "./helpers/oracle.js";

torch.setNumThreads(2);
const DIR = "/work/shared/fixtures/lightly";
const PYDIR = resolve("test/helpers/py");
const manifest = JSON.parse(readFileSync(join(DIR, "manifest.json"), "utf8")) as {
  inputs: Record<string, { file: string; shape: number[] }>;
  cases: { name: string; checkpoint: string; model: { name: string; width: number } }[];
};
const input = (k: string): torch.Tensor => {
  const i = manifest.inputs[k]!;
  return torch.fromBytes(new Uint8Array(readFileSync(join(DIR, i.file))), i.shape, "float32");
};
const expansion = (name: string): number => (["resnet-50", "resnet-101", "resnet-152"].includes(name) ? 4 : 1);

test("loadCheckpoint gives PyTorch's recipe features on every lightly fixture (512·width / 2048·width wide)", async () => {
  const base = torch.liveTensors();
  const oracle = new Oracle();
  const mine = new Map<string, { x32: Float32Array; x64: Float32Array; dim: number }>();
  const x32 = input("x32");
  const x64 = input("x64");
  for (const c of manifest.cases) {
    const path = join(DIR, c.checkpoint);
    const model = loadCheckpoint(path, { modelName: c.model.name, width: c.model.width });
    assert.equal(model.training, false);
    const dim = Math.trunc(64 * c.model.width) * 8 * expansion(c.model.name);
    assert.equal(model.outputDim, dim);
    const out = torch.noGrad(() => torch.scope(() => ({ x32: model.forward(x32).data() as Float32Array, x64: model.forward(x64).data() as Float32Array })));
    mine.set(c.name, { ...out, dim });
    model.dispose();
    oracle.add(c.name, { x32, x64 }, String.raw`
import sys
sys.path.insert(0, ${JSON.stringify(PYDIR)})
from torch import nn
from lightly_like import backbone
full = backbone(${JSON.stringify(c.model.name)}, ${c.model.width}, 8)   # BN(3), conv1, bn1, layer1..4, 1x1 conv, pool
model = nn.Sequential(*list(full.children())[:7], nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
ckpt = torch.load(${JSON.stringify(path)}, weights_only=True)
sd = {k[len("model.backbone."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.backbone.")}
sd = {k: v for k, v in sd.items() if int(k.split(".")[0]) < 7}   # drop the 1x1 projection conv
model.load_state_dict(sd, strict=True)
model.eval()
with torch.no_grad():
    O["x32"] = model(I["x32"]); O["x64"] = model(I["x64"])
`);
  }
  x32.dispose();
  x64.dispose();
  const res = await oracle.run();
  for (const c of manifest.cases) {
    const r = res.get(c.name)!;
    const m = mine.get(c.name)!;
    let worst = 0;
    for (const k of ["x32", "x64"] as const) {
      const e = r.tensor(k);
      assert.equal(e.shape[1], m.dim);
      const ev = e.values();
      for (let i = 0; i < ev.length; i++) worst = Math.max(worst, Math.abs(ev[i]! - m[k][i]!));
    }
    console.log(`  ${c.name}: ${m.dim}-d features, max |winnow − pytorch| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5, `${c.name}: ${worst}`);
  }
  assert.equal(torch.liveTensors(), base);
});

test("embedding width: 512 for resnet-18, 2048 for resnet-50 at width 1", () => {
  for (const [name, d] of [["resnet-18", 512], ["resnet-50", 2048]] as const) {
    const m = buildEmbeddingModel(name, 1);
    assert.equal(m.outputDim, d);
    const y = torch.noGrad(() => torch.scope(() => { m.eval(); return m.forward(torch.zeros([1, 3, 16, 16])).shape; }));
    assert.deepEqual(y, [1, d]);
    m.dispose();
  }
});

test("settings are inferred when omitted, checked when given", () => {
  const path = join(DIR, "resnet-50-w0.125-f32-o128-headBN.ckpt");
  const m = loadCheckpoint(path);
  assert.equal(m.modelName, "resnet-50");
  assert.equal(m.width, 0.125);
  assert.equal(m.outputDim, 256);
  m.dispose();
  assert.throws(() => loadCheckpoint(path, { modelName: "resnet-50", width: 0.25 }), (e: unknown) => {
    assert.ok(e instanceof CheckpointMismatchError);
    assert.match(e.message, /does not fit the embedding model resnet-50 width 0.25/);
    assert.match(e.message, /fits \{ modelName: "resnet-50", width: 0.125 \}/);
    return true;
  });
  assert.throws(() => loadCheckpoint(path, { modelName: "resnet-18", width: 0.125 }), /fits \{ modelName: "resnet-50", width: 0.125 \}/);
});

test("docs/embedding-model.md's example is examples/finetune.ts, and it runs: features, embeddings, loss going down, no leaks", () => {
  const doc = readFileSync("docs/embedding-model.md", "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf("<!-- example: examples/finetune.ts -->")));
  assert.ok(block, "the doc has the example block");
  assert.equal(block[1], readFileSync("examples/finetune.ts", "utf8"));
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/finetune.ts", join(DIR, "resnet-18-w0.25-f32-o128-headBN.ckpt"), "resnet-18", "0.25"], {
    encoding: "utf8", timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: "2" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /features: 128 \(resnet-18, width 0.25\)/);
  assert.match(r.stdout, /embeddings: \[8, 128\]/);
  const last = JSON.parse(r.stdout.trim().split("\n").pop()!) as { losses: number[]; liveTensors: number };
  assert.equal(last.losses.length, 5);
  assert.ok(last.losses[4]! < last.losses[0]! / 2, `losses ${last.losses}`);
  assert.equal(last.liveTensors, 0);
});
