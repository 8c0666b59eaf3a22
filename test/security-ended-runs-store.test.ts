// Ended runs are immutable in the store's SQL itself (SQLite and PostgreSQL): once a run has ended,
// putArtifact and appendLog change nothing, so the CHECKPOINT that checkpoint_run_id reuses cannot
// be swapped whatever the API layer above does. Also the token check of signed URLs.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { Store } from "../src/db/store.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, freshDatabase } from "./helpers/service-backend.js";

for (const backend of BACKENDS) {
  describe(`ended runs in the store on ${backend}`, () => {
    test("an ended run refuses artifacts and log lines; its checkpoint record stays", async () => {
      const db = await openDb(await freshDatabase(backend, tempDir("winnow-ended-store-")));
      await migrate(db);
      const store = new Store(db);
      try {
        const tok = await store.createToken("t");
        const o = tok.owner;
        const ds = await store.createDataset(o, "d", "imgs");
        const cfg = await store.createConfig(o, { worker_config: {}, selection_config: null, lightly_config: {} });
        await store.schedule(o, ds.id, cfg.id, "MID", []);
        const w = await store.registerWorker(o, "w", []);
        const { run } = (await store.claim(o, w))!;
        const ckpt = { name: "checkpoint.ckpt", type: "CHECKPOINT" as const, size: 3, sha256: "a".repeat(64), storageKey: `${o}/${run.id}/checkpoint.ckpt.1` };
        const first = await store.putArtifact(o, run.id, ckpt);
        assert.ok(first && first.replacedKey === null);
        // Replacing while the run goes on works and names the key it replaced.
        const second = await store.putArtifact(o, run.id, { ...ckpt, sha256: "b".repeat(64), storageKey: `${o}/${run.id}/checkpoint.ckpt.2` });
        assert.equal(second?.replacedKey, ckpt.storageKey);
        assert.equal(second?.data.id, first.data.id, "the record keeps its id (signed URLs follow it)");
        assert.equal(await store.appendLog(o, run.id, ["one", "two"]), true);
        assert.equal(await store.appendLog(o, run.id, ["three"]), true);
        assert.deepEqual((await store.readLog(run.id)).map((l) => [l.seq, l.line]), [[0, "one"], [1, "two"], [2, "three"]]);

        assert.equal(await store.updateRun(o, run.id, w.id, { state: "CRASHED", message: "gone" }), true);
        assert.equal(await store.putArtifact(o, run.id, { ...ckpt, sha256: "c".repeat(64), storageKey: `${o}/${run.id}/checkpoint.ckpt.3` }), null);
        assert.equal(await store.putArtifact(o, run.id, { ...ckpt, name: "new.txt", storageKey: `${o}/${run.id}/new.txt.4` }), null);
        assert.equal(await store.appendLog(o, run.id, ["after the end"]), false);
        assert.equal(await store.appendLog(o, run.id, []), false);
        const kept = (await store.getRun(o, run.id))!;
        assert.deepEqual(kept.artifacts.map((a) => [a.file_name, a.sha256]), [["checkpoint.ckpt", "b".repeat(64)]]);
        assert.equal((await store.readLog(run.id)).length, 3);
        // Another owner's run id is refused the same way (it does not exist for them).
        assert.equal(await store.appendLog("someone-else", run.id, ["x"]), false);

        // Signed URLs: the token that made one must still be valid.
        assert.equal(await store.tokenActive(tok.id), true);
        await store.revokeToken(tok.id);
        assert.equal(await store.tokenActive(tok.id), false);
        assert.equal(await store.tokenActive("0".repeat(24)), false);
      } finally {
        await db.close();
      }
    });
  });
}
