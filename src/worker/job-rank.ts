// A rank other than 0 of a service job's run (started by job-ranks.ts with torchrun's environment):
// runOtherRank() with the job's config, input, decode cache and policy. It keeps nothing: its
// output goes to the job (the run's log), its scratch folder (TMPDIR, in the job's folder) is removed.
import * as fs from "node:fs";
import { resolveRendezvous } from "../distributed/env.js";
import type { RankSpec } from "./job-ranks.js";

async function main(spec: RankSpec): Promise<void> {
  process.env.WINNOW_HOME = spec.home;
  const rendezvous = resolveRendezvous({});
  const { runOtherRank } = await import("../run/ranks.js");
  await runOtherRank({ ...spec.opts, stream: process.stderr }, {
    rendezvous, device: spec.onGpus ? `cuda:${rendezvous.localRank}` : "cpu", threads: spec.threads, timeoutMs: spec.timeoutMs,
  });
}

// Ctrl-C in the worker's terminal reaches every process of the group: rank 0 (the job) decides how
// the run ends (ABORTED after its step, which needs this rank's collectives); this rank then fails
// at its next collective and exits.
process.on("SIGINT", () => {});

const specFile = process.argv[2];
if (!specFile) {
  process.stderr.write("usage: job-rank.ts <ranks-spec.json> (started by a worker's job)\n");
  process.exit(2);
}
main(JSON.parse(fs.readFileSync(specFile, "utf8")) as RankSpec).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`failed: ${(e as Error)?.message ?? e}\n`);
    process.exit(1);
  },
);
