// lightly_config: defaults equal Lightly's (lightly/cli/config/config.yaml and the worker docs'
// lightly_config block, restated here as the reference), unknown keys fail with "did you mean",
// bad values fail with the full path and the allowed range, and the docs table comes from the schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseLightlyConfig, lightlyConfigDefaults, lightlyConfigKeys, lightlyConfigMarkdown, LightlyConfigError, suggestKey, levenshtein,
  modelSettingsOf, precisionMode, MODEL_NAMES,
} from "../src/config/lightly-config.js";
import { COLLATE_DEFAULTS } from "../src/transforms/config.js";

/** Lightly's defaults, key by key (config.yaml of lightly 1.5.x; resize/seed as in the worker's lightly_config). */
const LIGHTLY = {
  loader: { batch_size: 16, shuffle: true, num_workers: -1, drop_last: true },
  model: { name: "resnet-18", width: 1, num_ftrs: 32, out_dim: 128 },
  trainer: { gpus: 1, max_epochs: 100, precision: 32, enable_model_summary: true, weights_summary: null },
  criterion: { temperature: 0.5, memory_bank_size: 0 },
  optimizer: { lr: 1, weight_decay: 0.00001 },
  collate: {
    input_size: 64, cj_prob: 0.8, cj_bright: 0.7, cj_contrast: 0.7, cj_sat: 0.7, cj_hue: 0.2, min_scale: 0.15,
    random_gray_scale: 0.2, gaussian_blur: 0.5, sigmas: [0.2, 2], kernel_size: null, vf_prob: 0.0, hf_prob: 0.5, rr_prob: 0.0, rr_degrees: null,
  },
  checkpoint_callback: { save_last: true, save_top_k: 1, dirpath: null },
  summary_callback: { max_depth: 1 },
  resize: -1,
  seed: 1,
  pre_trained: true, // lightly/cli/config/config.yaml: "Whether to use a pre-trained model or not"
};

const errorOf = (obj: unknown): LightlyConfigError => {
  try {
    parseLightlyConfig(obj);
  } catch (e) {
    assert.ok(e instanceof LightlyConfigError, `expected LightlyConfigError, got ${e}`);
    return e;
  }
  assert.fail("expected the config to be refused");
};

test("defaults equal Lightly's, key by key", () => {
  const d = lightlyConfigDefaults();
  for (const [section, v] of Object.entries(LIGHTLY)) {
    if (typeof v !== "object" || v === null) {
      assert.deepEqual((d as Record<string, unknown>)[section], v, section);
      continue;
    }
    for (const [k, want] of Object.entries(v)) {
      assert.deepEqual((d as unknown as Record<string, Record<string, unknown>>)[section]![k], want, `${section}.${k}`);
    }
  }
  // Winnow's two additions, at what Lightly trains with: SGD momentum at torch.optim.SGD's default,
  // and a constant learning rate.
  assert.equal(d.optimizer.momentum, 0);
  assert.equal(d.optimizer.lr_schedule, "constant");
  // Every key of the schema is one of Lightly's (or the two additions): nothing else slipped in.
  const lightlyKeys = new Set(Object.entries(LIGHTLY).flatMap(([s, v]) => (typeof v === "object" && v ? Object.keys(v).map((k) => `${s}.${k}`) : [s])));
  lightlyKeys.add("optimizer.momentum");
  lightlyKeys.add("optimizer.lr_schedule");
  // and the model layout keys (issue 20), whose defaults are the worker's model.
  for (const k of ["projection_head_batch_norm", "input_batch_norm", "feature_conv"]) lightlyKeys.add(`model.${k}`);
  assert.deepEqual([d.model.projection_head_batch_norm, d.model.input_batch_norm, d.model.feature_conv], [false, true, true]);
  // and issue 24's: lightly's NTXentLoss(gather_distributed=False) and Lightning's CPU process count (1).
  lightlyKeys.add("criterion.gather_distributed");
  lightlyKeys.add("trainer.num_processes");
  assert.deepEqual([d.criterion.gather_distributed, d.trainer.num_processes], [false, 1]);
  assert.deepEqual(new Set(lightlyConfigKeys().map((r) => r.key)), lightlyKeys);
  // The collate defaults are the transforms layer's (one source for both).
  for (const [k, v] of Object.entries(COLLATE_DEFAULTS)) assert.deepEqual((d.collate as Record<string, unknown>)[k], v, `collate.${k}`);
  // null / undefined mean "all defaults"; a fresh copy each time.
  assert.deepEqual(parseLightlyConfig(undefined), d);
  assert.deepEqual(parseLightlyConfig(null), d);
  d.collate.sigmas[0] = 99;
  assert.deepEqual(lightlyConfigDefaults().collate.sigmas, [0.2, 2]);
});

