// Lightly's worker_config.shutdown_when_job_finished: the worker exits after a run when its flag
// (--shutdown-when-job-finished) is set, or when the run's own config asks for it.
import type { Claim } from "./claim.js";

/** Why the worker must exit after this run (for the log line), or null to go on claiming. */
export function shutdownReason(flag: boolean | undefined, claim: Claim): string | null {
  const fromRun = (claim.config.worker_config as { shutdown_when_job_finished?: unknown } | null | undefined)?.shutdown_when_job_finished === true;
  if (fromRun) return "worker_config.shutdown_when_job_finished";
  return flag ? "--shutdown-when-job-finished" : null;
}
