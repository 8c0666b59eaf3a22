// Single stages of a run (src/run/stages/) on a tiny RunContext, without the stages around them: the
// results writer, the starting-weights (checkpoint source) stage, the corruptness check, the state
// changes and a failed run's end.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveRunConfig } from "../src/config/run-config.js";
import { objectLevelPlan } from "../src/config/object-level.js";
import { createRunContext, enterState, type RunContext } from "../src/run/context.js";
import { newRunId, readRunRecord, saveRunRecord, RUN_RECORD_FORMAT } from "../src/run/store.js";
import { CheckpointSourceError } from "../src/run/checkpoint-source.js";
import { RunError } from "../src/run/run-error.js";
import { saveResults } from "../src/run/stages/save-results.js";
import { resolveStartingWeights, startingWeightsLabel } from "../src/run/stages/starting-weights.js";
import { checkCorruptness } from "../src/run/stages/check-corruptness.js";
import type { RunData } from "../src/run/stages/load-dataset.js";
import { failRun } from "../src/run/stages/end.js";
import type { RunState } from "../src/run/states.js";
import { WinnowError } from "../src/util/errors.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyConfig, lines } from "./helpers/run-setup.js";

let input: string;
before(() => {
  privateHome("winnow-stages-home-");
  input = tempDir("winnow-stages-in-");
});

/** A context over an empty output folder; `states` collects what onState reported. */
function tinyContext(extra: Parameters<typeof tinyConfig>[0] = {}): { ctx: RunContext; states: RunState[] } {
  const config = resolveRunConfig(tinyConfig(extra), {}, null);
  const states: RunState[] = [];
  const ctx = createRunContext({
    id: newRunId(), config, plan: objectLevelPlan(config.worker_config, config.selection_config).plan!,
    output: tempDir("winnow-stages-out-"), input, inputGiven: input, resume: null, options: { stream: null, onState: (s) => states.push(s) },
  });
  return { ctx, states };
}

/** CSV rows as name → numbers (the labels column dropped). */
function csvRows(file: string): Array<[string, number[]]> {
  const [header, ...rows] = fs.readFileSync(file, "utf8").split("\r\n").filter(Boolean);
  assert.equal(header, "filenames,embedding_0,embedding_1,labels");
  return rows.map((r) => {
    const cells = r.split(",");
    return [cells[0]!, cells.slice(1, -1).map(Number)];
  });
}

test("saveResults writes the picks in pick order, their embedding rows, and the datapool after the run", () => {
  const { ctx } = tinyContext({ worker_config: { use_datapool: true } });
  const emb = { filenames: ["a.png", "b.png", "c.png", "d.png"], values: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), d: 2, source: "test", checkpoint: null };
  const sel = { picked: [2, 0], stoppedBy: "n_samples", datapool: ["d.png"], pickedCrops: null, cropOf: null, pickedImages: ["c.png", "a.png"] };
  const poolIdx = saveResults(ctx, emb, sel);
  ctx.close();
  assert.deepEqual(poolIdx, [3]);
  const p = ctx.paths;
  assert.deepEqual(lines(p.selectedFilenames), ["c.png", "a.png"]);
  assert.deepEqual(csvRows(p.selectedEmbeddings), [["c.png", [5, 6]], ["a.png", [1, 2]]]);
  assert.deepEqual(lines(p.selectedFilenamesIncludingDatapool), ["d.png", "c.png", "a.png"]);
  assert.deepEqual(csvRows(p.selectedEmbeddingsIncludingDatapool), [["d.png", [7, 8]], ["c.png", [5, 6]], ["a.png", [1, 2]]]);
  assert.equal(ctx.record.selectedCount, 2);
  assert.equal(ctx.record.datapoolCount, 3);

  // Without use_datapool: no datapool files, no datapool count.
  const { ctx: plain } = tinyContext();
  saveResults(plain, emb, { ...sel, datapool: [] });
  plain.close();
  assert.equal(fs.existsSync(plain.paths.selectedFilenamesIncludingDatapool), false);
  assert.equal(plain.record.datapoolCount, null);
  assert.deepEqual(lines(plain.paths.selectedFilenames), ["c.png", "a.png"]);
});