test("partial configs keep the other defaults; values Lightly users write are accepted", () => {
  const c = parseLightlyConfig({
    loader: { batch_size: 128, num_workers: 8 },
    trainer: { max_epochs: 5, precision: 16, gpus: 0 },
    optimizer: { lr: 0.1 },
    collate: { input_size: 224, rr_degrees: [-30, 30], rr_prob: 0.5, kernel_size: 0.1 },
    checkpoint_callback: { dirpath: "/tmp/ckpts" },
    resize: [256, 128],
    seed: 0,
  });
  assert.equal(c.loader.batch_size, 128);
  assert.equal(c.loader.shuffle, true);
  assert.equal(c.optimizer.weight_decay, 0.00001);
  assert.deepEqual(c.collate.rr_degrees, [-30, 30]);
  assert.equal(c.collate.cj_prob, 0.8);
  assert.equal(precisionMode(c), "mixed");
  assert.equal(precisionMode(parseLightlyConfig({ trainer: { precision: "32-true" } })), "32");
  for (const p of [16, 32, "16", "32", "bf16", "16-mixed", "bf16-mixed", "32-true"]) parseLightlyConfig({ trainer: { precision: p } });
  for (const r of [-1, 512, [100, 200]]) parseLightlyConfig({ resize: r });
  for (const rr of [null, 45, [0, 90]]) parseLightlyConfig({ collate: { rr_degrees: rr } });
});

test("unknown keys are errors with a 'did you mean' at every level", () => {
  const e = errorOf({ loader: { batchsize: 32 }, modle: {}, optimizer: { learning_rate: 1, weightDecay: 0 }, collate: { min_scal: 0.2 }, trainer: { max_epoch: 3 }, xyzzy: 1 });
  const by = new Map(e.issues.map((i) => [i.path, i.message]));
  assert.match(by.get("lightly_config.loader.batchsize")!, /did you mean 'batch_size'\?/);
  assert.match(by.get("lightly_config.modle")!, /did you mean 'model'\?/);
  assert.match(by.get("lightly_config.optimizer.learning_rate")!, /did you mean 'lr'\?/);
  assert.match(by.get("lightly_config.optimizer.weightDecay")!, /did you mean 'weight_decay'\?/);
  assert.match(by.get("lightly_config.collate.min_scal")!, /did you mean 'min_scale'\?/);
  assert.match(by.get("lightly_config.trainer.max_epoch")!, /did you mean 'max_epochs'\?/);
  assert.doesNotMatch(by.get("lightly_config.xyzzy")!, /did you mean/);
  assert.match(by.get("lightly_config.xyzzy")!, /allowed at lightly_config: loader, model, trainer/);
  // One error lists every problem.
  assert.equal(e.issues.length, 7);
  assert.match(e.message, /^invalid lightly_config:\n {2}- lightly_config\./);
});

