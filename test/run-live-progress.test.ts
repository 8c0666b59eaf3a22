// The structured progress the worker sends and the web UI draws: the fraction of the stage, 1-based
// epoch and step, a non-finite loss left out (JSON would carry null), rate and ETA of counted stages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { countProgress, trainingProgress } from "../src/run/live-progress.js";

test("training progress: fraction over all steps, epoch 1-based, loss kept only when finite", () => {
  const step = { epochs: 4, stepsPerEpoch: 10, loss: 1.25, epochLoss: 1.5, imagesPerSecond: 80, etaSeconds: 12 };
  // The trainer's epoch is 0-based and its step already counts the finished step (ProgressCallback).
  const p = trainingProgress("TRAINING", { ...step, epoch: 1, step: 5 });
  assert.deepEqual(p, {
    stage: "TRAINING", what: "training", fraction: 15 / 40, epoch: 2, epochs: 4, step: 5, steps: 10,
    loss: 1.25, epoch_loss: 1.5, images_per_second: 80, eta_seconds: 12,
  });
  assert.equal(trainingProgress("TRAINING", { ...step, epoch: 3, step: 10 }).fraction, 1);
  const nan = trainingProgress("TRAINING", { ...step, epoch: 0, step: 1, loss: NaN, epochLoss: Infinity });
  assert.equal(nan.loss, undefined);
  assert.equal(nan.epoch_loss, undefined);
  assert.equal(trainingProgress("TRAINING", { ...step, epochs: 0, epoch: 0, step: 0 }).fraction, 0);
});

test("counted progress: rate from the time since the stage began, ETA of the rest, none before a rate", () => {
  const p = countProgress("EMBEDDING", "embedding", 1000, 30, 120, 4000);
  assert.deepEqual(p, { stage: "EMBEDDING", what: "embedding", fraction: 0.25, done: 30, total: 120, images_per_second: 10, eta_seconds: 9 });
  const start = countProgress("EMBEDDING", "embedding", 1000, 0, 120, 1000);
  assert.equal(start.images_per_second, 0);
  assert.equal(start.eta_seconds, null);
  assert.equal(countProgress("INITIALIZING", "decoding", 0, 0, 0, 5).fraction, 1, "nothing to count is done");
});
