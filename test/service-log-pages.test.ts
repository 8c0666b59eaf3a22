// A run's log has no size bound, so it is read in pages (GET /v1/runs/{id}/log pages with `after`)
// and the timeline / live-loss routes read only the lines they parse (SQLite and PostgreSQL).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { openDb } from "../src/db/driver.js";
import { migrate } from "../src/db/migrations.js";
import { LOG_PAGE, Store } from "../src/db/store.js";
import { tempDir } from "./helpers/data-images.js";
import { BACKENDS, freshDatabase } from "./helpers/service-backend.js";

for (const backend of BACKENDS) {
  describe(`log pages on ${backend}`, () => {
    test("readLog returns at most a page, paging on with `after`; `contains` filters in SQL, any case", async () => {
      const db = await openDb(await freshDatabase(backend, tempDir("winnow-log-pages-")));
      await migrate(db);
      const store = new Store(db);
      try {
        const o = (await store.createToken("t")).owner;
        const ds = await store.createDataset(o, "d", "imgs");
        const cfg = await store.createConfig(o, { worker_config: {}, selection_config: null, lightly_config: {} });
        await store.schedule(o, ds.id, cfg.id, "MID", []);
        const w = await store.registerWorker(o, "w", []);
        const { run } = (await store.claim(o, w))!;
        const total = LOG_PAGE + 250;
        const lines = Array.from({ length: total }, (_, i) => (i % 1000 === 999 ? `Epoch ${i}/x done: loss 1` : `line ${i}`));
        for (let i = 0; i < total; i += 1000) assert.equal(await store.appendLog(o, run.id, lines.slice(i, i + 1000)), true);

        const page = await store.readLog(run.id);
        assert.equal(page.length, LOG_PAGE);
        assert.deepEqual([page[0]!.seq, page.at(-1)!.seq], [0, LOG_PAGE - 1]);
        const rest = await store.readLog(run.id, page.at(-1)!.seq);
        assert.deepEqual(rest.map((l) => l.line), lines.slice(LOG_PAGE));
        assert.equal((await store.readLog(run.id, -1, { limit: 7 })).length, 7);
        const epochs = await store.readLog(run.id, -1, { contains: "epoch " });
        assert.deepEqual(epochs.map((l) => l.seq), Array.from({ length: Math.floor(total / 1000) }, (_, k) => k * 1000 + 999));
      } finally {
        await db.close();
      }
    });
  });
}