test("bad values name the full path and the allowed range", () => {
  const e = errorOf({
    collate: { min_scale: 2, hf_prob: -0.1, sigmas: [2, 1], input_size: 0 },
    loader: { shuffle: "yes", batch_size: 3.5 },
    model: { name: "resnet-19", width: 0 },
    trainer: { precision: 8 },
    criterion: { memory_bank_size: 4096 },
    seed: -1,
  });
  const by = new Map(e.issues.map((i) => [i.path, i.message]));
  assert.equal(by.get("lightly_config.collate.min_scale"), "got 2; allowed: a number in (0, 1]");
  assert.equal(by.get("lightly_config.collate.hf_prob"), "got -0.1; allowed: a number in [0, 1]");
  assert.equal(by.get("lightly_config.collate.input_size"), "got 0; allowed: an integer in [1, 1024]");
  assert.equal(by.get("lightly_config.loader.shuffle"), 'got the string "yes"; allowed: true or false');
  assert.equal(by.get("lightly_config.loader.batch_size"), "got 3.5; allowed: an integer in [1, 4096]");
  assert.match(by.get("lightly_config.model.name")!, /^got the string "resnet-19"; allowed: "resnet-9", "resnet-18", /);
  assert.match(by.get("lightly_config.model.width")!, /allowed: a number in \[0\.015625, 8\]/);
  assert.match(by.get("lightly_config.trainer.precision")!, /^got 8; allowed: 32, 16, "32", "16"/);
  assert.equal(by.get("lightly_config.criterion.memory_bank_size"), "got 4096; allowed: 0 (memory banks are not supported)");
  assert.equal(by.get("lightly_config.seed"), "got -1; allowed: an integer in [0, 2^53 - 1]");
  // Cross-field checks report at their key (once the section's own types are right).
  const s = errorOf({ collate: { sigmas: [2, 1] } });
  assert.deepEqual(s.issues, [{ path: "lightly_config.collate.sigmas", message: "min 2 is larger than max 1; allowed: [min, max] with 0 < min ≤ max" }]);
  const t = errorOf({ collate: { sigmas: [0.5, "x"] } });
  assert.deepEqual(t.issues.map((i) => i.path), ["lightly_config.collate.sigmas"]);
  const w = errorOf({ loader: 5 });
  assert.match(w.issues[0]!.message, /expected a mapping of keys \(batch_size, shuffle, num_workers, drop_last\), got 5/);
  assert.match(errorOf([1, 2]).message, /lightly_config: expected a mapping of keys/);
});

test("key suggestions: Levenshtein with case, camelCase and aliases forgiven; nothing for far-off keys", () => {
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("", "abc"), 3);
  assert.equal(suggestKey("batchSize", ["batch_size", "shuffle"]), "batch_size");
  assert.equal(suggestKey("SHUFFLE", ["batch_size", "shuffle"]), "shuffle");
  assert.equal(suggestKey("epochs", ["gpus", "max_epochs", "precision"]), "max_epochs");
  assert.equal(suggestKey("completely_different", ["lr", "weight_decay"]), null);
});

test("the docs table lists every key with its default, range and notes; model settings use the worker's head", () => {
  const md = lightlyConfigMarkdown();
  const rows = lightlyConfigKeys();
  assert.equal(md.trim().split("\n").length, rows.length + 2);
  assert.match(md, /^\| Key \| Default \| Allowed \| Description \|\n\| --- \| --- \| --- \| --- \|\n/);
  assert.ok(md.includes("| `collate.min_scale` | `0.15` | a number in (0, 1] |"));
  assert.ok(md.includes("| `model.name` | `\"resnet-18\"` |"));
  assert.ok(md.includes("| `collate.sigmas` | `[0.2, 2]` |"));
  assert.ok(md.includes("| `checkpoint_callback.dirpath` | `null` |"));
  for (const r of rows) {
    assert.ok(r.allowed.length > 0, `${r.key} has no allowed text`);
    assert.ok(r.description.length > 0, `${r.key} has no description`);
  }
  const m = modelSettingsOf(lightlyConfigDefaults());
  assert.deepEqual(m, { name: "resnet-18", width: 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: false, inputBatchNorm: true, featureConv: true });
  const lib = parseLightlyConfig({ model: { projection_head_batch_norm: true, input_batch_norm: false, feature_conv: false } });
  assert.deepEqual(modelSettingsOf(lib), { name: "resnet-18", width: 1, numFtrs: 32, outDim: 128, projectionHeadBatchNorm: true, inputBatchNorm: false, featureConv: false });
});

test("model.name allows exactly the engine's registered backbones", async () => {
  const { listBackbones } = await import("../src/models/index.js");
  assert.deepEqual([...MODEL_NAMES].sort(), [...listBackbones()].sort());
});
