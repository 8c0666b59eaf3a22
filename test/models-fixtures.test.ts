// Lightly's own checkpoints (/work/shared/fixtures/lightly, made by lightly 1.5.26 + torch 1.13)
// load strictly into Winnow's models and reproduce lightly's backbone and projection outputs;
// key names/shapes of the default build equal lightly's; historic key forms load; a checkpoint
// that does not fit fails with the differences and the settings that would fit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as torch from "../src/torch/index.js";
import * as M from "../src/models/index.js";
import { loadStateDictFile, saveTorchFile, type RawTensor } from "../src/checkpoint/index.js";

torch.setNumThreads(2);
const DIR = "/work/shared/fixtures/lightly";
assert.ok(existsSync(join(DIR, "manifest.json")), `fixtures missing: ${DIR}`);

interface Case {
  name: string;
  checkpoint: string;
  model: { name: string; width: number; num_ftrs: number; out_dim: number; projection_head_batch_norm: boolean };
  num_keys: number;
  outputs: Record<string, Record<"backbone" | "model", { file: string; shape: number[] }>>;
}
const manifest = (JSON.parse(readFileSync(join(DIR, "manifest.json"), "utf8")) as {
  inputs: Record<string, { file: string; shape: number[] }>;
  cases: Case[];
});

const f32 = (file: string, shape: number[]): torch.Tensor => torch.fromBytes(new Uint8Array(readFileSync(join(DIR, file))), shape, "float32");
const cfgOf = (c: Case): M.ModelConfig => ({
  name: c.model.name, width: c.model.width, numFtrs: c.model.num_ftrs, outDim: c.model.out_dim,
  projectionHeadBatchNorm: c.model.projection_head_batch_norm, inputBatchNorm: true, featureConv: true,
});
const maxAbs = (a: torch.Tensor, b: torch.Tensor): number => torch.scope(() => a.sub(b).abs().max().item());

/** Runs every manifest input through `model` (eval) and returns the worst error per output kind. */
function compare(model: M.SimCLR, c: Case): { backbone: number; model: number } {
  const worst = { backbone: 0, model: 0 };
  torch.noGrad(() => torch.scope(() => {
    for (const [inName, inp] of Object.entries(manifest.inputs)) {
      const x = f32(inp.file, inp.shape);
      const ref = c.outputs[inName];
      const e = model.embed(x);
      const z = model.forward(x);
      assert.deepEqual(e.shape, ref.backbone.shape);
      assert.deepEqual(z.shape, ref.model.shape);
      worst.backbone = Math.max(worst.backbone, maxAbs(e, f32(ref.backbone.file, ref.backbone.shape)));
      worst.model = Math.max(worst.model, maxAbs(z, f32(ref.model.file, ref.model.shape)));
    }
  }));
  return worst;
}

for (const c of manifest.cases) {
  test(`${c.name}: strict load, ${c.num_keys} keys, lightly's outputs within 1e-4`, () => {
    const base = torch.liveTensors();
    const model = M.buildModel(cfgOf(c)) as M.SimCLR;
    assert.equal(model.stateDict().size, c.num_keys);
    const r = M.loadCheckpointInto(model, join(DIR, c.checkpoint));
    assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] });
    model.eval();
    const err = compare(model, c);
    assert.ok(err.backbone <= 1e-4, `backbone max abs err ${err.backbone}`);
    assert.ok(err.model <= 1e-4, `projection max abs err ${err.model}`);
    // the settings are recoverable from the checkpoint alone
    assert.deepEqual(M.inferModelConfig(loadStateDictFile(join(DIR, c.checkpoint))), cfgOf(c));
    // BatchNorm counters came through as int64 (3 SGD steps in the fixture)
    const nbt = model.stateDict().get("backbone.0.num_batches_tracked")!;
    assert.equal(nbt.dtype, "int64");
    assert.deepEqual(nbt.toArray(), [3]);
    model.dispose();
    assert.equal(torch.liveTensors(), base);
  });
}

test("default build_model() keys, shapes and dtypes equal lightly's (resnet-18-w1-keys.txt, both head variants)", () => {
  const text = readFileSync(join(DIR, "resnet-18-w1-keys.txt"), "utf8");
  const [a, b] = text.split("# VARIANT B");
  const parse = (s: string): string[] => s.split("\n").filter((l) => l.startsWith("model.")).map((l) => l.trim());
  const variantA = parse(a);
  const variantB = [...variantA.slice(0, 127), ...parse(b)];
  assert.equal(variantA.length, 139);
  assert.equal(variantB.length, 131);
  for (const [bn, expected] of [[true, variantA], [false, variantB]] as const) {
    const model = M.buildModel({ projectionHeadBatchNorm: bn });
    const got = [...model.stateDict("model.")].map(([k, t]) => `${k}\t(${t.shape.join(", ")}${t.shape.length === 1 ? "," : ""})\ttorch.${t.dtype}`);
    assert.deepEqual(got, expected);
    model.dispose();
  }
});

