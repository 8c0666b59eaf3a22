// The automatic resume's records on both databases: the dead-worker reaper queues a CRASHED run with
// a checkpoint again (new scheduled run naming it, attempt counted) while under max_retries, and not
// without a checkpoint, with max_retries 0, or past the limit.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { openDb, type Db } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, freshDatabase } from "./helpers/service-backend.js";

for (const backend of BACKENDS) {
  describe(`automatic resume records (${backend})`, () => {
    let db: Db | null = null;
    after(async () => db?.close());

    test("re-queue on CRASHED with a checkpoint, up to max_retries", async () => {
      db = await openDb(await freshDatabase(backend, tempDir("winnow-ar-db-")));
      await migrate(db);
      let now = 1_000_000;
      const store = new Store(db, () => now);
      const owner = "o1";
      const ds = await store.createDataset(owner, "d", "imgs");
      const cfgOf = async (wc: object) => (await store.createConfig(owner, { worker_config: wc, selection_config: null, lightly_config: {} })).id;
      /** Claims the OPEN scheduled run on a fresh worker, optionally uploads a checkpoint, then lets the worker die. */
      const crash = async (withCheckpoint: boolean) => {
        const w = await store.registerWorker(owner, `w${now}`, ["gpu"]);
        const got = (await store.claim(owner, w))!;
        if (withCheckpoint) await store.putArtifact(owner, got.run.id, { name: "checkpoint.ckpt", type: "CHECKPOINT", size: 1, sha256: "00", storageKey: `k/${got.run.id}` });
        now += 10_000;
        assert.deepEqual(await store.reapDeadWorkers(5_000), [got.run.id]);
        return { scheduled: got.scheduled, run: (await store.getRun(owner, got.run.id))! };
      };
      const open = async () => store.listScheduled(owner, { state: "OPEN" });

      const s = await store.schedule(owner, ds.id, await cfgOf({ max_retries: 2 }), "HIGH", ["gpu"]);
      const c1 = await crash(true);
      assert.equal(c1.run.state, "CRASHED");
      const [q1] = await open();
      assert.ok(q1, "queued again");
      assert.match(c1.run.message, new RegExp(`resumed automatically as scheduled run ${q1.id} \\(retry 1 of 2\\)`));
      assert.deepEqual([q1.priority, q1.runs_on, q1.config_id, q1.dataset_id], ["HIGH", ["gpu"], s.config_id, ds.id]);
      assert.equal((await store.getScheduled(owner, s.id))!.state, "DONE");
      assert.deepEqual(await store.resumeOf(owner, q1.id), { runId: c1.run.id, attempt: 1 });
      assert.equal(await store.resumeOf(owner, s.id), null);
      const c2 = await crash(true);
      const [q2] = await open();
      assert.deepEqual(await store.resumeOf(owner, q2!.id), { runId: c2.run.id, attempt: 2 });
      const c3 = await crash(true);
      assert.match(c3.run.message, /not resumed again: worker_config\.max_retries \(2\) reached/);
      assert.deepEqual(await open(), []);

      await store.schedule(owner, ds.id, await cfgOf({ max_retries: 2 }), "MID", ["gpu"]);
      const noCkpt = await crash(false);
      assert.match(noCkpt.run.message, /not resumed: it uploaded no checkpoint/);
      assert.deepEqual(await open(), []);

      await store.schedule(owner, ds.id, await cfgOf({}), "MID", ["gpu"]);
      const off = await crash(true);
      assert.match(off.run.message, /checkpoint_run_id=\w+ continues from its last checkpoint$/);
      assert.deepEqual(await open(), []);
    });
  });
}
