// `winnow run` end to end on tiny images: a training run's folder and report, reuse of its
// checkpoint by path and by run id (embedding only), and a datapool run that extends the selection.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as torch from "../src/torch/index.js";
import { run, RunError, readRunRecord, listRunRecords, type RunResult } from "../src/run/index.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyFolder, tinyConfig, lines } from "./helpers/run-setup.js";

let root: string;
let names: string[];
let first: RunResult;
let baseline: number;

before(async () => {
  privateHome();
  baseline = torch.liveTensors();
  ({ root, names } = await tinyFolder(24));
  first = await run({ input: root, config: tinyConfig({ worker_config: { enable_training: true } }), output: path.join(tempDir("winnow-run-out-"), "first"), stream: null });
});

test("a training run writes Lightly's folder layout with sane contents", () => {
  const { record, paths, report } = first;
  assert.equal(record.state, "COMPLETED");
  for (const f of [
    "config/run.yaml", "config/worker_config.json", "config/selection_config.json", "config/lightly_config.json",
    "data/embeddings.csv", "data/selected_embeddings.csv", "filenames/selected_filenames.txt", "filenames/corrupt_filenames.txt",
    "filenames/duplicate_filenames.txt", "log.txt", "report.html", "report.json", "run.json",
  ]) assert.ok(fs.existsSync(path.join(paths.output, f)), f);
  // Embeddings CSV in Lightly's format: header, one CRLF row per usable image (24: broken and copy dropped).
  const csv = fs.readFileSync(paths.embeddings, "utf8");
  const rows = csv.split("\r\n").filter(Boolean);
  assert.equal(rows[0], "filenames,embedding_0,embedding_1,embedding_2,embedding_3,embedding_4,embedding_5,embedding_6,embedding_7,labels");
  assert.equal(rows.length, 1 + 24);
  assert.deepEqual(rows.slice(1).map((r) => r.split(",")[0]), names);
  for (const r of rows.slice(1)) {
    const f = r.split(",");
    assert.equal(f.length, 10);
    assert.equal(f[9], "0");
    for (const v of f.slice(1, 9)) assert.ok(Number.isFinite(Number(v)), v);
  }
  // Selection: n_samples distinct usable images; selected_embeddings.csv holds their rows.
  const sel = lines(paths.selectedFilenames);
  assert.equal(sel.length, 5);
  assert.equal(new Set(sel).size, 5);
  for (const s of sel) assert.ok(names.includes(s), s);
  const selRows = fs.readFileSync(paths.selectedEmbeddings, "utf8").split("\r\n").filter(Boolean).slice(1);
  assert.deepEqual(selRows, sel.map((s) => rows.find((r) => r.startsWith(`${s},`))));
  // Corrupt and duplicate lists.
  assert.deepEqual(lines(paths.corruptFilenames), ["zz-broken.png"]);
  assert.deepEqual(lines(paths.duplicateFilenames), ["zz-copy.png"]);
  // The record and the trained checkpoint.
  assert.equal(record.trained, true);
  assert.ok(record.checkpoint && fs.existsSync(record.checkpoint) && record.checkpoint.startsWith(paths.checkpoints));
  assert.deepEqual(record.stages.map((s) => s.state), [
    "INITIALIZING", "LOADING_DATASET", "CHECKING_CORRUPTNESS", "TRAINING", "EMBEDDING", "SAMPLING", "SAVING_RESULTS", "GENERATING_REPORT",
  ]);
  for (const s of record.stages) assert.ok(typeof s.durationMs === "number" && s.durationMs >= 0, s.state);
  assert.deepEqual(readRunRecord(record.id), record);
  // report.json.
  const rj = JSON.parse(fs.readFileSync(paths.reportJson, "utf8"));
  assert.deepEqual(rj, JSON.parse(JSON.stringify(report)));
  assert.deepEqual(rj.counts, { files: 26, images: 24, corrupt: 1, duplicates: 1, embedded: 24, selected: 5, datapoolBefore: 0, datapoolAfter: 5 });
  assert.equal(rj.training.epochs, 2);
  assert.equal(rj.training.epochLosses.length, 2);
  assert.equal(rj.training.stepLosses.length, 2 * 3); // 24 images, batch 8, drop_last
  assert.deepEqual(rj.selection.filenames, sel);
  assert.equal(rj.corrupt[0].filename, "zz-broken.png");
  assert.deepEqual(rj.duplicates, [{ filename: "zz-copy.png", duplicateOf: names[0] }]);
  assert.equal(rj.config.lightly_config.trainer.max_epochs, 2);
  assert.equal(rj.config.worker_config.normalize_embeddings, true); // defaults filled in
  assert.equal(rj.map.points, 24);
  assert.equal(rj.map.selected, 5);
  // The selection is spread out: its nearest-neighbour distances are larger than the whole set's.
  assert.ok(rj.nearestNeighbour.after.median > rj.nearestNeighbour.before.median, `${rj.nearestNeighbour.after.median} vs ${rj.nearestNeighbour.before.median}`);
  // report.html: self-contained, with the plots and the thumbnails.
  const html = fs.readFileSync(paths.reportHtml, "utf8");
  for (const id of ["loss-curve", "embedding-map", "nn-before", "nn-after", "selected-grid"]) assert.ok(html.includes(`id="${id}"`), id);
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 5);
  assert.equal((html.match(/class="pt selected"/g) ?? []).length, 5);
  assert.ok(!/(src|href)="https?:/.test(html), "no external resources");
  assert.ok(html.includes("zz-broken.png"));
  assert.equal(torch.liveTensors(), baseline);
});

