// The error classes of checkpoints, weights, state dicts, selection inputs and worker retries extend
// WinnowError: a stable code for the CLI and server, `where` when a file or field is known, and the
// names, messages and fields they had before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WinnowError } from "../src/util/errors.js";
import { CheckpointError, withFileName } from "../src/checkpoint/errors.js";
import { StateDictError } from "../src/nn/module.js";
import { CheckpointMismatchError } from "../src/models/checkpoint.js";
import { WeightsError } from "../src/models/weights/resolve.js";
import { DownloadError } from "../src/models/weights/download.js";
import { SelectionInputError } from "../src/select/index.js";
import { RetryBudgetExhausted } from "../src/worker/retry.js";
import { ApiError } from "../src/client/errors.js";

test("CheckpointError keeps its own codes and gets the file name as where", () => {
  const e = new CheckpointError("zip entry data/0: CRC mismatch", "CRC");
  assert.ok(e instanceof WinnowError);
  assert.equal(e.name, "CheckpointError");
  assert.equal(e.code, "CRC");
  assert.equal(new CheckpointError("x").code, "FORMAT");
  const named = withFileName(e, "model.ckpt");
  assert.ok(named instanceof CheckpointError);
  assert.equal(named.message, "model.ckpt: zip entry data/0: CRC mismatch");
  assert.equal(named.where, "model.ckpt");
  assert.equal(named.code, "CRC");
});

test("the other classes: codes, names, where and their own fields", () => {
  const sd = new StateDictError("missing keys: fc.weight", ["fc.weight"], [], []);
  assert.deepEqual([sd instanceof WinnowError, sd.name, sd.code, sd.missingKeys], [true, "StateDictError", "checkpoint", ["fc.weight"]]);
  const mm = new CheckpointMismatchError("does not fit", [], ["x"], [], null, null, "a.ckpt");
  assert.deepEqual([mm instanceof WinnowError, mm.name, mm.code, mm.where, mm.unexpectedKeys], [true, "CheckpointMismatchError", "checkpoint", "a.ckpt", ["x"]]);
  const w = new WeightsError("w.pth: not a regular file", { where: "w.pth" });
  assert.deepEqual([w instanceof WinnowError, w.name, w.code, w.where, w.message], [true, "WeightsError", "download", "w.pth", "w.pth: not a regular file"]);
  const d = new DownloadError("HTTP 404", false);
  assert.deepEqual([d instanceof WinnowError, d.name, d.code, d.network], [true, "DownloadError", "download", false]);
  const s = new SelectionInputError("selection_config.strategies[1].input", "no scores");
  assert.deepEqual([s instanceof WinnowError, s.name, s.code, s.where, s.path, s.message],
    [true, "SelectionInputError", "invalid_input", "selection_config.strategies[1].input", "selection_config.strategies[1].input", "selection_config.strategies[1].input: no scores"]);
  const r = new RetryBudgetExhausted("upload a.bin", 3, 1500, new Error("fetch failed"));
  assert.deepEqual([r instanceof WinnowError, r.name, r.code, r.attempts], [true, "RetryBudgetExhausted", "io", 3]);
  assert.equal(r.message, "upload a.bin: gave up after 3 tries in 1.5 s (last: fetch failed)");
  assert.equal(new RetryBudgetExhausted("upload", 1, 0, new ApiError(507, "full")).code, "storage_full");
});
