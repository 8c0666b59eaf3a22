// Progress output: a bar redrawn in place on a terminal, rate-limited plain lines elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressPrinter, formatDuration, formatProgressLine, formatEpochLine, type TrainProgress } from "../src/util/progress.js";

const p = (over: Partial<TrainProgress> = {}): TrainProgress => ({
  epoch: 1, epochs: 10, step: 5, stepsPerEpoch: 40, globalStep: 45, loss: 3.41213, epochLoss: 3.5012, imagesPerSecond: 812.4, etaSeconds: 83, ...over,
});
const sink = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => out.push(s), isTTY, columns: 120 } };
};

test("durations and lines", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(83), "1m23s");
  assert.equal(formatDuration(3725), "1h02m05s");
  assert.equal(formatDuration(null), "?");
  assert.equal(formatProgressLine(p()), "epoch 2/10 step 5/40 loss 3.4121 (epoch 3.5012) 812 img/s ETA 1m23s");
  assert.equal(formatProgressLine(p({ imagesPerSecond: 12.34, etaSeconds: null })), "epoch 2/10 step 5/40 loss 3.4121 (epoch 3.5012) 12.3 img/s ETA ?");
  assert.equal(
    formatEpochLine({ epoch: 1, epochs: 10, loss: 3.5012, steps: 40, imagesPerSecond: 812, seconds: 12, checkpoint: "/out/last.ckpt" }),
    "epoch 2/10 done: loss 3.5012, 40 steps, 812 img/s, 12s → /out/last.ckpt",
  );
});

test("on a TTY: one line redrawn with a bar; messages print above it", () => {
  const { out, stream } = sink(true);
  const pr = new ProgressPrinter({ stream });
  pr.update(p({ epoch: 0, step: 20 }));
  pr.update(p({ epoch: 4, step: 40 }));
  pr.line("note");
  pr.done();
  assert.match(out[0]!, /^\r\[#{2}\.{28}\] epoch 1\/10 step 20\/40 .*\x1b\[K$/);
  assert.match(out[1]!, /^\r\[#{15}\.{15}\] epoch 5\/10 step 40\/40/);
  assert.equal(out[2], "\r\x1b[Knote\n");
  assert.equal(out.length, 3, "done() after a message adds nothing: the bar line was already ended");
});

test("elsewhere: plain lines at most every intervalMs, epoch lines always", () => {
  const { out, stream } = sink(false);
  let now = 0;
  const pr = new ProgressPrinter({ stream, intervalMs: 1000, now: () => now });
  pr.update(p({ step: 1 }));
  now = 500;
  pr.update(p({ step: 2 }));
  now = 1200;
  pr.update(p({ step: 3 }));
  pr.epoch({ epoch: 1, epochs: 10, loss: 3.5, steps: 40, imagesPerSecond: 800, seconds: 12, checkpoint: "c" });
  pr.done();
  assert.deepEqual(out.map((l) => l.replace(/ loss.*\n$/, "").replace(/\n$/, "")), ["epoch 2/10 step 1/40", "epoch 2/10 step 3/40", "epoch 2/10 done:"]);
  assert.ok(out.every((l) => l.endsWith("\n") && !l.includes("\r")));
});
