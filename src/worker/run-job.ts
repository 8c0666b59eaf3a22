// One claimed run, start to end: its inputs, the job process (with the newest epoch checkpoint
// uploaded while it trains), then every artifact and the end state. A run the server ended (409)
// is left as the server set it.
import * as path from "node:path";
import { RetryBudgetExhausted } from "./retry.js";
import { artifactsOfRun } from "./artifacts.js";
import { CheckpointUploader } from "./checkpoint-uploader.js";
import type { Claim } from "./claim.js";
import type { WorkerContext } from "./context.js";
import { prepareJob } from "./job-inputs.js";
import { JobProcess, type JobResult } from "./job-process.js";
import { RunReporter } from "./run-reporter.js";

export async function runJob(ctx: WorkerContext, c: Claim): Promise<void> {
  const report = new RunReporter(ctx, c.run.id);
  const job = await prepareJob(ctx, report, c);
  if (!job) return;
  const proc = new JobProcess(report);
  const checkpoints = new CheckpointUploader(path.join(job.spec.output, "checkpoints"), report, ctx.log);
  let done: JobResult | null;
  try {
    done = await proc.run(job.specFile, { progressMs: ctx.progressMs, stop: ctx.stop, log: ctx.log });
  } finally {
    await checkpoints.stop();
  }
  if (report.ended) return; // the server ended the run (dead-worker policy or cancel); nothing more to say

  await report.update({ state: "UPLOADING_ARTIFACTS" });
  await uploadArtifacts(report, artifactsOfRun(job.spec.output, done?.record ?? null, c.config.worker_config ?? {}));
  if (report.ended) return;
  if (report.fatal) return report.finish("FAILED", report.fatal);
  if (!done) return report.finish("FAILED", `the job process died: ${proc.tail.slice(-5).join(" | ")}`);
  if (done.ok) return report.finish("COMPLETED", "");
  if (done.aborted || report.cancelSeen || ctx.stop?.aborted) return report.finish("ABORTED", report.cancelSeen ? "canceled by the client" : done.message);
  return report.finish("FAILED", done.message);
}

async function uploadArtifacts(report: RunReporter, artifacts: ReturnType<typeof artifactsOfRun>): Promise<void> {
  for (const a of artifacts) {
    if (report.ended) return;
    try {
      await report.upload(a.file, a.name, a.type);
    } catch (e) {
      report.uploadFailed(a.name, e);
      // The server stays unreachable: the other uploads would spend their budgets too.
      if (e instanceof RetryBudgetExhausted) return;
    }
  }
}
