// What the worker sends for a run: messages and lines cut with the marker (never a lone surrogate),
// log batches within the server's bounds, and which failures are retried (a 507 is not).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError } from "../src/client/errors.js";
import { truncateText, MAX_TEXT_CHARS } from "../src/util/truncate-text.js";
import { logBatches, MAX_BATCH_BYTES, MAX_LINES_PER_BATCH } from "../src/worker/log-batches.js";
import { isStorageFull, isTransientError } from "../src/worker/retry.js";

test("truncateText keeps short text, cuts long text to the limit with the original length", () => {
  assert.equal(truncateText("abc"), "abc");
  assert.equal(truncateText("x".repeat(MAX_TEXT_CHARS)), "x".repeat(MAX_TEXT_CHARS));
  const cut = truncateText("y".repeat(20_000));
  assert.equal(cut.length, MAX_TEXT_CHARS);
  assert.ok(cut.endsWith("… [truncated, 20000 characters]"));
  // An emoji (two UTF-16 units) across the cut is dropped whole: 60 units, 50 kept with the
  // 28-unit marker leaves 22, and unit 21 is the emoji's first half.
  const s = "a".repeat(21) + "😀" + "b".repeat(37);
  assert.equal(s.length, 60);
  assert.equal(truncateText(s, 50), `${"a".repeat(21)}… [truncated, 60 characters]`);
});

test("logBatches: lines cut, at most MAX_LINES_PER_BATCH lines and about MAX_BATCH_BYTES per batch, order kept", () => {
  const lines = Array.from({ length: 1203 }, (_, i) => `line ${i}`);
  const b = logBatches(lines);
  assert.deepEqual(b.map((x) => x.length), [MAX_LINES_PER_BATCH, MAX_LINES_PER_BATCH, 203]);
  assert.deepEqual(b.flat(), lines);
  const long = logBatches(Array.from({ length: 60 }, () => "z".repeat(50_000)));
  for (const batch of long) {
    assert.ok(Buffer.byteLength(JSON.stringify({ lines: batch })) <= MAX_BATCH_BYTES + 100);
    assert.ok(batch.every((l) => l.length === MAX_TEXT_CHARS));
  }
  assert.equal(long.flat().length, 60);
});

test("a full storage (507) is final; other 5xx and the network are retried", () => {
  assert.equal(isTransientError(new ApiError(507, "artifact storage is full (ENOSPC)")), false);
  assert.equal(isStorageFull(new ApiError(507, "full")), true);
  assert.equal(isTransientError(new ApiError(503, "busy")), true);
  assert.equal(isStorageFull(new ApiError(500, "internal")), false);
});
