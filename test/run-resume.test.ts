// `winnow run --resume` through run(): an interrupted training run continues from its last.ckpt
// (weights, momentum, epoch and step) in a new run whose loss curve is the uninterrupted one's, and
// runs that cannot be resumed are refused with the reason before anything is written.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { run, RunError, readRunRecord, type RunResult } from "../src/run/index.js";
import { RunConfigError } from "../src/config/run-config.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyFolder, tinyConfig } from "./helpers/run-setup.js";

const EPOCHS = 4;
// Resume is bit-exact (src/ssl/trainer.ts); the tolerance only allows float printing differences.
const TOLERANCE = 1e-6;
let root: string;
let out: string;
let whole: RunResult;
const cfg = () => tinyConfig({ worker_config: { enable_training: true }, lightly_config: { trainer: { gpus: 0, max_epochs: EPOCHS } } });

before(async () => {
  privateHome("winnow-resume-home-");
  ({ root } = await tinyFolder(24, "winnow-resume-img-"));
  out = tempDir("winnow-resume-out-");
  whole = await run({ input: root, config: cfg(), output: path.join(out, "whole"), stream: null });
});

/** A run stopped (as by Ctrl-C) once `epochsDone` epochs are done (mid-epoch stops: test/ssl-trainer.test.ts). */
async function interrupted(name: string, epochsDone: number): Promise<RunError> {
  const ctl = new AbortController();
  const stream = { write: (s: string) => ((s.includes(`epoch ${epochsDone}/${EPOCHS} done`) && ctl.abort(), true)) };
  try {
    await run({ input: root, config: cfg(), output: path.join(out, name), stream, signal: ctl.signal });
  } catch (e) {
    if (e instanceof RunError) return e;
    throw e;
  }
  throw new Error("the run was not interrupted");
}

test("--resume continues an ABORTED run's loss curve in a new run, as if never interrupted", async () => {
  const cut = await interrupted("cut", 2);
  assert.equal(cut.record.state, "ABORTED");
  assert.ok(cut.record.checkpoint && fs.existsSync(cut.record.checkpoint), "the aborted run records its checkpoint");
  const before = fs.readFileSync(cut.paths.record, "utf8");

  const resumed = await run({ resume: cut.record.id, output: path.join(out, "resumed"), stream: null });
  assert.equal(resumed.record.state, "COMPLETED");
  assert.equal(resumed.record.resumedFrom, cut.record.id);
  assert.equal(resumed.record.input, whole.record.input);
  const want = whole.report.training!.epochLosses;
  const got = resumed.report.training!.epochLosses;
  assert.equal(want.length, EPOCHS);
  assert.equal(got.length, EPOCHS, "the resumed run's curve holds the earlier epochs too");
  const diff = Math.max(...want.map((w, i) => Math.abs(w - got[i]!)));
  console.log(`resume: epoch losses ${got.map((l) => l.toFixed(6)).join(", ")}; max |Δ| vs uninterrupted ${diff}`);
  assert.ok(diff <= TOLERANCE, `epoch losses differ by ${diff}`);
  // It only trained what was left: from epoch 3 on (the abort reaches the training thread after
  // the "epoch 2 done" line, so the last checkpoint may hold a step or two of epoch 3 already).
  const at = /resumed from .*: (epoch \d+, step \d+)/.exec(fs.readFileSync(resumed.paths.log, "utf8"))?.[1];
  console.log(`resume: continued at ${at}`);
  assert.match(at ?? "", /^epoch 3, step \d+$/);
  // The same selection as the uninterrupted run, and the interrupted run's folder is untouched.
  assert.deepEqual(fs.readFileSync(resumed.paths.selectedFilenames, "utf8"), fs.readFileSync(whole.paths.selectedFilenames, "utf8"));
  assert.equal(fs.readFileSync(cut.paths.record, "utf8"), before);
  // --epochs may extend the resumed training.
  const longer = await run({ resume: cut.record.id, overrides: { epochs: EPOCHS + 1 }, output: path.join(out, "longer"), stream: null });
  assert.equal(longer.report.training!.epochLosses.length, EPOCHS + 1);
  assert.deepEqual(longer.report.training!.epochLosses.slice(0, 2), got.slice(0, 2));
});

test("runs that cannot be resumed are refused with the reason, before a run is made", async () => {
  const refused = async (resume: string, extra: Record<string, unknown>, re: RegExp): Promise<void> => {
    await assert.rejects(run({ resume, output: path.join(out, `refused-${Math.random()}`), stream: null, ...extra }), (e: unknown) => {
      assert.ok(e instanceof RunConfigError, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  };
  await refused(whole.record.id, {}, /--resume: run \S+ is COMPLETED: there is nothing to resume \(--checkpoint-run-id/);
  await refused("20200101-000000-abcdef", {}, /--resume: no run 20200101-000000-abcdef/);
  // Stopped before training wrote a checkpoint.
  const ctl = new AbortController();
  ctl.abort();
  const early = await run({ input: root, config: cfg(), output: path.join(out, "early"), stream: null, signal: ctl.signal }).then(() => null, (e: RunError) => e);
  assert.equal(early?.record.state, "ABORTED");
  await refused(early!.record.id, {}, /has no checkpoint to resume from .*last\.ckpt does not exist/);
  // Changes that would make the continued curve meaningless.
  const cut = await interrupted("cut2", 1);
  await refused(cut.record.id, { overrides: { batchSize: 4, nSamples: 3 } }, /--batch-size, --n-samples would change what run \S+ trains/);
  await refused(cut.record.id, { config: cfg() }, /keeps the config of run \S+: give no --config/);
  await refused(cut.record.id, { input: out }, /a resumed run reads the same folder/);
  assert.equal(readRunRecord(cut.record.id).state, "ABORTED");
});