test("reusing the checkpoint by run id and by path embeds with it (no training) and gives the same embeddings", async () => {
  const ref = fs.readFileSync(first.paths.embeddings, "utf8");
  const out = tempDir("winnow-run-out-");
  const byId = await run({ input: root, config: tinyConfig({ worker_config: { checkpoint_run_id: first.record.id } }), output: path.join(out, "by-id"), stream: null });
  const byPath = await run({ input: root, config: tinyConfig(), overrides: { checkpoint: first.record.checkpoint! }, output: path.join(out, "by-path"), stream: null });
  for (const r of [byId, byPath]) {
    assert.equal(r.record.state, "COMPLETED");
    assert.equal(r.record.trained, false);
    assert.ok(!r.record.stages.some((s) => s.state === "TRAINING"));
    assert.equal(r.report.training, null);
    assert.equal(r.record.checkpoint, first.record.checkpoint);
    assert.equal(fs.readFileSync(r.paths.embeddings, "utf8"), ref);
    assert.deepEqual(lines(r.paths.selectedFilenames), lines(first.paths.selectedFilenames));
  }
  assert.equal(byId.record.weights, `run:${first.record.id}`);
  // enable_training with a checkpoint continues training from it.
  const cont = await run({ input: root, config: tinyConfig({ worker_config: { enable_training: true } }), overrides: { checkpointRunId: first.record.id, epochs: 1 }, output: path.join(out, "continue"), stream: null });
  assert.equal(cont.record.trained, true);
  assert.equal(cont.record.weights, `trained from run:${first.record.id}`);
  assert.equal(cont.report.training!.startedFrom, first.record.checkpoint);
  assert.equal(cont.report.training!.epochs, 1);
  assert.ok(cont.record.checkpoint!.startsWith(cont.paths.checkpoints));
  assert.equal(byPath.record.weights, "checkpoint");
  // An unknown run id fails the run, naming it.
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { checkpoint_run_id: "20000101-000000-abcdef" } }), output: path.join(out, "bad-id"), stream: null }),
    (e: unknown) => e instanceof RunError && e.record.state === "FAILED" && /checkpoint_run_id: no run 20000101-000000-abcdef/.test(e.message),
  );
  assert.equal(torch.liveTensors(), baseline);
});

test("use_datapool: a second run reuses the first's checkpoint and adds only new picks", async () => {
  const out = tempDir("winnow-run-out-");
  const a = await run({ input: root, config: tinyConfig({ worker_config: { use_datapool: true, enable_training: true } }), output: path.join(out, "a"), stream: null });
  const b = await run({ input: root, config: tinyConfig({ worker_config: { use_datapool: true } }), output: path.join(out, "b"), stream: null });
  const selA = lines(a.paths.selectedFilenames);
  const selB = lines(b.paths.selectedFilenames);
  assert.equal(selA.length, 5);
  assert.equal(selB.length, 5);
  assert.equal(selA.filter((f) => selB.includes(f)).length, 0, "never reselects");
  assert.equal(b.record.weights, `datapool:${a.record.id}`);
  assert.equal(b.record.checkpoint, a.record.checkpoint);
  assert.deepEqual(lines(path.join(b.paths.output, "filenames", "selected_filenames_including_datapool.txt")), [...selA, ...selB]);
  assert.equal(b.record.datapoolCount, 10);
  assert.equal(b.report.counts.datapoolBefore, 5);
  // A third run with n_samples larger than what is left selects the rest and nothing twice.
  const c = await run({ input: root, config: tinyConfig({ worker_config: { use_datapool: true }, selection_config: { n_samples: 100 } }), output: path.join(out, "c"), stream: null });
  const selC = lines(c.paths.selectedFilenames);
  assert.equal(selC.length, 24 - 10);
  assert.deepEqual([...selA, ...selB, ...selC].sort(), [...names].sort());
  const listed = listRunRecords().map((r) => r.id);
  for (const r of [a, b, c]) assert.ok(listed.includes(r.record.id));
  assert.equal(torch.liveTensors(), baseline);
});

test("aborting during training ends the run ABORTED with its checkpoint kept and no report", async () => {
  const ctl = new AbortController();
  // The progress stream sees the first training step: abort then (as Ctrl-C does in the CLI).
  const stream = { write: (t: string) => { if (/epoch 1\/\d+ (step|done)/.test(t)) ctl.abort(); return true; } };
  const out = tempDir("winnow-run-out-");
  await assert.rejects(
    run({ input: root, config: tinyConfig({ worker_config: { enable_training: true }, lightly_config: { trainer: { gpus: 0, max_epochs: 50 } } }), output: path.join(out, "abort"), stream, signal: ctl.signal }),
    (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.record.state, "ABORTED");
      assert.equal(readRunRecord(e.record.id).state, "ABORTED");
      assert.ok(e.record.checkpoint && fs.existsSync(e.record.checkpoint), "the interrupted training's checkpoint is kept");
      assert.ok(!fs.existsSync(e.paths.reportJson) && !fs.existsSync(e.paths.embeddings));
      return true;
    },
  );
  assert.equal(torch.liveTensors(), baseline);
});
