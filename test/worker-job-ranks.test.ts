// The pieces of a service job over several ranks (src/worker/job-ranks.ts): how many ranks a job's
// config asks for and their threads, and the launcher starting only ranks 1..N-1 (the job process
// is rank 0) and telling the caller at once when one fails. The whole job: service-worker-ranks.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { launchRanks } from "../src/distributed/index.js";
import { jobRankPlan } from "../src/worker/job-ranks.js";

const trainer = (t: Record<string, unknown>, wc: Record<string, unknown> = {}) => ({ worker_config: wc, selection_config: { n_samples: 2 }, lightly_config: { trainer: { gpus: 0, ...t } } });

test("a job's ranks: trainer.num_processes (threads = the worker's cores / ranks, unless num_threads); one rank → none", async () => {
  const two = await jobRankPlan(trainer({ num_processes: 2 }), {}, 16);
  assert.deepEqual(two && [two.nprocPerNode, two.onGpus, two.threadsPerRank, two.masterAddr], [2, false, 8, "127.0.0.1"]);
  const fixed = await jobRankPlan(trainer({ num_processes: 4 }, { num_threads: 1 }), {}, 16);
  assert.deepEqual(fixed && [fixed.nprocPerNode, fixed.threadsPerRank], [4, 1]);
  assert.equal(await jobRankPlan(trainer({ num_processes: 1 }), {}, 16), null);
  // Another tenant's config may not start more CPU rank processes than the worker has cores.
  assert.equal((await jobRankPlan(trainer({ num_processes: 16 }), {}, 16))?.nprocPerNode, 16);
  await assert.rejects(jobRankPlan(trainer({ num_processes: 17 }), {}, 16), /trainer\.num_processes 17: this worker has 16 CPU core\(s\); a job runs at most one CPU rank per core/);
  assert.equal(await jobRankPlan(trainer({}), {}, 16), null);
  assert.equal(await jobRankPlan({ selection_config: { n_samples: 2 }, lightly_config: { trainer: { num_processes: "two" } } }, {}, 16), null, "a bad config is run()'s to report");
  const saved = process.env.WORLD_SIZE;
  process.env.WORLD_SIZE = "8"; // the worker's own environment is not a rendezvous
  try {
    assert.equal((await jobRankPlan(trainer({ num_processes: 2 }), {}, 16))?.nprocPerNode, 2);
  } finally {
    if (saved === undefined) delete process.env.WORLD_SIZE;
    else process.env.WORLD_SIZE = saved;
  }
});

test("launcher with firstLocalRank 1: starts ranks 1..N-1 only; onFailure is called once, at the first failure", { timeout: 30_000 }, async () => {
  const failures: number[] = [];
  const r = await launchRanks({
    nprocPerNode: 3, firstLocalRank: 1, masterAddr: "127.0.0.1", masterPort: 29517, graceMs: 300, notify: null, stdio: "pipe",
    command: [process.execPath, "-e", "setTimeout(() => process.exit(process.env.RANK === '1' ? 3 : 0), process.env.RANK === '1' ? 100 : 60000)"],
    onFailure: (e) => failures.push(e.rank),
  });
  assert.deepEqual(r.exits.map((e) => [e.rank, e.localRank, e.code, e.killed]), [[1, 1, 3, false], [2, 2, null, true]]);
  assert.deepEqual(failures, [1]);
  assert.throws(() => launchRanks({ nprocPerNode: 2, firstLocalRank: 2, masterAddr: "127.0.0.1", masterPort: 1, command: ["true"] }), /firstLocalRank must be an integer in 0\.\.1/);
});