test("resolveStartingWeights: a checkpoint path, an earlier run's checkpoint, a missing file (not_found, the field named)", async () => {
  const ckpt = path.join(tempDir("winnow-stages-ckpt-"), "model.ckpt");
  fs.writeFileSync(ckpt, "not read by this stage");

  const { ctx } = tinyContext({ worker_config: { checkpoint: ckpt } });
  const start = await resolveStartingWeights(ctx, []);
  ctx.close();
  assert.equal(start.checkpoint?.path, ckpt);
  assert.equal(start.checkpoint?.origin, "path");
  assert.equal(startingWeightsLabel(ctx, start), "checkpoint");
  // The stage saves the record: the index and the run folder hold the provenance.
  assert.deepEqual(readRunRecord(ctx.id).startingWeights, { kind: "checkpoint", path: ckpt });
  assert.deepEqual(JSON.parse(fs.readFileSync(ctx.paths.record, "utf8")).startingWeights, { kind: "checkpoint", path: ckpt });

  const earlier = newRunId();
  const now = new Date().toISOString();
  saveRunRecord({
    format: RUN_RECORD_FORMAT, id: earlier, state: "COMPLETED", input, output: tempDir("winnow-stages-earlier-"), configFile: null, startedAt: now, endedAt: now,
    durationMs: 0, stages: [], checkpoint: ckpt, trained: true, weights: "trained", useDatapool: false, datapoolUpdate: false, selectedCount: 1,
    datapoolCount: null, error: null, pid: process.pid,
  });
  const { ctx: byRun } = tinyContext({ worker_config: { checkpoint_run_id: earlier } });
  const fromRun = await resolveStartingWeights(byRun, []);
  byRun.close();
  assert.equal(fromRun.checkpoint?.origin, `run:${earlier}`);
  assert.equal(startingWeightsLabel(byRun, fromRun), `run:${earlier}`);
  assert.deepEqual(byRun.record.startingWeights, { kind: "run", runId: earlier, path: ckpt });

  const { ctx: missing } = tinyContext({ worker_config: { checkpoint: `${ckpt}.gone` } });
  await assert.rejects(resolveStartingWeights(missing, []), (e: unknown) => {
    assert.ok(e instanceof CheckpointSourceError && e instanceof WinnowError);
    assert.equal(e.code, "not_found");
    assert.equal(e.where, "worker_config.checkpoint");
    assert.match(e.message, /worker_config\.checkpoint: .*model\.ckpt\.gone does not exist/);
    return true;
  });
  missing.close();

  // No source and pre_trained false: random weights.
  const { ctx: none } = tinyContext();
  const random = await resolveStartingWeights(none, []);
  none.close();
  assert.equal(random.checkpoint, null);
  assert.deepEqual(none.record.startingWeights, { kind: "random" });
  assert.equal(startingWeightsLabel(none, random), "random-init");
});

/** The fields of an ImageCache the corruptness check reads. */
function fakeData(usable: number): RunData {
  const cache = {
    length: usable, stats: { files: usable + 2 }, refused: [],
    corruptFilenames: [{ filename: "bad.png", code: "truncated", reason: "ends early" }], duplicates: [{ filename: "copy.png", duplicateOf: "a.png" }],
  } as unknown as RunData["cache"];
  return { cache, items: cache, trainItems: cache, predictions: null, predictionIssues: [], videos: null };
}

test("checkCorruptness writes Lightly's corrupt/duplicate files, and fails naming the input when nothing is usable", () => {
  const { ctx } = tinyContext();
  checkCorruptness(ctx, fakeData(3));
  assert.deepEqual(lines(ctx.paths.corruptFilenames), ["bad.png"]);
  assert.deepEqual(lines(ctx.paths.duplicateFilenames), ["copy.png"]);
  assert.deepEqual(JSON.parse(fs.readFileSync(ctx.paths.corruptnessInformation, "utf8")), { corrupt_samples: { "bad.png": "truncated: ends early" } });
  assert.throws(() => checkCorruptness(ctx, fakeData(0)), (e: unknown) =>
    e instanceof WinnowError && e.code === "invalid_input" && e.where === input && /no usable images \(2 image file\(s\), 1 corrupt\)/.test(e.message));
  ctx.close();
});

test("enterState times the stages and reports each state; failRun ends the record FAILED and removes a report", () => {
  const { ctx, states } = tinyContext();
  enterState(ctx, "INITIALIZING");
  enterState(ctx, "LOADING_DATASET");
  assert.equal(readRunRecord(ctx.id).state, "LOADING_DATASET");
  assert.deepEqual(ctx.record.stages.map((s) => s.state), ["INITIALIZING", "LOADING_DATASET"]);
  assert.equal(typeof ctx.record.stages[0]!.durationMs, "number");
  assert.equal(ctx.record.stages[1]!.durationMs, null);
  fs.writeFileSync(ctx.paths.reportJson, "{}");
  const err = failRun(ctx, new WinnowError("invalid_input", "input x: no usable images"));
  ctx.close();
  assert.ok(err instanceof RunError);
  assert.equal(err.code, "invalid_input");
  assert.equal(err.where, ctx.paths.output);
  assert.match(err.message, /^run \S+ FAILED: input x: no usable images$/);
  assert.deepEqual(states, ["INITIALIZING", "LOADING_DATASET", "FAILED"]);
  const rec = readRunRecord(ctx.id);
  assert.equal(rec.state, "FAILED");
  assert.equal(rec.error, "input x: no usable images");
  assert.equal(typeof rec.stages[1]!.durationMs, "number");
  assert.equal(fs.existsSync(ctx.paths.reportJson), false);
  assert.match(fs.readFileSync(ctx.paths.log, "utf8"), /\[2\/9\] LOADING_DATASET\n.*FAILED: input x: no usable images\n$/);
});