test("historic key forms load: 'features' for 'backbone', heads without 'layers', no 'model.' prefix", () => {
  const c = manifest.cases.find((x) => x.name === "resnet-18-w0.25-f32-o128-headBN")!;
  const raw = loadStateDictFile(join(DIR, c.checkpoint));
  const old = new Map<string, RawTensor>();
  for (const [k, v] of raw) old.set(k.replace("model.backbone.", "model.features.").replace("projection_head.layers.", "projection_head."), v);
  const bare = new Map<string, RawTensor>();
  for (const [k, v] of raw) bare.set(k.slice("model.".length), v);
  const tmp = mkdtempSync(join(tmpdir(), "winnow-hist-"));
  try {
    for (const [label, sd] of [["historic", old], ["bare", bare]] as const) {
      const p = join(tmp, `${label}.ckpt`);
      saveTorchFile(p, sd);
      assert.ok([...loadStateDictFile(p).keys()].some((k) => (label === "historic" ? k.includes("features") : !k.startsWith("model."))));
      const model = M.buildModel(cfgOf(c)) as M.SimCLR;
      M.loadCheckpointInto(model, p);
      model.eval();
      const err = compare(model, c);
      assert.ok(err.backbone <= 1e-4 && err.model <= 1e-4, `${label}: ${JSON.stringify(err)}`);
      model.dispose();
    }
    // loadModelCheckpoint builds the model the file fits by itself
    const { model, config } = M.loadModelCheckpoint(join(tmp, "historic.ckpt"));
    assert.deepEqual(config, cfgOf(c));
    model.eval();
    assert.ok(compare(model as M.SimCLR, c).model <= 1e-4);
    model.dispose();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("a resnet-18 checkpoint into a resnet-9 model fails with the differing keys/shapes and the settings that fit", () => {
  const base = torch.liveTensors();
  const model = M.buildModel({ name: "resnet-9", width: 0.125, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true });
  let err: unknown;
  try {
    M.loadCheckpointInto(model, join(DIR, "resnet-18-w0.25-f32-o128-headBN.ckpt"));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof M.CheckpointMismatchError, String(err));
  const msg = err.message;
  // shapes that differ (width 0.25 vs 0.125)
  assert.match(msg, /backbone\.1\.weight: checkpoint \[16, 3, 3, 3\], model \[8, 3, 3, 3\]/);
  assert.ok(err.shapeMismatches.some((m) => m.key === "backbone.7.weight"));
  // keys only resnet-18 has
  assert.ok(err.unexpectedKeys.includes("backbone.3.1.conv1.weight"));
  assert.match(msg, /unexpected key\(s\) in the checkpoint: .*backbone\.3\.1\.conv1\.weight/);
  assert.deepEqual(err.missingKeys, []);
  // the configured model and the settings that fit
  assert.match(msg, /configured as lightly_config\.model = \{ name: "resnet-9", width: 0\.125, num_ftrs: 32, out_dim: 128 \}/);
  assert.match(msg, /The checkpoint fits lightly_config\.model = \{ name: "resnet-18", width: 0\.25, num_ftrs: 32, out_dim: 128 \}/);
  assert.deepEqual(err.fittingConfig, { name: "resnet-18", width: 0.25, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true, inputBatchNorm: true, featureConv: true });
  model.dispose();
  assert.equal(torch.liveTensors(), base, "a failed load allocates nothing");
});

test("head variant and num_ftrs/out_dim mismatches are reported with the fitting settings", () => {
  const model = M.buildModel({ name: "resnet-18", width: 0.25, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true });
  assert.throws(
    () => M.loadCheckpointInto(model, join(DIR, "resnet-18-w0.25-f16-o64-headPlain.ckpt")),
    (e: unknown) => {
      assert.ok(e instanceof M.CheckpointMismatchError);
      assert.deepEqual(e.fittingConfig, { name: "resnet-18", width: 0.25, numFtrs: 16, outDim: 64, projectionHeadBatchNorm: false, inputBatchNorm: true, featureConv: true });
      assert.match(e.message, /projection_head\.layers\.0\.bias/);
      assert.match(e.message, /num_ftrs: 16, out_dim: 64 \} \(projection head without BatchNorm/);
      return true;
    },
  );
  // non-strict: only the matching subset is wanted, but shape mismatches still fail
  assert.throws(() => M.loadCheckpointInto(model, join(DIR, "resnet-18-w0.25-f16-o64-headPlain.ckpt"), { strict: false }), /shape mismatch/);
  model.dispose();
});

test("an embedding model (backbone only) loads the backbone of a full checkpoint non-strictly", () => {
  const c = manifest.cases[0]!;
  const full = M.buildModel(cfgOf(c)) as M.SimCLR;
  const emb = full.embeddingModel();
  const r = M.loadCheckpointInto(emb, join(DIR, c.checkpoint), { strict: false });
  assert.deepEqual(r.missingKeys, []);
  assert.ok(r.unexpectedKeys.every((k) => k.startsWith("projection_head.")));
  emb.eval();
  torch.noGrad(() => torch.scope(() => {
    const inp = manifest.inputs.x32!;
    const e = emb.forward(f32(inp.file, inp.shape));
    assert.ok(maxAbs(e, f32(c.outputs.x32.backbone.file, c.outputs.x32.backbone.shape)) <= 1e-4);
  }));
  full.dispose();
});
