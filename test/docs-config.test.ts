// The documentation that must not drift from the code: docs/configuration.md is exactly what the
// schemas generate (`npm run docs:config`), it names every key, its YAML example and the bundled
// sample run files are valid configs, and docs/lightly-options.md lists every worker_config key.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { configurationMarkdown } from "../src/config/docs.js";
import { workerConfigKeys } from "../src/config/worker-config.js";
import { lightlyConfigKeys } from "../src/config/lightly-config.js";
import { selectionConfigKeys } from "../src/config/selection-config.js";
import { resolveRunConfig, loadRunConfig } from "../src/config/run-config.js";

const committed = fs.readFileSync("docs/configuration.md", "utf8");

test("docs/configuration.md is the generated file (run `npm run docs:config` after changing a schema)", () => {
  const generated = configurationMarkdown();
  if (committed !== generated) {
    const a = committed.split("\n");
    const b = generated.split("\n");
    const i = a.findIndex((l, k) => l !== b[k]);
    assert.fail(`docs/configuration.md differs from the schemas at line ${i + 1}:\n  file:      ${a[i]}\n  generated: ${b[i]}\nrun \`npm run docs:config\``);
  }
});

test("docs/configuration.md names every key of the three sections, with defaults", () => {
  const worker = workerConfigKeys();
  const lightly = lightlyConfigKeys();
  assert.ok(worker.length >= 20 && lightly.length >= 35, `${worker.length} worker keys, ${lightly.length} lightly keys`);
  for (const k of [...worker, ...lightly]) assert.ok(committed.includes(`| \`${k.key}\` |`), `row for ${k.key}`);
  for (const k of selectionConfigKeys()) assert.ok(committed.includes(`| ${k.where} | \`${k.key}\` |`), `row for ${k.where} ${k.key}`);
  // Defaults as parsing fills them in, e.g. Lightly's lr 1 and batch 16.
  assert.ok(committed.includes("| `optimizer.lr` | `1` |"));
  assert.ok(committed.includes("| `loader.batch_size` | `16` |"));
  assert.ok(committed.includes("| `enable_training` | `false` |"));
});

test("the YAML example of configuration.md and the bundled sample run files are valid configs", () => {
  const yaml = /```yaml\n([\s\S]*?)```/.exec(committed)?.[1];
  assert.ok(yaml, "a yaml block");
  const cfg = resolveRunConfig(parseYaml(yaml));
  assert.equal(cfg.worker_config.enable_training, true);
  assert.equal(cfg.selection_config.n_samples, 40);
  assert.equal(cfg.lightly_config.trainer.max_epochs, 40);
  for (const f of ["samples/fashion-mnist.yaml", "samples/run.yaml"]) {
    const c = loadRunConfig(f);
    assert.equal(c.worker_config.enable_training, true, f);
    assert.equal(c.lightly_config.trainer.gpus, 0, `${f}: the demo trains on the CPU`);
  }
  const quick = fs.readFileSync("docs/quickstart.md", "utf8");
  const runYaml = /```yaml\n([\s\S]*?)```/.exec(quick)?.[1];
  assert.ok(runYaml, "quickstart's run.yaml");
  assert.equal(resolveRunConfig(parseYaml(runYaml)).selection_config.n_samples, 100);
});

test("docs/lightly-options.md gives every worker_config key a status", () => {
  const page = fs.readFileSync("docs/lightly-options.md", "utf8");
  const rows = page.split("\n").filter((l) => l.startsWith("| `"));
  for (const { key } of workerConfigKeys()) {
    const row = rows.find((l) => l.split("|")[1]!.includes(`\`${key}\``));
    assert.ok(row, `docs/lightly-options.md has no row for worker_config.${key}`);
    assert.match(row, /\| (supported|differs|not yet) \|/, `status of ${key}`);
  }
});
