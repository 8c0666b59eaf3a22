// One rule for the datapool's checkpoint, locally and on the service: the checkpoint trained by the
// newest COMPLETED run that counts for the datapool; CRASHED/ABORTED runs' checkpoints and runs that
// only used a checkpoint do not count.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { run, RunError } from "../src/run/index.js";
import { openDb, type Db } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import type { RunState } from "../src/db/records.js";
import { tempDir } from "./helpers/data-images.js";
import { privateHome, tinyFolder, tinyConfig } from "./helpers/run-setup.js";
import { BACKENDS, freshDatabase } from "./helpers/service-backend.js";

test("winnow run: a datapool run takes the newest COMPLETED datapool run's trained checkpoint", async () => {
  privateHome("winnow-dprule-home-");
  const { root } = await tinyFolder(16, "winnow-dprule-img-");
  const out = tempDir("winnow-dprule-out-");
  const pool = (wc: Record<string, unknown>) => tinyConfig({ worker_config: { use_datapool: true, ...wc }, selection_config: { n_samples: 2 }, lightly_config: { trainer: { gpus: 0, max_epochs: 2 } } });
  const a = await run({ input: root, config: pool({ enable_training: true }), output: path.join(out, "a"), stream: null });
  // Newer, with a checkpoint, but ABORTED: never the datapool's.
  const ctl = new AbortController();
  const stream = { write: (s: string) => ((s.includes("epoch 1/2 done") && ctl.abort(), true)) };
  const x = await run({ input: root, config: pool({ enable_training: true }), output: path.join(out, "x"), stream, signal: ctl.signal }).then(() => null, (e: RunError) => e);
  assert.equal(x?.record.state, "ABORTED");
  assert.ok(x!.record.checkpoint);
  // Newer and COMPLETED, but it only used a's checkpoint (trained nothing).
  const b = await run({ input: root, config: pool({}), output: path.join(out, "b"), stream: null });
  assert.equal(b.record.weights, `datapool:${a.record.id}`);
  const c = await run({ input: root, config: pool({}), output: path.join(out, "c"), stream: null });
  assert.equal(c.record.weights, `datapool:${a.record.id}`);
  assert.equal(c.record.checkpoint, a.record.checkpoint);
});

for (const backend of BACKENDS) {
  describe(`service (${backend})`, () => {
    let db: Db | null = null;
    after(async () => db?.close());

    test("Store.newestDatasetCheckpoint follows the same rule", async () => {
      db = await openDb(await freshDatabase(backend, tempDir("winnow-dprule-db-")));
      await migrate(db);
      let t = 1_000;
      const store = new Store(db, () => (t += 1000));
      const owner = "o1";
      const ds = await store.createDataset(owner, "d", "imgs");
      const worker = await store.registerWorker(owner, "w", []);
      const cfg = await store.createConfig(owner, { worker_config: { use_datapool: true }, selection_config: null, lightly_config: {} });
      /** A finished run of the dataset with these artifacts, in the order made. */
      const finished = async (state: RunState, types: Array<"CHECKPOINT" | "DATAPOOL_FILENAMES">): Promise<string> => {
        await store.schedule(owner, ds.id, cfg.id, "MID", []);
        const { run: r } = (await store.claim(owner, worker))!;
        for (const type of types) await store.putArtifact(owner, r.id, { name: type.toLowerCase(), type, size: 1, sha256: "00", storageKey: `k/${r.id}/${type}` });
        assert.ok(await store.updateRun(owner, r.id, worker.id, { state }));
        return r.id;
      };
      const a = await finished("COMPLETED", ["CHECKPOINT", "DATAPOOL_FILENAMES"]);
      await finished("CRASHED", ["CHECKPOINT"]);
      await finished("ABORTED", ["CHECKPOINT", "DATAPOOL_FILENAMES"]);
      await finished("COMPLETED", ["DATAPOOL_FILENAMES"]); // used a checkpoint, trained none
      await finished("COMPLETED", ["CHECKPOINT"]); // not a datapool run (enable_datapool_update false)
      const got = await store.newestDatasetCheckpoint(owner, ds.id, "none");
      assert.equal(got?.run.id, a);
      assert.equal(got?.artifact.type, "CHECKPOINT");
      const newer = await finished("COMPLETED", ["DATAPOOL_FILENAMES", "CHECKPOINT"]);
      assert.equal((await store.newestDatasetCheckpoint(owner, ds.id, "none"))?.run.id, newer);
      assert.equal((await store.newestDatasetCheckpoint(owner, ds.id, newer))?.run.id, a, "the asking run itself is left out");
    });
  });
}
