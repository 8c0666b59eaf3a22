// One config error implementation: every section's error is a ConfigError (WinnowError "invalid_config")
// whose `where` names the one bad field, or the section (or run file) when several are wrong; the
// section classes keep their names, messages and issues.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WinnowError } from "../src/util/errors.js";
import { ConfigError } from "../src/config/config-error.js";
import {
  parseLightlyConfig, LightlyConfigError, parseWorkerConfig, WorkerConfigError, parseSelectionConfig, SelectionConfigError,
  resolveRunConfig, RunConfigError,
} from "../src/config/index.js";

const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  assert.fail("expected an error");
};

test("each section's error is a ConfigError with code invalid_config and the bad field as where", () => {
  const cases: [() => unknown, new (...a: never[]) => Error, string, string][] = [
    [() => parseLightlyConfig({ loader: { batch_size: -3 } }), LightlyConfigError, "LightlyConfigError", "lightly_config.loader.batch_size"],
    [() => parseWorkerConfig({ enable_training: "maybe" }), WorkerConfigError, "WorkerConfigError", "worker_config.enable_training"],
    [() => parseSelectionConfig({ n_samples: 5, strategies: [] }), SelectionConfigError, "SelectionConfigError", "selection_config.strategies"],
  ];
  for (const [fn, cls, name, where] of cases) {
    const e = thrown(fn);
    assert.ok(e instanceof cls && e instanceof ConfigError && e instanceof WinnowError, name);
    assert.equal(e.name, name);
    assert.equal((e as ConfigError).code, "invalid_config");
    assert.equal((e as ConfigError).where, where);
    assert.equal((e as ConfigError).issues.length, 1);
    assert.match(e.message, new RegExp(`^invalid ${where.split(".")[0]}:\\n  - ${where.replace(/[.[\]]/g, "\\$&")}: `));
  }
});

test("several issues: where is the section; a run file's error names the file", () => {
  const e = thrown(() => parseLightlyConfig({ loader: { batch_size: -3 }, optimizer: { lr: "fast" } })) as LightlyConfigError;
  assert.equal(e.issues.length, 2);
  assert.equal(e.where, "lightly_config");
  const r = new RunConfigError([{ path: "(file)", message: "cannot read x.yaml" }], "x.yaml");
  assert.equal(r.where, "x.yaml");
  assert.equal(r.source, "x.yaml");
  assert.equal(r.message, "invalid run config (x.yaml):\n  - (file): cannot read x.yaml");
  const bad = thrown(() => resolveRunConfig({ worker_config: { enable_training: 3 } }, {}));
  assert.ok(bad instanceof RunConfigError && bad instanceof ConfigError);
  assert.equal((bad as RunConfigError).code, "invalid_config");
});
