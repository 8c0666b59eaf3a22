// `winnow embed <folder>`: each output format, read back by its consumer (numpy for .npy,
// torch.load(weights_only=True) for torch, Lightly's CSV layout), equal across formats and to the
// backbone's own forward; a pretrained backbone found in torch hub's folder by name; corrupt
// files reported; a missing weights file is a clear error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { tempDir, write, solid, quadrants, rawPng } from "./helpers/data-images.js";
import { PYTHON } from "./helpers/oracle.js";

const tmp = tempDir("winnow-embed-cli-");
process.env.WINNOW_HOME = path.join(tmp, "home");
process.env.TORCH_HOME = path.join(tmp, "torch");
const { main } = await import("../src/cli/index.js");
const torch = await import("../src/torch/index.js");
torch.setNumThreads(2);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const HERE = new URL(".", import.meta.url).pathname;
const images = path.join(tmp, "images");
const refs = path.join(tmp, "refs");

before(async () => {
  fs.mkdirSync(refs);
  execFileSync(PYTHON, [path.join(HERE, "helpers/py/pretrained_ref.py"), refs, "resnet18,vits14"], { env: { ...process.env, OMP_NUM_THREADS: "2" }, stdio: ["ignore", "inherit", "inherit"] });
  write(images, "a.png", await solid("png", 40, 30, [200, 30, 30]));
  write(images, "b,comma.png", await rawPng(quadrants(48, 48), 48, 48));
  write(images, "sub/c.jpg", await solid("jpeg", 33, 61, [20, 180, 90]));
  write(images, "broken.png", "not a png");
});

/** Runs the CLI; stderr is captured, and the command's own stdout line (other stdout, node's test runner reports, passes through). */
async function capture(argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const we = process.stderr.write.bind(process.stderr);
  const wo = process.stdout.write.bind(process.stdout);
  let err = "";
  let out = "";
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  process.stdout.write = ((s: string, ...rest: unknown[]) => {
    if (typeof s === "string" && s.startsWith("embedded ")) return ((out += s), true);
    return (wo as (...a: unknown[]) => boolean)(s, ...rest);
  }) as typeof process.stdout.write;
  try {
    return { code: await main(argv), err, out };
  } finally {
    process.stderr.write = we;
    process.stdout.write = wo;
  }
}

const py = (code: string): string => execFileSync(PYTHON, ["-c", code], { encoding: "utf8" });

