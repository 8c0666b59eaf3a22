// The worker's side of a job process: live progress goes to the server at most once per period and
// only the newest; a stage with no progress still sends an empty update now and then, whose answer
// (cancel_requested) lets Abort stop it. A stand-in child (helpers/fake-job.mjs) speaks the IPC.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { JobProcess } from "../src/worker/job-process.js";
import type { RunReporter, RunUpdate } from "../src/worker/run-reporter.js";

test("progress is rate-limited to the newest per period; a quiet stage still asks, and a cancel stops it", async () => {
  const progressMs = 100;
  const updates: { at: number; body: RunUpdate }[] = [];
  let abortedAt = 0;
  // The reporter as JobProcess uses it; an empty update is answered with cancel_requested (as the
  // server would once the user pressed Abort), so the reporter asks the child to stop.
  const report = {
    runId: "r1",
    child: null as RunReporter["child"],
    update(body: RunUpdate): Promise<unknown> {
      updates.push({ at: performance.now(), body });
      // (Empty updates before that, while the child starts, are answered "not canceled".)
      if (Object.keys(body).length === 0 && !abortedAt && updates.some((u) => u.body.state === "SAMPLING")) {
        abortedAt = performance.now();
        if (report.child?.connected) report.child.send({ type: "abort" });
      }
      return Promise.resolve();
    },
    logLines: (): Promise<unknown> => Promise.resolve(),
  };
  const proc = new JobProcess(report as unknown as RunReporter);
  const t0 = performance.now();
  const done = await proc.run("unused-spec.json", { progressMs, log: () => {}, script: path.resolve("test/helpers/fake-job.mjs") });
  assert.ok(done && done.aborted, `the job ended aborted: ${JSON.stringify(done)}`);

  const progress = updates.filter((u) => u.body.progress && "fraction" in u.body.progress);
  const steps = progress.map((u) => (u.body.progress as { step: number }).step);
  // 50 messages over about 1 s (longer on a loaded machine): far fewer updates, in order.
  const span = progress.at(-1)!.at - t0;
  assert.ok(progress.length >= 2 && progress.length <= Math.ceil(span / progressMs) + 1, `${progress.length} progress updates in ${span.toFixed(0)} ms`);
  assert.ok(progress.length < 50 / 2, `${progress.length} updates for 50 progress messages`);
  assert.deepEqual([...steps].sort((a, b) => a - b), steps, "newest only, in order");
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.at - progress[i - 1]!.at >= progressMs * 0.8, "at most one per period");
  // The states went out as they came (TRAINING, then SAMPLING's stage marker).
  assert.deepEqual(updates.filter((u) => u.body.state).map((u) => u.body.state), ["TRAINING", "SAMPLING"]);
  // The quiet stage asked within a few periods, and the child stopped on the cancel.
  const sampling = updates.find((u) => u.body.state === "SAMPLING")!;
  const quietAsk = updates.find((u) => u.at > sampling.at && Object.keys(u.body).length === 0)!;
  assert.ok(quietAsk.at - sampling.at < 20 * progressMs, `asked ${(quietAsk.at - sampling.at).toFixed(0)} ms after the last progress`);
  assert.match(done.message, /^aborted \d+ ms into the quiet stage$/);
});
