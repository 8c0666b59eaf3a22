// `winnow export`: a checkpoint file or a run id (the local runs index) to torch / safetensors /
// ONNX through the registered command; usage errors exit 2, an unknown source exits 1, each with a
// message naming what was wrong.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { tempDir } from "./helpers/data-images.js";

const tmp = tempDir("winnow-export-cli-");
process.env.WINNOW_HOME = path.join(tmp, "home");
const { main } = await import("../src/cli/index.js");
const { exportCommand } = await import("../src/cli/export.js");
const { saveRunRecord } = await import("../src/run/store.js");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const CKPT = "/work/shared/fixtures/lightly/resnet-18-w0.25-f16-o64-headPlain.ckpt";

/** Runs the CLI; stderr is captured (stdout is left alone: node's test runner reports through it). */
async function capture(argv: string[]): Promise<{ code: number; err: string }> {
  const w = process.stderr.write.bind(process.stderr);
  let err = "";
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), err };
  } finally {
    process.stderr.write = w;
  }
}

test("winnow export FILE --format onnx writes a file onnxruntime runs (16-d backbone output)", async () => {
  const out = path.join(tmp, "b.onnx");
  const r = await capture(["export", CKPT, "--format", "onnx", "-o", out]);
  assert.equal(r.code, 0, r.err);
  const s = await ort.InferenceSession.create(out);
  const y = await s.run({ input: new ort.Tensor("float32", new Float32Array(2 * 3 * 24 * 24).fill(0.5), [2, 3, 24, 24]) });
  assert.deepEqual([...y.embedding!.dims], [2, 16]);
  await s.release();
});

test("winnow export RUN resolves the run's checkpoint; torch/safetensors default to the whole model", async () => {
  saveRunRecord({
    format: "winnow-run/1", id: "run-x", state: "COMPLETED", input: tmp, output: tmp, configFile: null, startedAt: new Date().toISOString(),
    endedAt: null, durationMs: null, stages: [], checkpoint: CKPT, trained: true, weights: "trained", useDatapool: false,
    datapoolUpdate: false, selectedCount: null, datapoolCount: null, error: null, pid: process.pid,
  });
  const r = await exportCommand("run-x", { format: "safetensors", out: path.join(tmp, "m.safetensors") });
  assert.equal(r.part, "model");
  assert.equal(r.source, "run run-x");
  assert.ok(fs.statSync(r.path).size > 0);
  const t = await capture(["export", "run-x", "--format", "torch", "--part", "backbone", "-o", path.join(tmp, "b.ckpt")]);
  assert.equal(t.code, 0, t.err);
  assert.ok(fs.statSync(path.join(tmp, "b.ckpt")).size > 0);
  const direct = await exportCommand(CKPT, { format: "onnx", part: "model", out: path.join(tmp, "m.onnx"), foldBn: false });
  assert.equal(direct.outputDim, 64);
});

test("bad usage exits 2, an unknown source exits 1, with messages", async () => {
  const a = await capture(["export", CKPT, "--format", "tflite"]);
  assert.equal(a.code, 2);
  assert.match(a.err, /--format must be one of torch, safetensors, onnx, got "tflite"/);
  const b = await capture(["export", CKPT, "--format", "onnx", "--part", "head"]);
  assert.equal(b.code, 2);
  assert.match(b.err, /--part must be one of backbone, model, got "head"/);
  const c = await capture(["export", "no-such-run", "--format", "onnx"]);
  assert.equal(c.code, 1);
  assert.match(c.err, /no-such-run is neither a file nor a run with a checkpoint/);
  const d = await capture(["export", CKPT]);
  assert.equal(d.code, 2);
});