test("every --format holds the same embeddings, readable by its consumer; corrupt files listed", async () => {
  const ckpt = path.join(refs, "resnet18.pth"); // torchvision's layout, as the publisher's file
  const outs: Record<string, string> = { lightly_csv: "e.csv", csv: "plain.csv", npy: "e.npy", torch: "e.pt" };
  for (const [format, name] of Object.entries(outs)) {
    const r = await capture(["embed", images, "--checkpoint", ckpt, "--format", format, "-o", path.join(tmp, name), "--input-size", "32", "--device", "cpu"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /embedded 3 images \(512-d, torchvision\/resnet18/);
    assert.match(r.err, /1 corrupt file\(s\) skipped/);
  }
  assert.equal(fs.readFileSync(path.join(tmp, "e.corrupt_filenames.txt"), "utf8"), "broken.png\n");
  // Lightly's CSV
  const lightly = fs.readFileSync(path.join(tmp, "e.csv"), "utf8").split("\r\n");
  assert.equal(lightly[0], `filenames,${Array.from({ length: 512 }, (_, j) => `embedding_${j}`).join(",")},labels`);
  assert.ok(lightly[1]!.startsWith('a.png,') && lightly[2]!.startsWith('"b,comma.png",') && lightly[3]!.startsWith("sub/c.jpg,") && lightly[1]!.endsWith(",0"));
  const fromLightly = lightly.slice(1, 4).map((l) => l.replace(/^"[^"]*"|^[^,]*/, "").split(",").slice(1, -1).map(Number));
  // plain CSV
  const plain = fs.readFileSync(path.join(tmp, "plain.csv"), "utf8").trimEnd().split("\n");
  assert.ok(plain[0]!.startsWith("filename,embedding_0,") && plain.length === 4);
  const fromPlain = plain.slice(1).map((l) => l.replace(/^"[^"]*"|^[^,]*/, "").split(",").slice(1).map(Number));
  // numpy and torch
  const fromNpy = JSON.parse(py(`import numpy as np, json; a = np.load(${JSON.stringify(path.join(tmp, "e.npy"))}); assert a.dtype == np.float32 and a.shape == (3, 512), (a.dtype, a.shape); print(json.dumps(a.astype(float).tolist()))`));
  assert.deepEqual(fs.readFileSync(path.join(tmp, "e.filenames.txt"), "utf8").split("\n"), ["a.png", "b,comma.png", "sub/c.jpg", ""]);
  const fromTorch = JSON.parse(py(`import torch, json; d = torch.load(${JSON.stringify(path.join(tmp, "e.pt"))}, weights_only=True); e = d["embeddings"]; assert e.dtype == torch.float32; print(json.dumps({"f": d["filenames"], "e": e.double().tolist()}))`));
  assert.deepEqual(fromTorch.f, ["a.png", "b,comma.png", "sub/c.jpg"]);
  for (let i = 0; i < 3; i++) {
    // The CSVs print float32 values with the shortest round-trip digits: equal as float32.
    assert.deepEqual(Float32Array.from(fromLightly[i]!), Float32Array.from(fromNpy[i]));
    assert.deepEqual(Float32Array.from(fromPlain[i]!), Float32Array.from(fromNpy[i]));
    assert.deepEqual(Float32Array.from(fromTorch.e[i]), Float32Array.from(fromNpy[i]));
  }
  // Three different images, three different embeddings.
  assert.notDeepEqual(fromNpy[0], fromNpy[1]);
  assert.notDeepEqual(fromNpy[1], fromNpy[2]);
});

test("--model finds a pretrained backbone's published file in torch hub's folder; a missing one names its URL and folders", async () => {
  const hub = path.join(tmp, "torch", "hub", "checkpoints");
  const missing = await capture(["embed", images, "--model", "dinov2/vits14", "-o", path.join(tmp, "v.npy"), "--format", "npy"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /dinov2_vits14_pretrain\.pth is not on this machine.*https:\/\/dl\.fbaipublicfiles\.com\/dinov2\/dinov2_vits14\/dinov2_vits14_pretrain\.pth/s);
  assert.ok(missing.err.includes(hub) && missing.err.includes(path.join(tmp, "home", "models")));
  fs.mkdirSync(hub, { recursive: true });
  fs.copyFileSync(path.join(refs, "vits14.pth"), path.join(hub, "dinov2_vits14_pretrain.pth"));
  const ok = await capture(["embed", images, "--model", "dinov2/vits14", "-o", path.join(tmp, "v.npy"), "--format", "npy", "--input-size", "42", "--device", "cpu"]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /embedded 3 images \(384-d, dinov2\/vits14, pretrained dinov2\/vits14 \(dinov2_vits14_pretrain\.pth/);
  const bad = await capture(["embed", images, "--model", "dinov2/vits14", "--input-size", "40", "-o", path.join(tmp, "w.npy"), "--format", "npy", "--device", "cpu"]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /40×40 px is not a multiple of the patch size 14/);
  const usage = await capture(["embed", images, "--model", "resnet-18"]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /resnet-18 has no published weights to embed with/);
});

test("winnow run with a pretrained backbone: a missing file fails at INITIALIZING; present, it embeds with it and training starts from it", async () => {
  const { run } = await import("../src/run/run.js");
  const config = (train: boolean) => ({
    worker_config: { enable_training: train },
    selection_config: { n_samples: 2, strategies: [{ input: { type: "EMBEDDINGS" }, strategy: { type: "DIVERSITY" } }] },
    lightly_config: {
      model: { name: "dinov2/vits14", out_dim: 16 }, loader: { batch_size: 3 }, trainer: { gpus: 0, max_epochs: 1 },
      collate: { input_size: 28 }, seed: 1,
    },
  });
  const hubFile = path.join(tmp, "torch", "hub", "checkpoints", "dinov2_vits14_pretrain.pth");
  fs.rmSync(hubFile, { force: true });
  await assert.rejects(run({ input: images, config: config(false), output: path.join(tmp, "run-missing"), stream: null }), (e: Error & { record?: { stages: { state: string }[] } }) => {
    assert.match(e.message, /dinov2_vits14_pretrain\.pth is not on this machine.*pre_trained: false/s);
    assert.deepEqual(e.record?.stages.map((s) => s.state), ["INITIALIZING"]);
    return true;
  });
  fs.mkdirSync(path.dirname(hubFile), { recursive: true });
  fs.copyFileSync(path.join(refs, "vits14.pth"), hubFile);
  const embedOnly = await run({ input: images, config: config(false), output: path.join(tmp, "run-embed"), stream: null });
  assert.match(embedOnly.record.weights ?? "", /^pretrained dinov2\/vits14 \(dinov2_vits14_pretrain\.pth, sha256 [0-9a-f]{12}\)$/);
  assert.equal(fs.readFileSync(embedOnly.paths.embeddings, "utf8").split("\r\n")[0]!.split(",").length, 384 + 2);
  const trained = await run({ input: images, config: config(true), output: path.join(tmp, "run-train"), stream: null });
  assert.match(trained.record.weights ?? "", /^trained from pretrained dinov2\/vits14/);
  assert.match(fs.readFileSync(trained.paths.log, "utf8"), /training on 3 images.*from .*dinov2_vits14_pretrain\.pth/);
});
